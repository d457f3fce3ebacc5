"""Actor.hold_lease: a singleton runs on one node at a time, on real SQLite and PostgreSQL.

Two "nodes" are two stores with their own instance ids and their own supervisor trees in
this process, each running the same singleton actor. Only the holder writes; the standby
takes over when the holder's actor stops (released at once) and every write is fenced.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import peewee
import pytest

from runtime import Actor, ChildSpec, LeaseLost, Metrics, SupervisorSpec
from runtime._services import Services
from runtime.store import BaseModel, Migration, Store
from runtime.testing import start_tree, wait_until


class Written(BaseModel):
    by = peewee.CharField()
    epoch = peewee.IntegerField()


@dataclass(frozen=True)
class Write:
    """Ask: write one row, fenced by the lease; returns the epoch it was written under."""


class Singleton(Actor):
    kind = "singleton"

    def setup(self) -> None:
        self.changes: list[Any] = []
        self.singleton = self.hold_lease("singleton:test")

    def lease_changed(self, lease) -> None:
        self.changes.append(lease.epoch)

    def handle(self, message: Any) -> Any:
        if isinstance(message, Write):
            with self.singleton.fenced():
                Written.insert(by=self.ctx.services.instance,
                               epoch=self.singleton.epoch).execute(self.ctx.services.store.db)
            return self.singleton.epoch
        if isinstance(message, _Pause):   # paused mid-work, then writes as if it led
            message.gate.wait(30)
            try:
                message.outcome.append(self.handle(Write()))
            except LeaseLost as exc:
                message.outcome.append(exc)
            return None
        if message == "held":
            return self.singleton.held
        return super().handle(message)


class FakeNode:
    def __init__(self, url: str, state_dir: str, instance: str, ttl: float) -> None:
        self.store = Store(url, state_dir=state_dir, node="n", instance=instance)
        services = Services(store=self.store, metrics=Metrics(), node_name="n",
                            state_dir=state_dir, instance=instance, lease_ttl=ttl)
        spec = SupervisorSpec(intensity=0, children=(ChildSpec("singleton", Singleton),))
        self.ref, self.ctx, self.rec = start_tree(spec, services=services)

    def ask(self, message: Any) -> Any:
        return self.ctx.registry.ask("singleton", message, timeout=10)

    def stop(self) -> None:
        if self.ref.is_alive():
            self.ref.stop(block=True, timeout=15)
        self.rec.unsubscribe()
        self.store.close()


@pytest.fixture
def migrated(database_url, tmp_path):
    s = Store(database_url, state_dir=str(tmp_path),
              migrations=[Migration("0500_test_written", lambda db: db.create_tables([Written]))])
    s.migrate()
    s.close()
    return database_url


def test_one_holder_writes_and_a_standby_takes_over_at_once_on_stop(migrated, tmp_path):
    a = FakeNode(migrated, str(tmp_path), "n-aaaaaa", ttl=30)
    b = FakeNode(migrated, str(tmp_path), "n-bbbbbb", ttl=30)
    try:
        assert a.ask("held") and not b.ask("held")
        assert a.ask(Write()) == 1
        with pytest.raises(LeaseLost, match="does not hold singleton:test"):
            b.ask(Write())
        a.stop()   # graceful: the lease is released, b takes it well within the 30 s TTL
        wait_until(lambda: b.ask("held"), timeout=5, what="the standby takes over")
        assert b.ask(Write()) == 2
        with b.store.connection():
            rows = [(r.by, r.epoch) for r in Written.select().order_by(Written.id)
                    .execute(b.store.db)]
        assert rows == [("n-aaaaaa", 1), ("n-bbbbbb", 2)]
    finally:
        a.stop()
        b.stop()


def test_a_paused_holder_is_fenced_after_its_lease_moves(migrated, tmp_path):
    """The holder's actor is blocked (a pause) past its TTL; the standby takes the lease
    over. When the holder resumes, its write raises LeaseLost and it stands by."""
    a = FakeNode(migrated, str(tmp_path), "n-aaaaaa", ttl=1)
    b = FakeNode(migrated, str(tmp_path), "n-bbbbbb", ttl=1)
    gate = threading.Event()
    try:
        assert a.ask("held")
        outcome: list = []
        a.ctx.registry.tell("singleton", _Pause(gate, outcome))   # a's thread stops here
        wait_until(lambda: b.ask("held"), timeout=10, what="the standby takes over")
        gate.set()                                  # a resumes and writes, believing it leads
        wait_until(lambda: outcome, timeout=10, what="the paused holder's write")
        assert isinstance(outcome[0], LeaseLost)
        assert "no longer holds singleton:test (epoch 1)" in str(outcome[0])
        assert not a.ask("held")
        with b.store.connection():
            assert Written.select().count(b.store.db) == 0   # nothing from the ex-holder
        assert b.ask(Write()) == 2
    finally:
        gate.set()
        a.stop()
        b.stop()


@dataclass(frozen=True)
class _Pause:
    gate: threading.Event
    outcome: list
