"""Alert messages: how any actor raises or resolves an alert (served by the ``alerts`` kind).

Like :mod:`runtime._tasks`, only the message shapes live in the runtime, so an actor
can raise an alert without importing the alerts kind; the actor at ``ALERTS_PATH``
persists them, evaluates metric rules and serves ``AdminService/ListAlerts``.
An alert is identified by (name, source); raising it again while it fires counts up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ._errors import ActorUnavailable

__all__ = ["ALERTS_PATH", "RaiseAlert", "ResolveAlert", "raise_alert", "resolve_alert"]

ALERTS_PATH = "alerts"


@dataclass(frozen=True)
class RaiseAlert:
    name: str                      # e.g. "funding_daily_cap_reached"
    source: str                    # actor path, e.g. "funding/gas-a"
    message: str
    severity: str = "warning"      # info | warning | critical
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ResolveAlert:
    name: str
    source: str


def raise_alert(registry, alert: RaiseAlert) -> bool:
    """Tell the alerts actor; False (and nothing else) if it is not running right now."""
    try:
        registry.tell(ALERTS_PATH, alert)
        return True
    except ActorUnavailable:
        return False


def resolve_alert(registry, name: str, source: str) -> bool:
    try:
        registry.tell(ALERTS_PATH, ResolveAlert(name, source))
        return True
    except ActorUnavailable:
        return False
