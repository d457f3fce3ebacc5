"""The ``alerts`` config section: metric rules and webhooks, validated once at load.

Everything a rule needs is checked here, before anything starts (durations, comparison,
label matcher regexes, the message template's placeholders), so a typo is refused with
file:line instead of surfacing at the first evaluation. The metric itself need not exist
at load: kinds register their metrics when they start, and a rule over a metric with no
series simply never fires.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import Literal, Optional

from runtime.config import Secret, opt

__all__ = ["AlertsConfig", "RuleConfig", "WebhookConfig", "parse_duration", "Matcher",
           "SEVERITIES"]

SEVERITIES = ("info", "warning", "critical")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_METRIC = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_BASE_FIELDS = ("rule", "value", "threshold", "op", "metric", "labels", "severity")


def parse_duration(text: str) -> float:
    """Seconds from ``30``, ``2.5``, ``90s``, ``5m``, ``1h30m``, ``250ms``, ``1d``."""
    s = str(text).strip()
    try:
        value = float(s)
    except ValueError:
        pos, value = 0, 0.0
        for m in _DURATION.finditer(s):
            if m.start() != pos:
                break
            value += float(m.group(1)) * _UNITS[m.group(2)]
            pos = m.end()
        if pos != len(s) or not s:
            raise ValueError(f"invalid duration {text!r}; expected seconds (e.g. 30) or "
                             f"a duration like 90s, 5m, 1h30m, 250ms") from None
    if value < 0 or value != value or value == float("inf"):
        raise ValueError(f"invalid duration {text!r}: must be a finite number >= 0")
    return value


def _check_duration(text: str) -> None:
    parse_duration(text)


@dataclass(frozen=True)
class Matcher:
    """One label matcher, Prometheus style: ``value`` (=), ``!=v``, ``=~re``, ``!~re``."""

    label: str
    op: str
    value: str

    @classmethod
    def parse(cls, label: str, text: str) -> Matcher:
        for op in ("=~", "!~", "!="):
            if text.startswith(op):
                value = text[len(op):]
                if "~" in op:
                    try:
                        re.compile(value)
                    except re.error as exc:
                        raise ValueError(f"labels.{label}: invalid regex {value!r}: {exc}") \
                            from None
                return cls(label, op, value)
        return cls(label, "=", text)

    def matches(self, labels: dict[str, str]) -> bool:
        v = labels.get(self.label, "")
        if self.op == "=":
            return v == self.value
        if self.op == "!=":
            return v != self.value
        hit = re.fullmatch(self.value, v) is not None
        return hit if self.op == "=~" else not hit


@dataclass(frozen=True)
class RuleConfig:
    metric: str = opt(pattern=_METRIC, doc="a sample name of the node's registry, e.g. "
                                           "orbital_actor_restarts_total")
    labels: dict[str, str] = opt(factory=dict, pattern=_LABEL,
                                 doc="matchers: 'v' (=), '!=v', '=~regex', '!~regex'")
    aggregate: Literal["sum", "max", "min", "count", "rate", "increase"] = opt(
        "sum", doc="over matching series; rate (per second) and increase: counters, "
                   "over `window`")
    window: str = opt("5m", validate=_check_duration, doc="for rate and increase")
    by: tuple[str, ...] = opt(factory=tuple, doc="labels to group by: one alert per group")
    op: Literal[">", ">=", "<", "<=", "==", "!="] = opt(">", doc="comparison")
    threshold: float = opt(0.0)
    hold_for: str = opt("0s", validate=_check_duration,
                        doc="Prometheus' `for`: the condition must hold this long")
    severity: Literal["info", "warning", "critical"] = opt("warning")
    message: str = opt("{rule}: {metric} {aggregate} is {value:g} ({op} {threshold:g})",
                       doc="placeholders: rule value threshold op metric labels severity "
                           "aggregate window hold_for and the `by` labels")
    enabled: bool = opt(True)

    def check(self) -> None:
        for name in self.by:
            if not re.fullmatch(_LABEL, name):
                raise ValueError(f"by: {name!r} is not a label name")
        for label, text in self.labels.items():
            Matcher.parse(label, text)
        if self.aggregate in ("rate", "increase") and self.window_s <= 0:
            raise ValueError("window must be > 0 for rate and increase")
        self.render({"rule": "r", "value": 1.5, "threshold": self.threshold, "op": self.op,
                     "metric": self.metric, "labels": "", "severity": self.severity,
                     "aggregate": self.aggregate, "window": self.window,
                     "hold_for": self.hold_for, **{b: "x" for b in self.by}}, strict=True)

    @property
    def window_s(self) -> float:
        return parse_duration(self.window)

    @property
    def hold_s(self) -> float:
        return parse_duration(self.hold_for)

    @property
    def matchers(self) -> tuple[Matcher, ...]:
        return tuple(Matcher.parse(k, v) for k, v in sorted(self.labels.items()))

    def render(self, values: dict, strict: bool = False) -> str:
        """The message for ``values``; at load (``strict``) a bad template fails."""
        allowed = {*_BASE_FIELDS, "aggregate", "window", "hold_for", *self.by}
        try:
            for _, name, _, _ in string.Formatter().parse(self.message):
                root = re.split(r"[.\[]", name, maxsplit=1)[0] if name is not None else None
                if root is not None and root not in allowed:
                    raise ValueError(f"unknown placeholder {{{name}}}; "
                                     f"allowed: {', '.join(sorted(allowed))}")
            return self.message.format_map(values)
        except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
            if strict:
                raise ValueError(f"message: cannot render {self.message!r}: {exc}") from None
            return f"{self.message} (template error: {exc})"


@dataclass(frozen=True)
class WebhookConfig:
    url: Secret = opt(pattern=r"https?://\S+", doc="POSTed a JSON body per transition; "
                                                   "may carry a token: never logged")
    timeout: float = opt(5.0, min=0.1, max=120)
    max_attempts: int = opt(5, min=1, max=100)
    backoff: str = opt("1s", validate=_check_duration, doc="first retry delay, doubled "
                                                           "up to 5m")


@dataclass(frozen=True)
class AlertsConfig:
    interval: str = opt("15s", validate=_check_duration, doc="rule evaluation period")
    rules: dict[str, RuleConfig] = opt(factory=dict, pattern=r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
    webhooks: dict[str, WebhookConfig] = opt(factory=dict, pattern=r"info|warning|critical",
                                             doc="per severity")
    history: int = opt(10000, min=1, max=10_000_000,
                       doc="transitions kept per node in alert_transition")
    max_resolved: int = opt(1000, min=0, max=100_000, doc="resolved alerts ListAlerts shows")
    webhook_queue: int = opt(1000, min=1, max=1_000_000)

    def check(self) -> None:
        if self.interval_s <= 0:
            raise ValueError("interval must be > 0")

    @property
    def interval_s(self) -> float:
        return parse_duration(self.interval)

    def webhook(self, severity: str) -> Optional[WebhookConfig]:
        return self.webhooks.get(severity)
