"""Runs in flight: the worker thread that executes a task body and records its end.

A run outlives the keeper instance that started it (a crash or restart of the actor does
not stop the body), so runs in flight are process-wide, keyed by (store, node, task),
and the worker tells whichever keeper owns the run at its end, as :class:`Finished`.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

import pykka

from ._actions import TaskAction, TaskContext
from ._models import KeeperRun, KeeperTask

__all__ = ["Due", "Finished"]

log = logging.getLogger("orbital.keeper")

_MAX_TEXT = 2000


# ---- messages (besides runtime's ListTasks/PauseTask/ResumeTask/RunTask) -----------------
@dataclass(frozen=True)
class Due:
    """A task's timer fired (``token`` tells a current timer from a cancelled one)."""

    name: str
    token: int
    at: float
    trigger: str = "cron"  # cron | misfire


@dataclass(frozen=True)
class Finished:
    name: str
    run_id: str
    result: str
    error: str
    finished_at: float


@dataclass(frozen=True)
class _TimedOut:
    name: str
    run_id: str


# ---- runs in flight (process-wide: a body outlives the keeper instance that started it) ---
@dataclass
class _Run:
    run_id: str
    name: str
    trigger: str
    started_at: float
    timeout: float
    cancelled: threading.Event = field(default_factory=threading.Event)
    timed_out: bool = False
    owner: Any = None          # the ActorRef told Finished; a restarted keeper adopts the run
    timer: Any = None


_FLIGHTS: dict[tuple[str, str], _Run] = {}
_FLIGHTS_LOCK = threading.Lock()


def _work(key: tuple[str, str], run: _Run, action: TaskAction, ctx: TaskContext,
          args: dict, history: int, store: Any, clock: Any) -> None:
    try:
        result = action.fn(ctx, args)
        result, error = ("" if result is None else str(result))[:_MAX_TEXT], ""
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded, not fatal
        log.warning("task run failed", exc_info=True,
                    extra={"task": run.name, "run_id": run.run_id})
        result, error = "", f"{type(exc).__name__}: {exc}"[:_MAX_TEXT]
    if run.timed_out:
        error = f"timed out after {run.timeout:g}s" + (f"; {error}" if error else "")
    finished = clock.wall()
    with _FLIGHTS_LOCK:  # the store and the flight change together (see Keeper._load)
        try:
            with store.connection(), store.atomic():
                KeeperRun.update(finished_at=finished, result=result, error=error) \
                    .where(KeeperRun.run_id == run.run_id).execute()
                KeeperTask.update(running_since=None, run_id=None, last_run_at=run.started_at,
                                  last_result=result, last_error=error,
                                  runs=KeeperTask.runs + 1) \
                    .where((KeeperTask.name == run.name) &
                           (KeeperTask.run_id == run.run_id)).execute()
                _trim(run.name, history)
        except Exception:  # noqa: BLE001 - the next start records the run as interrupted
            log.exception("cannot record the end of a task run",
                          extra={"task": run.name, "run_id": run.run_id})
        if _FLIGHTS.get(key) is run:
            del _FLIGHTS[key]
        owner = run.owner
    if owner is not None:
        try:
            owner.tell(Finished(run.name, run.run_id, result, error, finished))
        except pykka.ActorDeadError:
            pass


def _trim(name: str, history: int) -> None:
    oldest_kept = (KeeperRun.select(KeeperRun.id).where(KeeperRun.task == name)
                   .order_by(KeeperRun.id.desc()).offset(history - 1).limit(1).first())
    if oldest_kept is not None:
        KeeperRun.delete().where((KeeperRun.task == name) &
                                 (KeeperRun.id < oldest_kept.id)).execute()

