"""Fixtures of the supervision suite: a tree factory on a FakeClock, and a thread-leak check.

Every tree a test starts is stopped after it, and every thread the test started must have
ended by then: a test that leaves an actor thread behind (say, one blocked on an Event it
forgot to release) fails here rather than slowing down or hanging a later test.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from runtime import ActorInfo, DescribeTree, Escalation, SupervisorSpec
from runtime.testing import FakeClock, start_tree

from .supkit import Identity, Whoami, by_path


class Tree:
    """A running test tree: root ref, context, recorder, fake clock and root exits."""

    def __init__(self, spec: SupervisorSpec, clock: FakeClock, **kw: Any) -> None:
        self.clock = clock
        self.exits: list[BaseException | None] = []
        self.exited = threading.Event()
        self.ref, self.ctx, self.rec = start_tree(spec, clock=clock, on_exit=self._on_exit,
                                                  **kw)
        self.reg = self.ctx.registry

    def _on_exit(self, reason: BaseException | None) -> None:
        self.exits.append(reason)
        self.exited.set()

    # ---- conveniences -------------------------------------------------------------------
    def ask(self, message: Any, timeout: float = 5.0) -> Any:
        """Ask the root supervisor (also a barrier: every earlier tell to it is processed)."""
        return self.ref.ask(message, timeout=timeout)

    def who(self, path: str) -> Identity:
        return self.reg.ask(path, Whoami(), timeout=5.0)

    def uid(self, path: str) -> str:
        return self.who(path).uid

    def describe(self) -> dict[str, ActorInfo]:
        return by_path(self.ask(DescribeTree()))

    def order(self, kind: str, paths: set[str] | None = None) -> list[str]:
        """Paths of the recorded events of ``kind``, in the order they happened."""
        return [e.path for e in self.rec.of(kind) if paths is None or e.path in paths]

    def escalation(self, timeout: float = 5.0) -> Escalation:
        assert self.exited.wait(timeout), "the root never exited"
        [reason] = self.exits
        assert isinstance(reason, Escalation), reason
        return reason

    def stop(self) -> None:
        if self.ref.is_alive():
            self.ref.stop(block=True, timeout=15)
        self.rec.unsubscribe()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def tree(clock):
    """``tree(spec)`` starts a root supervisor on the test's FakeClock; stopped after."""
    trees: list[Tree] = []

    def start(spec: SupervisorSpec, **kw: Any) -> Tree:
        t = Tree(spec, kw.pop("clock", clock), **kw)
        trees.append(t)
        return t
    yield start
    for t in reversed(trees):
        t.stop()


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test whose actor threads outlive it (the clock's scheduler thread aside)."""
    before = set(threading.enumerate())
    yield
    leaked = []
    for thread in set(threading.enumerate()) - before:
        if thread.name == "orbital-clock":
            continue
        thread.join(timeout=5)
        if thread.is_alive():
            leaked.append(thread.name)
    assert not leaked, f"threads still running after the test: {leaked}"
