"""The keeper on a FakeClock with a real store (SQLite and PostgreSQL), and on a real node.

Test actions: ``record`` (returns its ``note``), ``block`` (waits on a gate the test
holds, see :func:`gate`), ``until_cancelled`` (returns once the run's timeout has set its
``cancelled`` event) and ``fail`` (raises).
"""

from __future__ import annotations

from actors.keeper import KeeperConfig

import threading
from typing import Any

import pytest

from actors import keeper
from node import new_app
from actors.keeper import ListTasks, TaskInfo
from runtime import ChildSpec, Metrics, SupervisorSpec
from runtime.config import App, load_text
from runtime.node import Services
from runtime.store import Store
from runtime.testing import FakeClock, start_tree

_GATES: dict[str, threading.Event] = {}
CALLS: list[tuple[str, str]] = []    # (task, run_id) of every run of the test actions


def _record(ctx, args):
    CALLS.append((ctx.task, ctx.run_id))
    return str(args.get("note", "ok"))


def _block(ctx, args):
    CALLS.append((ctx.task, ctx.run_id))
    if not _GATES[args["gate"]].wait(20):
        raise TimeoutError("the test never opened the gate")
    return "unblocked"


def _until_cancelled(ctx, args):
    CALLS.append((ctx.task, ctx.run_id))
    if not ctx.cancelled.wait(20):
        raise TimeoutError("never cancelled")
    return "stopped early"


def _fail(ctx, args):
    raise RuntimeError("boom")


keeper.register_action("record", _record)
keeper.register_action("block", _block)
keeper.register_action("until_cancelled", _until_cancelled)
keeper.register_action("fail", _fail)


def gate(name: str) -> threading.Event:
    _GATES[name] = threading.Event()
    return _GATES[name]


def make_app() -> App:
    app = new_app()
    keeper.install(app)
    return app


def keeper_config(yaml_tasks: str, history: int = 1000) -> keeper.KeeperConfig:
    """``keeper.tasks`` from YAML lines (indented by 4), validated as the node does."""
    text = f"keeper:\n  history: {history}\n  tasks:\n{yaml_tasks}"
    return load_text(text, "test.yaml", make_app()).section("keeper", KeeperConfig)


@pytest.fixture(autouse=True)
def _clean():
    CALLS.clear()
    yield
    for g in _GATES.values():
        g.set()  # never leave a run blocked
    _GATES.clear()
    leaked = []
    for t in threading.enumerate():
        if t.name.startswith("keeper-run:"):
            t.join(10)
            if t.is_alive():
                leaked.append(t.name)
    assert not leaked, f"task runs still going after the test: {leaked}"


class KeeperTree:
    """A root supervisor holding one keeper, on a FakeClock, over a real store; its
    services are a node's (the type ActorContext.services has), state in ``state_dir``
    (the store's)."""

    def __init__(self, store: Store, cfg: keeper.KeeperConfig, clock: FakeClock,
                 state_dir: str, node_name: str = "test-node") -> None:
        self.clock, self.store = clock, store
        spec = SupervisorSpec(intensity=0, children=(ChildSpec("keeper", keeper.Keeper, cfg),))
        services = Services(store=store, metrics=Metrics(), node_name=node_name,
                            state_dir=state_dir, instance=store.instance)
        self.ref, self.ctx, self.rec = start_tree(spec, clock=clock, services=services)

    def ask(self, message: Any) -> Any:
        return self.ctx.registry.ask("keeper", message, timeout=10)

    def tasks(self) -> dict[str, TaskInfo]:
        """Also a barrier: every message told to the keeper before is handled."""
        return {t.name: t for t in self.ask(ListTasks())}

    def finished(self, count: int = 1, **data: Any) -> list:
        return self.rec.wait_for("task_finished", "keeper", count=count, **data)

    def stop(self) -> None:
        if self.ref.is_alive():
            self.ref.stop(block=True, timeout=15)
        self.rec.unsubscribe()


@pytest.fixture
def store(database_url, tmp_path):
    s = Store(database_url, state_dir=str(tmp_path), migrations=keeper.MIGRATIONS)
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def keeper_tree(store, tmp_path):
    """``keeper_tree(cfg, clock=None)`` starts a keeper; stopped after the test."""
    trees: list[KeeperTree] = []

    def start(cfg: keeper.KeeperConfig, clock: FakeClock | None = None) -> KeeperTree:
        t = KeeperTree(store, cfg, clock or FakeClock(), str(tmp_path))
        trees.append(t)
        return t
    yield start
    for t in reversed(trees):
        t.stop()


# FakeClock() starts at wall 1700001000.0 = 2023-11-14T22:30:00Z (a whole minute).
T0 = 1_700_001_000.0
