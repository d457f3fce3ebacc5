"""The configured alert rules as a Prometheus rule file, pure: config in, text out.

Why: an operator who runs Prometheus and Alertmanager wants the node's alerts there too,
next to the rest of the fleet, without writing them twice. Each in-process rule kind has a
PromQL equivalent over the same samples the node serves on ``/metrics`` (the in-process
rules read the node's own registry, so a ``metric`` is already a sample name Prometheus
scrapes):

- ``sum|max|min|count`` -> ``sum by (by) (metric{matchers})``;
- ``rate|increase`` -> ``sum by (by) (rate|increase(metric{matchers}[window]))``;
- ``op threshold`` -> the PromQL comparison (it filters, as a condition must);
- ``hold_for`` -> ``for``; ``alerts.interval`` -> the group's ``interval``;
- ``severity`` -> the label ``severity``; ``message`` -> the annotation ``summary``
  (placeholders become Go template actions: ``{value}`` -> ``$value``, a ``by`` label ->
  ``$labels.<name>``; constants are rendered here).

Two known differences, by construction, are written into each affected rule's
``description``: Prometheus extrapolates ``rate``/``increase`` to the window's edges and
counts nothing for a series' first sample (the in-process rule counts exact increments and
a series that appears later from 0); and its regex dialect is RE2, not Python's. A regex
that RE2 cannot run (lookaround, backreferences) makes the rule inexpressible: it is
written as a comment saying why, never dropped silently; so is a disabled rule.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from typing import Any

import yaml

from ._config import AlertsConfig, Matcher, RuleConfig, parse_duration

__all__ = ["PromRule", "prometheus_duration", "promql_expr", "to_prometheus",
           "prometheus_rule_file"]

GROUP = "orbital"
# Python regex constructs RE2 (Prometheus) does not have.
_NOT_RE2 = (("(?=", "lookahead"), ("(?!", "negative lookahead"), ("(?<=", "lookbehind"),
            ("(?<!", "negative lookbehind"), ("(?P=", "named backreference"),
            ("(?>", "atomic group"))
_BACKREF = re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]")
_UNITS = (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1))
_CONSTANT = ("rule", "threshold", "op", "metric", "aggregate", "window", "hold_for",
             "severity")
_PRINTF_SPEC = re.compile(r"[-+ 0#]*\d*(?:\.\d+)?[eEfFgG]?")


@dataclass(frozen=True)
class PromRule:
    """One rule's translation: ``rule`` is the Prometheus alerting rule (a mapping as the
    rule file holds it), or ``None`` with ``reason`` when it is not exported."""

    name: str
    rule: dict[str, Any] | None
    reason: str = ""


def prometheus_duration(seconds: float) -> str:
    """``5m``, ``1h30m``, ``250ms``: Prometheus' duration syntax (no fractions, so the
    value is rounded to the millisecond, its smallest unit)."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    out = []
    for unit, size in _UNITS:
        n, ms = divmod(ms, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def _string(value: str) -> str:
    """A PromQL string literal (double quotes, Go escapes)."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t")
    return f'"{escaped}"'


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return f"{value:g}" if float(f"{value:g}") == value else repr(value)


def _not_re2(matcher: Matcher) -> str:
    """Why RE2 cannot run this matcher's regex ("" when it can)."""
    if "~" not in matcher.op:
        return ""
    for token, what in _NOT_RE2:
        if token in matcher.value:
            return what
    return "backreference" if _BACKREF.search(matcher.value) else ""


def _selector(cfg: RuleConfig) -> str:
    inner = ", ".join(f"{m.label}{m.op}{_string(m.value)}" for m in cfg.matchers)
    return f"{cfg.metric}{{{inner}}}" if inner else cfg.metric


def _literal(text: str) -> str:
    """``text`` as literal text of a Go template (an annotation): ``{{`` would open an
    action, so it is written as one that prints it."""
    return text.replace("{{", '{{ "{{" }}')


def promql_expr(cfg: RuleConfig) -> str:
    """The rule's condition in PromQL (see the module docstring for the mapping)."""
    selector = _selector(cfg)
    if cfg.aggregate in ("rate", "increase"):
        selector = f"{cfg.aggregate}({selector}[{prometheus_duration(cfg.window_s)}])"
        agg = "sum"
    else:
        agg = cfg.aggregate
    by = f" by ({', '.join(cfg.by)})" if cfg.by else ""
    return f"{agg}{by} ({selector}) {cfg.op} {_number(cfg.threshold)}"


def _summary(name: str, cfg: RuleConfig) -> str:
    """``message`` as a Prometheus annotation template: constants rendered now (with their
    format spec), the value and the ``by`` labels as template actions."""
    constants = {"rule": name, "threshold": cfg.threshold, "op": cfg.op,
                 "metric": cfg.metric, "aggregate": cfg.aggregate, "window": cfg.window,
                 "hold_for": cfg.hold_for, "severity": cfg.severity}
    out: list[str] = []
    text = ""   # literal text so far: escaped as a whole ("{{" may span parsed pieces)

    def action(piece: str) -> None:
        nonlocal text
        out.append(_literal(text))
        out.append(piece)
        text = ""

    for literal, field, spec, conversion in string.Formatter().parse(cfg.message):
        text += literal
        if field is None:
            continue
        root = re.split(r"[.\[]", field, maxsplit=1)[0]
        if root in _CONSTANT:
            fmt = "{" + field + ("!" + conversion if conversion else "") + \
                  (":" + spec if spec else "") + "}"
            try:
                text += fmt.format_map(constants)
            except (ValueError, KeyError, IndexError, AttributeError, TypeError):
                text += str(constants[root])
        elif root == "value":
            if spec and _PRINTF_SPEC.fullmatch(spec):
                verb = spec if spec[-1].isalpha() else spec + "g"
                action(f'{{{{ printf "%{verb}" $value }}}}')
            else:
                action("{{ $value }}")
        elif root == "labels":
            for i, b in enumerate(cfg.by):
                text += f"{',' if i else ''}{b}="
                action(f"{{{{ $labels.{b} }}}}")
        else:   # a `by` label
            action(f"{{{{ $labels.{root} }}}}")
    action("")
    return "".join(out)


def _description(name: str, cfg: RuleConfig) -> str:
    what = f"{cfg.aggregate} of {_selector(cfg)}"
    if cfg.aggregate in ("rate", "increase"):
        what += f" over {cfg.window}"
    if cfg.by:
        what += f" by {', '.join(cfg.by)}"
    text = (f"Orbital alert rule {name} (alerts.rules in supervisor.yaml): {what} "
            f"{cfg.op} {_number(cfg.threshold)}")
    text += f", held for {cfg.hold_for}." if cfg.hold_s > 0 else "."
    if cfg.aggregate in ("rate", "increase"):
        text += (" Prometheus extrapolates to the window's edges and needs two samples of"
                 " a series; the node's own rule counts exact increments, a new series"
                 " from 0.")
    if any("~" in m.op for m in cfg.matchers):
        text += " Regex matchers run as RE2 here, as Python re in the node."
    return _literal(text)


def to_prometheus(name: str, cfg: RuleConfig) -> PromRule:
    """One configured rule as a Prometheus alerting rule, or why it cannot be one."""
    if not cfg.enabled:
        return PromRule(name, None, "disabled (enabled: false): the node does not "
                                    "evaluate it either")
    for m in cfg.matchers:
        why = _not_re2(m)
        if why:
            return PromRule(name, None, f"labels.{m.label}: the regex {m.value!r} uses a "
                                        f"{why}, which Prometheus' RE2 does not support; "
                                        "the node still evaluates this rule itself")
    rule: dict[str, Any] = {"alert": name, "expr": promql_expr(cfg)}
    if cfg.hold_s > 0:
        rule["for"] = prometheus_duration(cfg.hold_s)
    rule["labels"] = {"severity": cfg.severity}
    rule["annotations"] = {"summary": _summary(name, cfg),
                           "description": _description(name, cfg)}
    return PromRule(name, rule)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def prometheus_rule_file(alerts: AlertsConfig, source: str = "supervisor.yaml") -> str:
    """The whole rule file: one group (``orbital``, evaluated every ``alerts.interval``),
    the exported rules in config order, each rule left out listed in a comment with why."""
    translated = [to_prometheus(n, r) for n, r in alerts.rules.items()]
    group: dict[str, Any] = {"name": GROUP,
                             "interval": prometheus_duration(parse_duration(alerts.interval)),
                             "rules": [t.rule for t in translated if t.rule is not None]}
    head = [f"# Prometheus alerting rules exported by `orbital alerts export` from {source}",
            "# (alerts.rules). The node keeps evaluating the same rules itself; see",
            "# docs/ops.md for the mapping and its limits. Regenerate, do not edit."]
    left = [t for t in translated if t.rule is None]
    if left:
        head.append("#")
        head.append("# Not exported:")
        head += [f"#   {t.name}: {t.reason}" for t in left]
    body = yaml.dump({"groups": [group]}, Dumper=_Dumper, sort_keys=False, width=10_000,
                     allow_unicode=True, default_flow_style=False)
    return "\n".join(head) + "\n" + body
