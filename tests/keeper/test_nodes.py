"""Two keepers on one PostgreSQL database (two nodes, each its own store and instance):
each scheduled time of a task runs on one node only, and a node starting while another
runs a task leaves that run alone."""

from __future__ import annotations

import os

import pytest

from actors import keeper
from actors.keeper import KeeperRun, KeeperTask, RunTask
from runtime import FailedPrecondition
from runtime.store import Store
from runtime.testing import FakeClock, wait_until

from .conftest import CALLS, T0, KeeperTree, gate, keeper_config


@pytest.fixture
def two_stores(pg_url, tmp_path):
    stores = [Store(pg_url, state_dir=str(tmp_path), node=f"node-{x}", instance=f"node-{x}-00000{x}",
                    migrations=keeper.MIGRATIONS) for x in "ab"]
    stores[0].migrate()
    for s in stores:   # both alive in the node registry, as a node's heartbeat keeps them
        s.heartbeat(pid=os.getpid(), host="test", grpc_listen="")
    yield stores
    for s in stores:
        s.close()


def _tree(store: Store, cfg, tmp_path, trees: list) -> KeeperTree:
    t = KeeperTree(store, cfg, FakeClock(), str(tmp_path), node_name=store.node)
    trees.append(t)
    return t


def _row(store: Store) -> KeeperTask:
    with store.connection():
        return KeeperTask.get_by_id("t")


def test_each_scheduled_time_runs_on_one_node_only(two_stores, tmp_path):
    cfg = keeper_config("    t: {cron: '*/10 * * * * *', action: record}\n")
    trees: list[KeeperTree] = []
    try:
        a, b = (_tree(s, cfg, tmp_path, trees) for s in two_stores)
        # A's timer fires first and its run ends before B's fires for the same time.
        a.clock.advance(10)
        a.finished(1)
        b.clock.advance(10)
        b.rec.wait_for("task_skipped", "keeper", task="t")
        assert len(CALLS) == 1 and not b.rec.of("task_started")
        # Both fire for the next time together: one claim wins.
        a.clock.advance(10)
        b.clock.advance(10)
        wait_until(lambda: _row(a.store).runs == 2 and _row(a.store).running_since is None,
                   what="the second time's run")
        a.tasks(), b.tasks()   # both keepers have handled their timer
        assert len(CALLS) == 2
        assert len(a.rec.of("task_started")) + len(b.rec.of("task_started")) == 2
        with a.store.connection():
            runs = list(KeeperRun.select().where(KeeperRun.task == "t"))
        assert len(runs) == 2 and all(r.error == "" for r in runs)
        assert sorted(r.started_at for r in runs) == [T0 + 10, T0 + 20]
    finally:
        for t in reversed(trees):
            t.stop()


def test_a_node_starting_during_another_nodes_run_leaves_it_alone(two_stores, tmp_path):
    g = gate("g")
    cfg = keeper_config("    t: {cron: '0 0 3 * * *', action: block, args: {gate: g}}\n")
    trees: list[KeeperTree] = []
    try:
        a = _tree(two_stores[0], cfg, tmp_path, trees)
        run = a.ask(RunTask("t"))
        b = _tree(two_stores[1], cfg, tmp_path, trees)   # starts while A's run goes on
        row = _row(b.store)
        assert row.run_id == run.run_id and row.owner == "node-a-00000a" and row.last_error == ""
        with pytest.raises(FailedPrecondition, match="running elsewhere"):
            b.ask(RunTask("t"))
        g.set()
        a.finished(1)
        row = _row(b.store)
        assert row.runs == 1 and row.last_result == "unblocked" and row.running_since is None
        assert len(CALLS) == 1
    finally:
        g.set()
        for t in reversed(trees):
            t.stop()


def _leased(ctx, args):
    CALLS.append((ctx.task, ctx.services.instance))
    return "done"


keeper.register_action("leased", _leased, lease="test:leased")


def test_a_singletons_task_runs_on_the_node_holding_its_lease(two_stores, tmp_path):
    """An action registered with ``lease`` (the book's sweeps: "book") is claimed only by
    the node holding that lease: the other skips the time, even when it fires first."""
    cfg = keeper_config("    t: {cron: '*/10 * * * * *', action: leased}\n")
    a_store, b_store = two_stores
    assert b_store.acquire_lease("test:leased", 60) is not None   # B's singleton holds it
    trees: list[KeeperTree] = []
    try:
        a, b = (_tree(s, cfg, tmp_path, trees) for s in two_stores)
        a.clock.advance(10)    # A first: it does not hold the lease
        skipped = a.rec.wait_for("task_skipped", "keeper", task="t")
        assert "holding lease 'test:leased'" in skipped[0].data["reason"]
        b.clock.advance(10)
        b.finished(1)
        assert [("t", b_store.instance)] == CALLS
    finally:
        for t in reversed(trees):
            t.stop()
