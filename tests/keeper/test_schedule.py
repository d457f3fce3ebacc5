"""The keeper actor on a FakeClock over a real store: cron, overlap, misfire, persistence."""

from __future__ import annotations

import pytest

from actors.keeper import KeeperRun, KeeperTask, next_time
from actors.keeper import PauseTask, ResumeTask, RunTask
from runtime import FailedPrecondition, NotFound
from runtime.testing import FakeClock

from .conftest import CALLS, T0, gate, keeper_config


def test_next_time_seconds_field_first_and_utc():
    assert next_time("*/10 * * * * *", T0) == T0 + 10
    assert next_time("30 * * * * *", T0) == T0 + 30
    assert next_time("* * * * *", T0) == T0 + 60
    assert next_time("0 0 3 * * *", T0) == T0 + (4 * 3600 + 30 * 60)  # 22:30 -> 03:00
    assert next_time("@hourly", T0) == T0 + 30 * 60


def test_seconds_cron_fires_at_the_right_fake_times(keeper_tree):
    k = keeper_tree(keeper_config("    tick: {cron: '*/10 * * * * *', action: record}\n"))
    assert k.tasks()["tick"].next_run_at == T0 + 10
    k.clock.advance(9.5)
    assert k.tasks()["tick"].runs == 0 and CALLS == []
    k.clock.advance(0.5)
    [ev] = k.finished(1)
    assert ev.data["trigger"] == "cron" and ev.data["result"] == "ok"
    info = k.tasks()["tick"]
    assert info.last_run_at == T0 + 10 and info.next_run_at == T0 + 20
    for i in range(2, 5):
        k.clock.advance(10)
        k.finished(i)
        assert k.tasks()["tick"].next_run_at == T0 + 10 * (i + 1)
    assert len(CALLS) == 4
    with k.store.connection():
        assert KeeperRun.select().where(KeeperRun.task == "tick").count() == 4


def test_minute_cron_fires_once_a_minute(keeper_tree):
    k = keeper_tree(keeper_config("    m: {cron: '*/2 * * * *', action: record}\n"))
    assert k.tasks()["m"].next_run_at == T0 + 120  # 22:32
    k.clock.advance(119)
    assert k.tasks()["m"].runs == 0
    k.clock.advance(1)
    k.finished(1)
    k.clock.advance(60)
    assert k.tasks()["m"].runs == 1
    k.clock.advance(60)
    k.finished(2)
    assert k.tasks()["m"].next_run_at == T0 + 360


def test_no_overlap_run_now_refused_and_cron_tick_skipped(keeper_tree):
    g = gate("slow")
    k = keeper_tree(keeper_config(
        "    slow: {cron: '*/10 * * * * *', action: block, args: {gate: slow}}\n"))
    started = k.ask(RunTask("slow"))
    assert started.task.running
    with pytest.raises(FailedPrecondition, match="is running"):
        k.ask(RunTask("slow"))
    k.clock.advance(10)  # a cron time during the run
    k.rec.wait_for("task_skipped", "keeper", task="slow")
    info = k.tasks()["slow"]
    assert info.running and info.skipped == 1 and info.next_run_at == T0 + 20
    assert len(k.rec.of("task_started")) == 1 and len(CALLS) == 1
    g.set()
    [ev] = k.finished(1)
    assert ev.data["run_id"] == started.run_id and ev.data["result"] == "unblocked"
    info = k.tasks()["slow"]
    assert not info.running and info.runs == 1 and info.last_result == "unblocked"
    k.clock.advance(10)  # the next cron time runs again
    k.finished(2)
    assert len(CALLS) == 2


def test_pause_resume_and_unknown_task(keeper_tree):
    k = keeper_tree(keeper_config("    t: {cron: '*/10 * * * * *', action: record}\n"))
    info = k.ask(PauseTask("t"))
    assert info.paused and info.next_run_at is None
    k.clock.advance(60)
    assert k.tasks()["t"].runs == 0 and CALLS == []
    assert k.ask(PauseTask("t")).paused  # idempotent
    info = k.ask(ResumeTask("t"))
    assert not info.paused and info.next_run_at == T0 + 70  # from now, no catch-up
    k.clock.advance(10)
    k.finished(1)
    with pytest.raises(NotFound, match="no task 'nope'"):
        k.ask(RunTask("nope"))
    with pytest.raises(NotFound):
        k.ask(PauseTask("nope"))


def test_run_now_of_a_paused_task_and_failures_recorded(keeper_tree):
    k = keeper_tree(keeper_config(
        "    bad: {cron: '0 0 3 * * *', action: fail, paused: true}\n"))
    assert k.tasks()["bad"].paused
    k.ask(RunTask("bad"))
    [ev] = k.finished(1)
    assert ev.data["error"] == "RuntimeError: boom"
    info = k.tasks()["bad"]
    assert info.last_error == "RuntimeError: boom" and info.last_result == "" and info.paused


def test_timeout_cancels_cooperatively_and_is_recorded(keeper_tree):
    k = keeper_tree(keeper_config(
        "    t: {cron: '0 0 3 * * *', action: until_cancelled, timeout: 5}\n"))
    k.ask(RunTask("t"))
    k.clock.advance(4.9)
    assert k.tasks()["t"].running
    k.clock.advance(0.1)
    k.rec.wait_for("task_timed_out", "keeper")
    [ev] = k.finished(1)
    assert ev.data["error"] == "timed out after 5s"
    assert k.tasks()["t"].last_result == "stopped early"


def test_history_is_bounded_and_prune_deletes_old_runs(keeper_tree):
    k = keeper_tree(keeper_config(
        "    r: {cron: '0 0 3 * * *', action: record}\n"
        "    prune-runs: {cron: '0 0 3 * * *', action: prune,"
        " args: {table: keeper_run, days: 1}}\n", history=3))
    for i in range(1, 6):
        k.ask(RunTask("r"))
        k.finished(i, task="r")
    with k.store.connection():
        assert KeeperRun.select().where(KeeperRun.task == "r").count() == 3
        KeeperRun.update(started_at=T0 - 2 * 86400).where(KeeperRun.task == "r").execute()
    k.ask(RunTask("prune-runs"))
    [ev] = k.finished(1, task="prune-runs")
    assert ev.data["result"].startswith("deleted 3 rows of keeper_run"), ev.data
    with k.store.connection():
        assert [r.task for r in KeeperRun.select()] == ["prune-runs"]


# ---- restarts: state from the store ---------------------------------------------------------
EVERY_MINUTE = "    t: {{cron: '* * * * *', action: record, misfire: {misfire}}}\n"


@pytest.mark.parametrize("misfire, runs", [("run_once", 1), ("skip", 0)])
def test_misfire_after_downtime(keeper_tree, misfire, runs):
    cfg = keeper_config(EVERY_MINUTE.format(misfire=misfire))
    k1 = keeper_tree(cfg)
    assert k1.tasks()["t"].next_run_at == T0 + 60
    k1.stop()
    # ten minutes of downtime: ten times missed
    k2 = keeper_tree(cfg, clock=FakeClock(start=1000.0 + 600 + 15))
    k2.tasks()  # barrier: a misfire run is told during setup, so it has started by now
    if runs:
        [ev] = k2.finished(1)
        assert ev.data["trigger"] == "misfire"
    info = k2.tasks()["t"]
    assert info.runs == runs and len(CALLS) == runs
    assert len(k2.rec.of("task_started")) == runs
    assert info.next_run_at == T0 + 660  # the next whole minute after the restart
    k2.rec.wait_for("task_missed", "keeper", policy=misfire)
    with k2.store.connection():
        assert KeeperRun.select().count() == runs


def test_pause_state_and_last_next_run_survive_a_restart(keeper_tree):
    cfg = keeper_config("    p: {cron: '* * * * *', action: record}\n"
                        "    q: {cron: '*/10 * * * * *', action: record}\n")
    k1 = keeper_tree(cfg)
    k1.ask(RunTask("p"))
    k1.finished(1, task="p")
    k1.ask(PauseTask("p"))
    k1.clock.advance(10)
    k1.finished(1, task="q")
    before = k1.tasks()
    k1.stop()
    k2 = keeper_tree(cfg, clock=FakeClock(start=1000.0 + 15))  # q's next (T0+20) not due yet
    after = k2.tasks()
    assert after["p"].paused and after["p"].next_run_at is None
    assert after["p"].last_run_at == before["p"].last_run_at == T0
    assert after["p"].runs == 1 and after["p"].last_result == "ok"
    assert after["q"].next_run_at == before["q"].next_run_at == T0 + 20
    assert after["q"].last_run_at == T0 + 10 and after["q"].runs == 1
    k2.clock.advance(5)
    k2.finished(1, task="q")  # q goes on from its stored next run
    k2.ask(PauseTask("q"))
    assert k2.clock.pending() == []  # p stays paused across the restart: nothing armed
    k2.clock.advance(600)
    assert k2.tasks()["p"].runs == 1
    assert [e.data["task"] for e in k2.rec.of("task_started")] == ["q"]
    with k2.store.connection():
        assert KeeperTask.get_by_id("p").paused


def test_run_cut_by_a_stop_is_recorded_as_interrupted(keeper_tree, store):
    """A run whose keeper is gone is closed at the next start (here: a crashed node)."""
    cfg = keeper_config("    t: {cron: '0 0 3 * * *', action: record}\n")
    with store.connection():
        KeeperTask.create(name="t", cron="0 0 3 * * *", running_since=T0 - 5,
                          run_id="deadbeef", next_run_at=T0 + 3600)
        KeeperRun.create(task="t", run_id="deadbeef", trigger="cron", started_at=T0 - 5)
    k = keeper_tree(cfg)
    info = k.tasks()["t"]
    assert not info.running and info.last_error.startswith("interrupted")
    k.ask(RunTask("t"))  # free again
    k.finished(1)
    with store.connection():
        assert KeeperRun.get(KeeperRun.run_id == "deadbeef").error.startswith("interrupted")


def test_restart_during_a_run_adopts_it_no_second_run(keeper_tree):
    g = gate("g")
    cfg = keeper_config("    t: {cron: '*/10 * * * * *', action: block, args: {gate: g}}\n")
    k1 = keeper_tree(cfg)
    run = k1.ask(RunTask("t"))
    k1.stop()                        # the body goes on in its thread
    k2 = keeper_tree(cfg)
    assert k2.tasks()["t"].running   # adopted, not interrupted
    with pytest.raises(FailedPrecondition):
        k2.ask(RunTask("t"))
    g.set()
    [ev] = k2.finished(1)            # the new keeper is told the end
    assert ev.data["run_id"] == run.run_id
    info = k2.tasks()["t"]
    assert info.last_result == "unblocked" and info.runs == 1 and not info.running
    assert len(CALLS) == 1
