"""Child and supervisor specifications: plain frozen values, compared on reload."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._backoff import Backoff

if TYPE_CHECKING:
    from ._actor import Actor

__all__ = ["Restart", "Strategy", "ChildSpec", "SupervisorSpec", "ActorInfo", "DiffResult"]


class Restart(str, enum.Enum):
    PERMANENT = "permanent"   # always restarted
    TRANSIENT = "transient"   # restarted only after an abnormal exit
    TEMPORARY = "temporary"   # never restarted; removed once it exits


class Strategy(str, enum.Enum):
    ONE_FOR_ONE = "one_for_one"    # restart the failed child only
    ONE_FOR_ALL = "one_for_all"    # restart every child
    REST_FOR_ONE = "rest_for_one"  # restart the failed child and those started after it


@dataclass(frozen=True)
class ChildSpec:
    """One child of a supervisor.

    ``actor`` is an :class:`runtime.Actor` subclass started as ``actor(ctx, config)``. On a
    reload a child whose ``actor``, ``config``, ``restart`` and ``shutdown`` are all equal
    is unchanged and keeps running; otherwise it is restarted with the new spec. For a
    supervisor child ``config`` is its :class:`SupervisorSpec`, diffed recursively.
    """

    id: str
    actor: type[Actor]
    config: Any = None
    restart: Restart = Restart.PERMANENT
    shutdown: float = 5.0  # seconds to stop before the child is abandoned

    @property
    def kind(self) -> str:
        return getattr(self.actor, "kind", self.actor.__name__)

    @property
    def is_supervisor(self) -> bool:
        return isinstance(self.config, SupervisorSpec)

    def same_process(self, other: ChildSpec) -> bool:
        """True when a reload can leave this child running (supervisors: settings only)."""
        if self.actor is not other.actor or self.restart != other.restart \
                or self.shutdown != other.shutdown:
            return False
        if self.is_supervisor and other.is_supervisor:
            return True  # settings are updated in place, children diffed recursively
        return self.config == other.config


@dataclass(frozen=True)
class SupervisorSpec:
    strategy: Strategy = Strategy.ONE_FOR_ONE
    intensity: int = 3        # at most this many restarts ...
    period: float = 5.0       # ... within this many seconds, else escalate
    backoff: Backoff = field(default_factory=Backoff)
    children: tuple[ChildSpec, ...] = ()
    start_timeout: float = 30.0

    def __post_init__(self) -> None:
        ids = [c.id for c in self.children]
        dup = {i for i in ids if ids.count(i) > 1}
        if dup:
            raise ValueError(f"duplicate child ids: {sorted(dup)}")


@dataclass(frozen=True)
class ActorInfo:
    path: str
    kind: str
    state: str             # running | restarting | stopped | failed
    restarts: int
    started_at: float      # unix seconds, 0 if never started
    last_error: str
    dynamic: bool = False


@dataclass
class DiffResult:
    started: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    restarted: list[str] = field(default_factory=list)
    unchanged: int = 0

    def merge(self, other: DiffResult) -> None:
        self.started += other.started
        self.stopped += other.stopped
        self.restarted += other.restarted
        self.unchanged += other.unchanged
