"""``keeper``: scheduled tasks (cron), run-now, pause/resume; state in the store.

Tasks are declared in ``supervisor.yaml`` under ``keeper.tasks``; each names a registered
*action* (:func:`register_action`) and its ``args``. The actor never sleeps and has no
thread of its own: it arms one clock timer per task, which tells it :class:`Due`. A run's
body executes on a daemon worker thread (one per run, so at most one per task) and its end
comes back as :class:`Finished`, so the mailbox (admin asks, other ticks) never waits for
a task body.

Guarantees:

- never two runs of one task at once: a cron time that falls during a run is skipped (and
  counted), ``RunTask`` during a run is ``FAILED_PRECONDITION``. The claim is a
  conditional update of ``keeper_task.running_since`` in the store, so it also holds
  across a keeper restart (a body still running in this process is adopted by the new
  instance) and between nodes sharing one database;
- pause state, last run, next run and the run counters live in ``keeper_task``; every run
  is a row of ``keeper_run`` (bounded: ``keeper.history`` newest per task);
- after downtime (``next_run_at`` in the past at start) the task's ``misfire`` policy
  applies: ``run_once`` runs once now (however many times were missed), ``skip`` waits
  for the next time. A run cut by a crash or stop is recorded as interrupted.

Cron: 5 fields (minute hour day-of-month month day-of-week) or 6 with *seconds first*
(``0 0 3 * * *`` = 03:00:00 daily); ``@daily`` style macros; always UTC.
A timeout cannot kill a thread: at the timeout the run's ``cancelled`` event is set (an
action should check it between units of work), the run is recorded as timed out, and the
task stays busy until the body returns.

Layout (private modules, so that what other code may rely on is only what is re-exported
here): ``_actions`` the action registry and ``prune``; ``_config`` the config section and
cron; ``_models`` the tables and their migration; ``_runs`` runs in flight and the worker
thread; ``_actor`` the :class:`Keeper` actor. ``install`` stays here: it is the kind's
entry point (``node.build_app``).
"""

from __future__ import annotations

from actors import KEEPER_PATH
from runtime import ChildSpec
from runtime.config import App

from ._admin import ADMIN_METHODS
from ._messages import ListTasks, PauseTask, ResumeTask, RunStarted, RunTask, TaskInfo

from ._actions import (TaskAction, TaskContext, actions, ask_actor, no_args, register_action,
                       register_prunable)
from ._actor import Keeper
from ._config import KeeperConfig, TaskConfig, check_cron, next_time
from ._models import MIGRATION, MIGRATIONS, KeeperRun, KeeperTask
from ._runs import Due, Finished

__all__ = ["install", "register_action", "ask_actor", "no_args", "register_prunable", "actions", "TaskAction",
           "TaskContext", "TaskConfig", "KeeperConfig", "Keeper", "Due", "Finished",
           "KeeperTask", "KeeperRun", "MIGRATION", "MIGRATIONS", "next_time", "check_cron", "ListTasks",
           "PauseTask", "ResumeTask", "RunTask", "RunStarted", "TaskInfo"]


def install(app: App) -> None:
    app.section("keeper", KeeperConfig)
    for migration in MIGRATIONS:
        app.migration(migration)
    for method, fn in ADMIN_METHODS.items():
        app.admin(method, fn)

    @app.provide("root")
    def keeper(config) -> list[ChildSpec]:
        section = config.section("keeper", KeeperConfig)
        if not any(t.enabled for t in section.tasks.values()):
            return []
        return [ChildSpec(KEEPER_PATH, Keeper, section)]
