"""Alert messages: how any actor raises or resolves an alert (exported by ``actors.alerts``).

The actor at ``ALERTS_PATH`` persists them, evaluates metric rules and serves
``AdminService/ListAlerts``. An alert is identified by (name, source); raising it again
while it fires counts up. Raising never fails the raiser: no alerts actor, no alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from actors import ALERTS_PATH
from runtime import ActorUnavailable

__all__ = ["RaiseAlert", "ResolveAlert", "raise_alert", "resolve_alert"]


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
