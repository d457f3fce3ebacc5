"""Rule evaluation, pure: samples and a time in, firing/resolved changes out.

No clock, registry or store here, so the semantics (pending -> firing -> resolved, like
Prometheus alerting rules) are tested with plain values. The actor feeds
:func:`collect` output of the node's own ``CollectorRegistry`` every ``interval``.

Counters (``rate``/``increase``): each evaluation adds, per series, the increase since
the previous evaluation (a counter that went down was reset: its new value is the
increase; a series that appears after the first evaluation starts from 0), grouped by
``by``; the window sums those increases. The first evaluation after a start is only a
baseline (what a counter counted before is history), so a rate has no value until the
second one: no value means the condition is false.
"""

from __future__ import annotations

import operator
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._config import RuleConfig

__all__ = ["Sample", "collect", "RuleState", "Change", "evaluate", "source_of"]

Sample = tuple[str, dict[str, str], float]   # (sample name, labels, value)
Group = tuple[str, ...]                      # values of the rule's `by` labels

_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
        "==": operator.eq, "!=": operator.ne}
_MAX_SOURCE = 300


# How a rule reduces its series' values per group (``aggregate``, except rate/increase).
_AGGREGATES: dict[str, Callable[[list[float]], float]] = {
    "sum": lambda vs: float(sum(vs)), "max": max, "min": min,
    "count": lambda vs: float(len(vs))}


def collect(registry: Any) -> list[Sample]:
    """Every sample of a prometheus_client ``CollectorRegistry``, as plain tuples."""
    out: list[Sample] = []
    for family in registry.collect():
        for s in family.samples:
            out.append((s.name, dict(s.labels), float(s.value)))
    return out


@dataclass
class _Active:
    since: float
    firing: bool = False
    value: float | None = None


@dataclass
class RuleState:
    """What a rule remembers between evaluations (in memory: lost on restart, except
    firing alerts, which the actor restores from the store with :meth:`restore`)."""

    prev: dict[tuple, float] | None = None                      # counters: last values
    increases: dict[Group, deque] = field(default_factory=dict)  # group -> (t, increase)
    active: dict[Group, _Active] = field(default_factory=dict)   # pending or firing

    def restore(self, group: Group, since: float) -> None:
        self.active[group] = _Active(since=since, firing=True)

    def pending(self) -> list[Group]:
        return [g for g, a in self.active.items() if not a.firing]


@dataclass(frozen=True)
class Change:
    state: str               # firing | resolved
    group: Group
    labels: dict[str, str]   # the `by` labels of the group
    value: float | None      # None: the series is gone


def source_of(rule: str, cfg: RuleConfig, group: Group) -> str:
    """An alert's source: the rule name, plus the group's labels when grouped."""
    if not cfg.by:
        return rule
    inner = ",".join(f'{k}="{v}"' for k, v in zip(cfg.by, group))
    return f"{rule}{{{inner}}}"[:_MAX_SOURCE]


def values(cfg: RuleConfig, state: RuleState, samples: list[Sample],
           now: float) -> dict[Group, float]:
    """The rule's aggregated value per group at ``now`` (a group without data is absent)."""
    matchers = cfg.matchers
    series = [(labels, v) for name, labels, v in samples
              if name == cfg.metric and all(m.matches(labels) for m in matchers)]

    def group_of(labels: dict[str, str]) -> Group:
        return tuple(labels.get(b, "") for b in cfg.by)

    if cfg.aggregate not in ("rate", "increase"):
        grouped: dict[Group, list[float]] = {}
        for labels, v in series:
            grouped.setdefault(group_of(labels), []).append(v)
        agg = _AGGREGATES[cfg.aggregate]
        return {g: agg(vs) for g, vs in grouped.items()}

    current = {tuple(sorted(labels.items())): (labels, v) for labels, v in series}
    first, prev = state.prev is None, state.prev or {}
    state.prev = {k: v for k, (_, v) in current.items()}
    if first:
        return {}
    step: dict[Group, float] = {}
    for key, (labels, v) in current.items():
        p = prev.get(key)
        inc = v - p if p is not None and v >= p else v   # new series, or a reset counter
        g = group_of(labels)
        step[g] = step.get(g, 0.0) + inc
    window = cfg.window_s
    out: dict[Group, float] = {}
    for g in set(step) | set(state.increases):
        d = state.increases.setdefault(g, deque())
        if g in step:
            d.append((now, step[g]))
        while d and d[0][0] <= now - window:
            d.popleft()
        if not d and g not in step:
            del state.increases[g]
            continue
        total = sum(inc for _, inc in d)
        out[g] = total / window if cfg.aggregate == "rate" else total
    return out


def evaluate(cfg: RuleConfig, state: RuleState, samples: list[Sample],
             now: float) -> list[Change]:
    """One evaluation: updates ``state``; returns the alerts that start or stop firing."""
    compare, hold = _OPS[cfg.op], cfg.hold_s
    changes: list[Change] = []
    vals = values(cfg, state, samples, now)
    for g, v in sorted(vals.items()):
        labels = dict(zip(cfg.by, g))
        if compare(v, cfg.threshold):
            a = state.active.get(g)
            if a is None:
                a = state.active[g] = _Active(since=now)
            a.value = v
            if not a.firing and now - a.since >= hold:
                a.firing = True
                changes.append(Change("firing", g, labels, v))
        else:
            a = state.active.pop(g, None)
            if a is not None and a.firing:
                changes.append(Change("resolved", g, labels, v))
    for g in [g for g in state.active if g not in vals]:   # no data any more: clears
        a = state.active.pop(g)
        if a.firing:
            changes.append(Change("resolved", g, dict(zip(cfg.by, g)), None))
    return changes
