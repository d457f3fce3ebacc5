"""Messages the ``keeper`` actor answers (``AdminService`` task methods ask them, :mod:`._admin`).

Unknown task -> :class:`NotFound`; a run refused because one is in progress ->
:class:`FailedPrecondition`; no keeper running -> :class:`ActorUnavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TaskInfo", "ListTasks", "PauseTask", "ResumeTask", "RunTask", "RunStarted"]


@dataclass(frozen=True)
class TaskInfo:
    name: str
    cron: str
    action: str
    paused: bool
    running: bool
    misfire: str                     # run_once | skip
    last_run_at: float | None = None  # unix seconds the last finished run started
    last_result: str = ""
    last_error: str = ""
    next_run_at: float | None = None  # unix seconds; None while paused
    runs: int = 0
    skipped: int = 0                 # cron ticks skipped because a run was in progress


@dataclass(frozen=True)
class ListTasks:
    """-> list[TaskInfo], sorted by name."""


@dataclass(frozen=True)
class PauseTask:
    """-> TaskInfo; the schedule stops (a run in progress finishes). Idempotent."""

    name: str


@dataclass(frozen=True)
class ResumeTask:
    """-> TaskInfo; scheduled again from now (no catch-up of paused time). Idempotent."""

    name: str


@dataclass(frozen=True)
class RunTask:
    """-> RunStarted; runs now, unless a run of that task is in progress."""

    name: str


@dataclass(frozen=True)
class RunStarted:
    run_id: str
    task: TaskInfo
