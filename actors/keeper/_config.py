"""The ``keeper`` config section and its cron expressions.

Kept apart from the actor so that config load (which validates every task's cron, action
and args before anything starts) needs nothing of the scheduling machinery; the action
check reads the registry of :mod:`._actions`, filled by each kind's ``install(app)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from croniter import croniter

from runtime.config import opt

from ._actions import _ACTIONS, _check_action

__all__ = ["TaskConfig", "KeeperConfig", "next_time", "check_cron"]


# ---- cron -------------------------------------------------------------------------------
def _croniter(expr: str, base: float) -> croniter:
    fields = expr.split()
    if len(fields) == 6:  # seconds first (Quartz/Spring style); croniter wants them last
        fields = fields[1:] + fields[:1]
    return croniter(" ".join(fields), datetime.fromtimestamp(base, tz=UTC))


def next_time(expr: str, after: float) -> float:
    """The first time strictly after ``after`` (unix seconds, UTC) matching ``expr``."""
    return _croniter(expr, after).get_next(float)


def check_cron(expr: str) -> None:
    fields = expr.split()
    if not (len(fields) in (5, 6) or (len(fields) == 1 and fields[0].startswith("@"))):
        raise ValueError(f"expected a cron expression of 5 fields (minute hour day month "
                         f"weekday) or 6 (seconds first), got {expr!r}")
    try:
        next_time(expr, 0.0)
    except Exception as exc:  # croniter has several error types (bad cron, not a date...)
        raise ValueError(f"invalid cron expression {expr!r}: {exc}") from None


# ---- config -----------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskConfig:
    cron: str = opt(validate=check_cron,
                    doc="5 fields, or 6 with seconds first; UTC; e.g. '0 0 3 * * *'")
    action: str = opt(validate=_check_action, doc="a registered action, e.g. prune")
    misfire: Literal["run_once", "skip"] = opt(
        "run_once", doc="a time missed while the node was down: run once at start, or skip")
    enabled: bool = opt(True, doc="false: not scheduled nor listed (its stored state kept)")
    paused: bool = opt(False, doc="state of a task new to the store; later Pause/Resume win")
    timeout: float = opt(3600.0, min=0.001, max=7 * 86400, doc="seconds; see module doc")
    args: dict[str, Any] = opt(factory=dict, doc="passed to the action")

    def check(self) -> None:
        action = _ACTIONS.get(self.action)
        if action is not None and action.check_args is not None:
            action.check_args(self.args)


@dataclass(frozen=True)
class KeeperConfig:
    tasks: dict[str, TaskConfig] = opt(factory=dict, pattern=r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")
    history: int = opt(1000, min=1, max=1_000_000, doc="runs kept per task in keeper_run")
