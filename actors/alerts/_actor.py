"""The ``alerts`` actor: alerts raised by any actor, plus metric rules, persisted.

State: the firing alerts of this node, in memory and in ``alert``; rebuilt from the store
in :meth:`Alerts.setup`, so a restart (of the actor or the node) loses none. Every
firing/resolved transition is written (``alert`` + ``alert_transition``) before it is
announced: a JSON log line on ``orbital.alerts``, a tree event (``alert_firing`` /
``alert_resolved``), the ``orbital_alerts_firing{severity}`` gauge, and the webhook of its
severity, if any. Rules are evaluated on the actor's tick (:meth:`runtime.Actor.run_tick`,
on the node's clock), so tests drive them with a FakeClock.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import Gauge

from runtime import Actor, Event, InvalidArgument, Metrics, Unavailable

from ._messages import RaiseAlert, ResolveAlert

from ._config import SEVERITIES, AlertsConfig, RuleConfig
from ._models import Alert, AlertTransition
from ._notify import WebhookSender
from ._rules import RuleState, collect, evaluate, source_of

__all__ = ["Alerts", "Sync"]

log = logging.getLogger("orbital.alerts")

_MAX_NAME, _MAX_SOURCE, _MAX_MESSAGE, _MAX_LABELS = 200, 300, 4000, 64
_TRIM_EVERY = 100

def _gauge(metrics: Metrics) -> Gauge:
    return metrics.gauge("orbital_alerts_firing", "Alerts firing, by severity", ("severity",))


@dataclass(frozen=True)
class Sync:
    """A barrier: answered once every message told before it is handled (ListAlerts uses it
    to read its own writes); returns the number of firing alerts."""


@dataclass
class _Firing:
    name: str
    source: str
    severity: str
    message: str
    labels: dict[str, str]
    started_at: float
    count: int = 1
    rule: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Alerts(Actor):
    kind = "alerts"

    def setup(self) -> None:
        self.cfg: AlertsConfig = self.config or AlertsConfig()
        services = self.ctx.services
        self.store = services.store
        self.node = services.node_name
        self.metrics = services.metrics
        self.gauge = _gauge(self.metrics)
        self.rules: dict[str, RuleConfig] = {n: r for n, r in sorted(self.cfg.rules.items())
                                             if r.enabled}
        self.states = {n: RuleState() for n in self.rules}
        self.firing: dict[tuple[str, str], _Firing] = {}
        self._since_trim = 0
        self.sender = self.own(WebhookSender(dict(self.cfg.webhooks), self.ctx.clock,
                                             self.cfg.webhook_queue, self._publish_result))
        self._load()
        self._update_gauge()
        if self.rules:
            self.schedule_tick(self.cfg.interval_s)

    def _load(self) -> None:
        with self.store.connection():
            rows = list(Alert.select().where((Alert.node == self.node) &
                                             (Alert.state == "firing")))
        for row in rows:
            f = _Firing(row.name, row.source, row.severity, row.message,
                        json.loads(row.labels or "{}"), row.started_at, row.count, row.rule)
            self.firing[(row.name, row.source)] = f
        now = self.ctx.clock.now()
        for f in list(self.firing.values()):
            if f.rule is None:
                continue
            cfg = self.rules.get(f.rule)
            if cfg is None or f.name != f.rule:
                self._resolve(f.name, f.source, reason="its rule is no longer configured")
                continue
            group = tuple(f.labels.get(b, "") for b in cfg.by)
            if source_of(f.rule, cfg, group) != f.source:  # `by` changed: a stale group
                self._resolve(f.name, f.source, reason="its rule's grouping changed")
                continue
            self.states[f.rule].restore(group, now)

    # ---- messages -----------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if isinstance(message, RaiseAlert):
            return self._raise(message.name, message.source, message.message,
                               message.severity, dict(message.labels or {}))
        if isinstance(message, ResolveAlert):
            return self._resolve(message.name, message.source)
        if self.run_tick(message, self.cfg.interval_s, self._evaluate):
            return None
        if isinstance(message, Sync):
            return len(self.firing)
        return super().handle(message)

    def _raise(self, name: str, source: str, message: str, severity: str,
               labels: dict[str, str], rule: str | None = None) -> bool:
        name, source = str(name).strip(), str(source).strip()
        if not name or len(name) > _MAX_NAME:
            raise InvalidArgument(f"alert name must be 1..{_MAX_NAME} characters, "
                                  f"got {len(name)}", field="name")
        if not source or len(source) > _MAX_SOURCE:
            raise InvalidArgument(f"alert source must be 1..{_MAX_SOURCE} characters, "
                                  f"got {len(source)}", field="source")
        if severity not in SEVERITIES:
            raise InvalidArgument(f"alert severity must be one of {', '.join(SEVERITIES)}, "
                                  f"got {severity!r}", field="severity")
        if len(labels) > _MAX_LABELS:
            raise InvalidArgument(f"at most {_MAX_LABELS} labels", field="labels")
        labels = {str(k)[:100]: str(v)[:500] for k, v in labels.items()}
        message = str(message)[:_MAX_MESSAGE]
        now, key = self.ctx.clock.wall(), (name, source)
        f = self.firing.get(key)
        if f is not None:   # still firing: count up, keep the latest text
            with self.store.connection():
                Alert.update(count=Alert.count + 1, message=message, severity=severity,
                             labels=json.dumps(labels), updated_at=now).where(
                    (Alert.node == self.node) & (Alert.name == name) &
                    (Alert.source == source)).execute()
            old = f.severity
            f.count, f.message, f.severity, f.labels = f.count + 1, message, severity, labels
            if old != severity:
                self._update_gauge()
            log.debug("alert raised again", extra={"alert": name, "source": source,
                                                   "count": f.count})
            return True
        with self.store.atomic():
            n = Alert.update(state="firing", severity=severity, message=message,
                             labels=json.dumps(labels), rule=rule, started_at=now,
                             resolved_at=None, updated_at=now, count=1).where(
                (Alert.node == self.node) & (Alert.name == name) &
                (Alert.source == source)).execute()
            if not n:
                Alert.create(node=self.node, name=name, source=source, severity=severity,
                             message=message, labels=json.dumps(labels), state="firing",
                             rule=rule, started_at=now, updated_at=now, count=1)
            self._transition(name, source, "firing", severity, message, now)
        f = self.firing[key] = _Firing(name, source, severity, message, labels, now, 1, rule)
        self._announce(f, "firing", now, None)
        return True

    def _resolve(self, name: str, source: str, reason: str = "") -> bool:
        key = (str(name).strip(), str(source).strip())
        f = self.firing.get(key)
        if f is None:
            return False   # not firing (never raised, or resolved already): nothing to do
        now = self.ctx.clock.wall()
        with self.store.atomic():
            Alert.update(state="resolved", resolved_at=now, updated_at=now).where(
                (Alert.node == self.node) & (Alert.name == f.name) &
                (Alert.source == f.source)).execute()
            self._transition(f.name, f.source, "resolved", f.severity, reason or f.message, now)
        del self.firing[key]
        self._announce(f, "resolved", now, reason)
        return True

    def _transition(self, name, source, state, severity, message, now) -> None:
        AlertTransition.create(node=self.node, name=name, source=source, state=state,
                               severity=severity, message=message, at=now)
        self._since_trim += 1
        if self._since_trim >= _TRIM_EVERY:
            self._since_trim = 0
            keep = (AlertTransition.select(AlertTransition.id)
                    .where(AlertTransition.node == self.node)
                    .order_by(AlertTransition.id.desc()).offset(self.cfg.history - 1)
                    .limit(1).first())
            if keep is not None:
                AlertTransition.delete().where((AlertTransition.node == self.node) &
                                               (AlertTransition.id < keep.id)).execute()

    # ---- rules --------------------------------------------------------------------------
    def _evaluate(self) -> None:
        samples = collect(self.metrics.registry) if self.metrics is not None else []
        now = self.ctx.clock.now()
        for name, cfg in self.rules.items():
            for ch in evaluate(cfg, self.states[name], samples, now):
                source = source_of(name, cfg, ch.group)
                if ch.state == "firing":
                    text = cfg.render({"rule": name, "value": ch.value,
                                       "threshold": cfg.threshold, "op": cfg.op,
                                       "metric": cfg.metric, "severity": cfg.severity,
                                       "aggregate": cfg.aggregate, "window": cfg.window,
                                       "hold_for": cfg.hold_for, "labels": ",".join(f"{k}={v}"
                                                          for k, v in ch.labels.items()),
                                       **ch.labels})
                    try:
                        self._raise(name, source, text, cfg.severity,
                                    {**ch.labels, "value": f"{ch.value:g}"}, rule=name)
                    except Unavailable:   # not recorded: fire again at the next evaluation
                        self.states[name].active.pop(ch.group, None)
                        raise
                else:
                    shown = "no data" if ch.value is None else f"{ch.value:g}"
                    try:
                        self._resolve(name, source,
                                      reason=f"condition cleared: {cfg.metric} "
                                             f"{cfg.aggregate} is {shown}")
                    except Unavailable:   # still firing in the store: resolve next time
                        self.states[name].restore(ch.group, now)
                        raise

    # ---- notifications ------------------------------------------------------------------
    def _announce(self, f: _Firing, state: str, now: float, reason: str | None) -> None:
        payload = {"node": self.node, "name": f.name, "source": f.source,
                   "severity": f.severity, "state": state, "message": f.message,
                   "labels": f.labels, "count": f.count, "started_at": f.started_at,
                   "resolved_at": now if state == "resolved" else None}
        if reason:
            payload["reason"] = reason
        extra = {"alert": f.name, "source": f.source, "severity": f.severity,
                 "state": state, "count": f.count, "text": f.message, "labels": f.labels,
                 "started_at": f.started_at}
        if state == "firing":
            level = logging.ERROR if f.severity == "critical" else (
                logging.WARNING if f.severity == "warning" else logging.INFO)
            log.log(level, "alert firing", extra=extra)
        else:
            log.info("alert resolved", extra={**extra, "resolved_at": now,
                                              "reason": reason or ""})
        self._update_gauge()
        self.ctx.events.publish(Event(f"alert_{state}", self.path, self.ctx.clock.now(),
                                      {"name": f.name, "source": f.source,
                                       "severity": f.severity}))
        self.sender.send(f.severity, payload)

    def _update_gauge(self) -> None:
        counts = dict.fromkeys(SEVERITIES, 0)
        for f in self.firing.values():
            counts[f.severity] = counts.get(f.severity, 0) + 1
        for sev, n in counts.items():
            self.gauge.labels(sev).set(n)

    def _publish_result(self, kind: str, data: dict) -> None:
        self.ctx.events.publish(Event(kind, self.path, self.ctx.clock.now(), data))
