"""The registry of task actions, and the built-in ``prune`` action.

Process-wide rather than per keeper: kinds register their actions from ``install(app)``,
before config is validated against the registry and long before any keeper starts.
``prune`` only ever touches tables and columns a kind allowed with
:func:`register_prunable`, so no SQL is built from what config says.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import peewee

__all__ = ["TaskContext", "TaskAction", "register_action", "actions", "register_prunable",
           "ask_actor", "no_args"]


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
    # The singleton lease whose holder does this work (the book's sweeps: "book"): with
    # several nodes on one database, only the node holding it claims the task's runs.
    lease: str = ""


_ACTIONS: dict[str, TaskAction] = {}


def register_action(name: str, fn: Callable[[TaskContext, dict], str],
                    check_args: Callable[[Mapping[str, Any]], None] | None = None,
                    lease: str = "") -> None:
    """Make ``fn(ctx, args) -> str`` (the result shown as last_result) usable as a task's
    ``action``; ``check_args(args)`` raises ``ValueError`` at config load for bad args.
    ``lease``: the work is a singleton's (its actor holds this lease); on PostgreSQL only
    the node holding it claims runs, the others skip them. Call it from a kind's
    ``install(app)`` (config is validated after every install)."""
    _ACTIONS[name] = TaskAction(name, fn, check_args, lease)


def ask_actor(path: str, message: Any, verb: str, timeout: float = 60.0
              ) -> Callable[[TaskContext, dict], str]:
    """An action that asks the actor at ``path`` (the one owner of that work) to do it;
    the actor's reply is a count shown as ``"<verb> <n>"``."""
    def run(ctx: TaskContext, args: dict) -> str:
        return f"{verb} {ctx.registry.ask(path, message, timeout=timeout)}"
    return run


def no_args(args: Mapping[str, Any]) -> None:
    if args:
        raise ValueError(f"takes no args, got {sorted(args)}")


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

