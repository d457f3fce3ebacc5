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
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import peewee
import pykka
from croniter import croniter

from runtime import (Actor, ChildSpec, Event, FailedPrecondition, ListTasks, NotFound,
                     PauseTask, ResumeTask, RunStarted, RunTask, TASKS_PATH, TaskInfo,
                     Unavailable)
from runtime.config import App, opt
from runtime.store import BaseModel, Migration

__all__ = ["install", "register_action", "register_prunable", "actions", "TaskAction",
           "TaskContext", "TaskConfig", "KeeperConfig", "Keeper", "Due", "Finished",
           "KeeperTask", "KeeperRun", "MIGRATION", "next_time", "check_cron"]

log = logging.getLogger("orbital.keeper")

_MAX_TEXT = 2000


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


# ---- actions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskContext:
    """What an action gets: the node's store and registry, the clock, and its run."""

    task: str
    run_id: str
    store: Any
    registry: Any
    clock: Any
    services: Any
    cancelled: threading.Event   # set at the timeout: stop between units of work
    deadline: float              # unix seconds

    def now(self) -> float:
        return self.clock.wall()


@dataclass(frozen=True)
class TaskAction:
    name: str
    fn: Callable[[TaskContext, dict], str]
    check_args: Callable[[Mapping[str, Any]], None] | None = None


_ACTIONS: dict[str, TaskAction] = {}


def register_action(name: str, fn: Callable[[TaskContext, dict], str],
                    check_args: Callable[[Mapping[str, Any]], None] | None = None) -> None:
    """Make ``fn(ctx, args) -> str`` (the result shown as last_result) usable as a task's
    ``action``; ``check_args(args)`` raises ``ValueError`` at config load for bad args.
    Call it from a kind's ``install(app)`` (config is validated after every install)."""
    _ACTIONS[name] = TaskAction(name, fn, check_args)


def actions() -> list[str]:
    return sorted(_ACTIONS)


def _check_action(name: str) -> None:
    if name not in _ACTIONS:
        raise ValueError(f"unknown action {name!r}; registered: {', '.join(actions()) or 'none'}")


# prune: tables whose rows may be deleted by age, and their unix-seconds time columns.
_PRUNABLE: dict[str, tuple[str, ...]] = {}


def register_prunable(table: str, *columns: str) -> None:
    """Allow the ``prune`` action on ``table`` by one of ``columns`` (unix seconds)."""
    _PRUNABLE[table] = tuple(dict.fromkeys((*_PRUNABLE.get(table, ()), *columns)))


def _check_prune(args: Mapping[str, Any]) -> None:
    unknown = set(args) - {"table", "column", "days"}
    if unknown:
        raise ValueError(f"prune: unknown args {sorted(unknown)}; expected table, column, days")
    table = args.get("table")
    if table not in _PRUNABLE:
        raise ValueError(f"prune: args.table must be one of {sorted(_PRUNABLE)}, got {table!r}")
    column = args.get("column", _PRUNABLE[table][0])
    if column not in _PRUNABLE[table]:
        raise ValueError(f"prune: args.column of {table} must be one of "
                         f"{list(_PRUNABLE[table])}, got {column!r}")
    days = args.get("days")
    if isinstance(days, bool) or not isinstance(days, (int, float)) or days <= 0:
        raise ValueError(f"prune: args.days must be a number > 0, got {days!r}")


def _prune(ctx: TaskContext, args: dict) -> str:
    _check_prune(args)  # again: never build SQL from anything outside the allowlist
    table = args["table"]
    column = args.get("column", _PRUNABLE[table][0])
    cutoff = ctx.now() - float(args["days"]) * 86400
    t = peewee.Table(table)
    with ctx.store.connection() as db:
        n = t.delete().where(peewee.Column(t, column) < cutoff).execute(db)
    return f"deleted {n} rows of {table} with {column} older than {args['days']} days"


register_action("prune", _prune, _check_prune)
register_prunable("keeper_run", "started_at", "finished_at")


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


# ---- store ------------------------------------------------------------------------------
class KeeperTask(BaseModel):
    name = peewee.CharField(max_length=200, primary_key=True)
    cron = peewee.CharField(max_length=200)
    paused = peewee.BooleanField(default=False)
    last_run_at = peewee.DoubleField(null=True)
    last_result = peewee.TextField(default="")
    last_error = peewee.TextField(default="")
    next_run_at = peewee.DoubleField(null=True)
    running_since = peewee.DoubleField(null=True)
    run_id = peewee.CharField(max_length=64, null=True)
    runs = peewee.BigIntegerField(default=0)
    skipped = peewee.BigIntegerField(default=0)


class KeeperRun(BaseModel):
    id = peewee.BigAutoField()
    task = peewee.CharField(max_length=200, index=True)
    run_id = peewee.CharField(max_length=64, unique=True)
    trigger = peewee.CharField(max_length=16)        # cron | manual | misfire
    started_at = peewee.DoubleField(index=True)
    finished_at = peewee.DoubleField(null=True)
    result = peewee.TextField(default="")
    error = peewee.TextField(default="")


def _migrate_0700(db: peewee.Database) -> None:
    db.create_tables([KeeperTask, KeeperRun])


MIGRATION = Migration("0700_keeper", _migrate_0700)


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


class Keeper(Actor):
    kind = "keeper"

    def setup(self) -> None:
        self.cfg: KeeperConfig = self.config
        self.store = self.ctx.services.store
        self.scope = f"{self.store.url}|{getattr(self.ctx.services, 'node_name', '')}"
        self.tasks: dict[str, _Task] = {}
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
                        else:
                            self._interrupted(t, row, now)
                self.tasks[name] = t

    def _interrupted(self, t: _Task, row: KeeperTask, now: float) -> None:
        error = "interrupted: the node stopped or the keeper restarted during the run"
        KeeperRun.update(finished_at=now, error=error).where(
            (KeeperRun.run_id == row.run_id) & KeeperRun.finished_at.is_null()).execute()
        KeeperTask.update(running_since=None, run_id=None, last_run_at=row.running_since,
                          last_result="", last_error=error).where(
            KeeperTask.name == t.name).execute()
        t.last_run_at, t.last_result, t.last_error = row.running_since, "", error
        log.warning("task run interrupted", extra={"task": t.name, "run_id": row.run_id})

    def teardown(self) -> None:
        # Runs in flight go on, with their timeout timers (a restarted keeper adopts them
        # and is told their end); only the schedule stops here.
        for t in getattr(self, "tasks", {}).values():
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
            self._start(t, msg.trigger)
        except (FailedPrecondition, Unavailable) as exc:
            t.skipped += 1
            if isinstance(exc, FailedPrecondition):  # the store answered: record it
                self._save(t, skipped=t.skipped)
            log.warning("task run not started: %s", exc, extra={"task": t.name})
            self._publish("task_skipped", t, at=msg.at, reason=str(exc))

    def _start(self, t: _Task, trigger: str) -> _Run:
        key = (self.scope, t.name)
        clock = self.ctx.clock
        started = clock.wall()
        run = _Run(uuid.uuid4().hex, t.name, trigger, started, t.cfg.timeout,
                   owner=self.actor_ref)
        with _FLIGHTS_LOCK:
            if key in _FLIGHTS:
                raise FailedPrecondition(f"task {t.name!r} is still running in this process "
                                         f"(run {_FLIGHTS[key].run_id})")
            with self.store.connection(), self.store.atomic():
                claimed = KeeperTask.update(running_since=started, run_id=run.run_id).where(
                    (KeeperTask.name == t.name) & KeeperTask.running_since.is_null()).execute()
                if not claimed:
                    raise FailedPrecondition(f"task {t.name!r} is running elsewhere (another "
                                             f"node sharing this database)")
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
        clock, me, token, at = self.ctx.clock, self.actor_ref, t.token, t.next_run_at

        def fire() -> None:
            try:
                me.tell(Due(t.name, token, at))
            except pykka.ActorDeadError:
                pass
        t.timer = clock.call_later(at - clock.wall(), fire)

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


def install(app: App) -> None:
    app.section("keeper", KeeperConfig)
    app.migration(MIGRATION)

    @app.provide("root")
    def keeper(config) -> list[ChildSpec]:
        section: KeeperConfig | None = config.section("keeper")
        if section is None or not any(t.enabled for t in section.tasks.values()):
            return []
        return [ChildSpec(TASKS_PATH, Keeper, section)]
