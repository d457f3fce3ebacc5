"""The ``keeper`` actor: one clock timer per task, runs started on worker threads.

It never sleeps nor blocks on a task body (see :mod:`._runs`), so admin asks and other
tasks' ticks are answered while a run goes on.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pykka

from runtime import Actor, Event, FailedPrecondition, NotFound, Unavailable
from runtime.store import Lease

from ._messages import ListTasks, PauseTask, ResumeTask, RunStarted, RunTask, TaskInfo

from ._actions import _ACTIONS, TaskContext
from ._config import KeeperConfig, TaskConfig, next_time
from ._models import KeeperRun, KeeperTask
from ._runs import _FLIGHTS, _FLIGHTS_LOCK, Due, Finished, _Run, _TimedOut, _work

__all__ = ["Keeper"]

log = logging.getLogger("orbital.keeper")


# ---- the actor --------------------------------------------------------------------------
@dataclass
class _Task:
    name: str
    cfg: TaskConfig
    paused: bool = False
    last_run_at: float | None = None
    last_result: str = ""
    last_error: str = ""
    next_run_at: float | None = None
    runs: int = 0
    skipped: int = 0
    token: int = 0
    timer: Any = None
    running: _Run | None = None

    def info(self) -> TaskInfo:
        return TaskInfo(name=self.name, cron=self.cfg.cron, action=self.cfg.action,
                        paused=self.paused, running=self.running is not None,
                        misfire=self.cfg.misfire, last_run_at=self.last_run_at,
                        last_result=self.last_result, last_error=self.last_error,
                        next_run_at=None if self.paused else self.next_run_at,
                        runs=self.runs, skipped=self.skipped)


# A node whose last heartbeat is older than this is gone: its claim is stale. Generous
# beside the heartbeat (node.heartbeat_interval, 2 s by default), so a live node with a
# slower heartbeat never loses its claim; a node that stops gracefully leaves the registry
# at once, so only a crashed node's claim waits this long.
_ALIVE_WITHIN = 30.0


class Keeper(Actor):
    kind = "keeper"

    def setup(self) -> None:
        self.cfg: KeeperConfig = self.config
        self.store = self.ctx.services.store
        self.scope = f"{self.store.url}|{self.ctx.services.node_name}"
        self.tasks: dict[str, _Task] = {}
        self.resources.callback(self._stop_schedule)
        self._load()
        now = self.ctx.clock.wall()
        for t in self.tasks.values():
            missed = None
            if t.paused:
                t.next_run_at = None
            elif t.next_run_at is not None and t.next_run_at <= now:
                missed = t.next_run_at
                t.next_run_at = next_time(t.cfg.cron, now)
            elif t.next_run_at is None:
                t.next_run_at = next_time(t.cfg.cron, now)
            self._save(t, next_run_at=t.next_run_at)
            self._arm(t)
            if missed is not None:
                if t.cfg.misfire == "run_once":  # after _arm: with the current token
                    self.actor_ref.tell(Due(t.name, t.token, missed, "misfire"))
                else:
                    log.info("missed run skipped (misfire: skip)",
                             extra={"task": t.name, "missed": missed})
                self._publish("task_missed", t, missed=missed, policy=t.cfg.misfire)

    def _load(self) -> None:
        """Tasks from config, state from the store; adopt or close runs of a past instance."""
        now = self.ctx.clock.wall()
        configured = {n: c for n, c in sorted(self.cfg.tasks.items()) if c.enabled}
        with _FLIGHTS_LOCK, self.store.connection(), self.store.atomic():
            rows = {r.name: r for r in
                    KeeperTask.select().where(KeeperTask.name.in_(list(configured)))} \
                if configured else {}
            for name, cfg in configured.items():
                t = _Task(name, cfg)
                row = rows.get(name)
                if row is None:
                    t.paused = cfg.paused
                    KeeperTask.create(name=name, cron=cfg.cron, paused=cfg.paused)
                else:
                    t.paused, t.last_run_at = row.paused, row.last_run_at
                    t.last_result, t.last_error = row.last_result, row.last_error
                    t.runs, t.skipped = row.runs, row.skipped
                    # a changed schedule starts afresh: no misfire for the old one's times
                    t.next_run_at = row.next_run_at if row.cron == cfg.cron else None
                    if row.cron != cfg.cron:
                        KeeperTask.update(cron=cfg.cron).where(KeeperTask.name == name).execute()
                    if row.running_since is not None:
                        flight = _FLIGHTS.get((self.scope, name))
                        if flight is not None and flight.run_id == row.run_id:
                            flight.owner = self.actor_ref   # still running here: adopt it
                            t.running = flight
                        elif row.owner in self._others_alive():
                            log.info("task running on another node", extra={
                                "task": name, "run_id": row.run_id, "node": row.owner})
                        else:
                            self._interrupted(t, row, now)
                self.tasks[name] = t

    def _others_alive(self) -> set[str]:
        """The other node instances on this database that are alive (heartbeat fresh):
        a claim of theirs stands; one of a node gone (or of this node's past starts) is
        stale. Empty on SQLite (one node)."""
        if not self.store.is_postgres:
            return set()
        return {n.instance for n in self.store.list_nodes(_ALIVE_WITHIN)} - {self.store.instance}

    def _holds(self, lease: str) -> bool:
        """Whether this node holds ``lease`` now (its singleton does the task's work)."""
        with self.store.connection():
            return bool(Lease.select().where(
                (Lease.name == lease) & (Lease.owner == self.store.instance) &
                (Lease.expires_at >= time.time())).exists(self.store.db))

    def _interrupted(self, t: _Task, row: KeeperTask, now: float) -> None:
        error = "interrupted: the node stopped or the keeper restarted during the run"
        KeeperRun.update(finished_at=now, error=error).where(
            (KeeperRun.run_id == row.run_id) & KeeperRun.finished_at.is_null()).execute()
        KeeperTask.update(running_since=None, run_id=None, last_run_at=row.running_since,
                          last_result="", last_error=error).where(
            KeeperTask.name == t.name).execute()
        t.last_run_at, t.last_result, t.last_error = row.running_since, "", error
        log.warning("task run interrupted", extra={"task": t.name, "run_id": row.run_id})

    def _stop_schedule(self) -> None:
        # Runs in flight go on, with their timeout timers (a restarted keeper adopts them
        # and is told their end); only the schedule stops here.
        for t in self.tasks.values():
            if t.timer is not None:
                t.timer.cancel()

    # ---- messages -----------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if isinstance(message, Due):
            return self._due(message)
        if isinstance(message, Finished):
            return self._finished(message)
        if isinstance(message, _TimedOut):
            return self._timed_out(message)
        if isinstance(message, ListTasks):
            return [t.info() for t in self.tasks.values()]
        if isinstance(message, PauseTask):
            t = self._task(message.name)
            if not t.paused:
                t.paused, t.next_run_at = True, None
                self._disarm(t)
                self._save(t, paused=True, next_run_at=None)
                self._publish("task_paused", t)
            return t.info()
        if isinstance(message, ResumeTask):
            t = self._task(message.name)
            if t.paused:
                t.paused = False
                t.next_run_at = next_time(t.cfg.cron, self.ctx.clock.wall())
                self._save(t, paused=False, next_run_at=t.next_run_at)
                self._arm(t)
                self._publish("task_resumed", t)
            return t.info()
        if isinstance(message, RunTask):
            t = self._task(message.name)
            if t.running is not None:
                raise FailedPrecondition(
                    f"task {t.name!r} is running (run {t.running.run_id} started at "
                    f"{_iso(t.running.started_at)}); never two runs of one task at once; "
                    f"try again when it has finished")
            run = self._start(t, "manual")
            return RunStarted(run.run_id, t.info())
        return super().handle(message)

    def _task(self, name: str) -> _Task:
        t = self.tasks.get(name)
        if t is None:
            raise NotFound(f"no task {name!r}; tasks: {', '.join(self.tasks) or 'none'}",
                           field="name")
        return t

    def _due(self, msg: Due) -> None:
        t = self.tasks.get(msg.name)
        if t is None or msg.token != t.token or t.paused:
            return  # a timer cancelled by pause, resume or reschedule
        if msg.trigger == "cron":
            t.next_run_at = next_time(t.cfg.cron, max(msg.at, self.ctx.clock.wall()))
            self._arm(t)
            self._save(t, next_run_at=t.next_run_at)
        if t.running is not None:
            t.skipped += 1
            self._save(t, skipped=t.skipped)
            log.warning("task still running: this time is skipped",
                        extra={"task": t.name, "run_id": t.running.run_id})
            self._publish("task_skipped", t, at=msg.at, run_id=t.running.run_id)
            return
        try:
            self._start(t, msg.trigger, msg.at)
        except (FailedPrecondition, Unavailable) as exc:
            t.skipped += 1
            if isinstance(exc, FailedPrecondition):  # the store answered: record it
                self._save(t, skipped=t.skipped)
            log.warning("task run not started: %s", exc, extra={"task": t.name})
            self._publish("task_skipped", t, at=msg.at, reason=str(exc))

    def _start(self, t: _Task, trigger: str, at: float | None = None) -> _Run:
        key = (self.scope, t.name)
        clock = self.ctx.clock
        started = clock.wall()
        run = _Run(uuid.uuid4().hex, t.name, trigger, started, t.cfg.timeout,
                   owner=self.actor_ref)
        lease = _ACTIONS[t.cfg.action].lease
        if lease and self.store.is_postgres and not self._holds(lease):
            raise FailedPrecondition(f"task {t.name!r} runs on the node holding lease "
                                     f"{lease!r}; this node does not hold it")
        with _FLIGHTS_LOCK:
            if key in _FLIGHTS:
                raise FailedPrecondition(f"task {t.name!r} is still running in this process "
                                         f"(run {_FLIGHTS[key].run_id})")
            alive = self._others_alive()
            with self.store.connection(), self.store.atomic():
                # One claim per run across the nodes sharing the database: the task is not
                # running (or its claim is a dead node's), and a scheduled time (cron,
                # misfire) is run once: not when a run started at or after it already.
                free = KeeperTask.running_since.is_null()
                if alive:
                    free |= KeeperTask.owner.not_in(list(alive))
                claim = (KeeperTask.name == t.name) & free
                if trigger != "manual" and at is not None:
                    claim &= KeeperTask.last_run_at.is_null() | (KeeperTask.last_run_at < at)
                claimed = KeeperTask.update(running_since=started, run_id=run.run_id,
                                            owner=self.store.instance).where(claim).execute()
                if not claimed:
                    raise FailedPrecondition(f"task {t.name!r} is running elsewhere, or ran "
                                             f"for this time already (another node sharing "
                                             f"this database)")
                KeeperRun.create(task=t.name, run_id=run.run_id, trigger=trigger,
                                 started_at=started)
            _FLIGHTS[key] = run
        ctx = TaskContext(t.name, run.run_id, self.store, self.ctx.registry, clock,
                          self.ctx.services, run.cancelled, started + t.cfg.timeout)
        t.running = run

        def timed_out() -> None:
            try:
                run.owner.tell(_TimedOut(t.name, run.run_id))
            except pykka.ActorDeadError:
                run.timed_out = True  # no keeper to tell: mark it anyway
                run.cancelled.set()
        run.timer = clock.call_later(t.cfg.timeout, timed_out)
        threading.Thread(target=_work, name=f"keeper-run:{t.name}", daemon=True,
                         args=(key, run, _ACTIONS[t.cfg.action], ctx, dict(t.cfg.args),
                               self.cfg.history, self.store, clock)).start()
        log.info("task run started", extra={"task": t.name, "run_id": run.run_id,
                                            "trigger": trigger})
        self._publish("task_started", t, run_id=run.run_id, trigger=trigger)
        return run

    def _finished(self, msg: Finished) -> None:
        t = self.tasks.get(msg.name)
        if t is None or t.running is None or t.running.run_id != msg.run_id:
            return
        run, t.running = t.running, None
        if run.timer is not None:
            run.timer.cancel()
        t.last_run_at, t.last_result, t.last_error = run.started_at, msg.result, msg.error
        t.runs += 1
        log.info("task run finished", extra={"task": t.name, "run_id": run.run_id,
                                             "result": msg.result, "error": msg.error})
        self._publish("task_finished", t, run_id=run.run_id, trigger=run.trigger,
                      result=msg.result, error=msg.error)

    def _timed_out(self, msg: _TimedOut) -> None:
        t = self.tasks.get(msg.name)
        if t is None or t.running is None or t.running.run_id != msg.run_id:
            return
        t.running.timed_out = True
        t.running.cancelled.set()
        log.warning("task run timed out; asked to stop", extra={"task": t.name,
                                                                "run_id": msg.run_id})
        self._publish("task_timed_out", t, run_id=msg.run_id)

    # ---- helpers ----------------------------------------------------------------------
    def _arm(self, t: _Task) -> None:
        self._disarm(t)
        if t.paused or t.next_run_at is None:
            return
        at = t.next_run_at
        t.timer = self.tell_later(at - self.ctx.clock.wall(), Due(t.name, t.token, at))

    def _disarm(self, t: _Task) -> None:
        t.token += 1
        if t.timer is not None:
            t.timer.cancel()
            t.timer = None

    def _save(self, t: _Task, **fields: Any) -> None:
        with self.store.connection():
            KeeperTask.update(**fields).where(KeeperTask.name == t.name).execute()

    def _publish(self, kind: str, t: _Task, **data: Any) -> None:
        self.ctx.events.publish(Event(kind, self.path, self.ctx.clock.now(),
                                      {"task": t.name, **data}))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="seconds")
