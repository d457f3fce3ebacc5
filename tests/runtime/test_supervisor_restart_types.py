"""Restart type x exit reason (OTP: permanent / transient / temporary children).

| exit                          | permanent | transient | temporary |
|-------------------------------|-----------|-----------|-----------|
| normal (``self.stop()``)      | restart   | stays down| removed   |
| exception in a told message   | restart   | restart   | removed   |
| exception in an asked message | restart   | restart   | removed   |
| typed OrbitalError when asked | lives     | lives     | lives     |

plus a failing ``setup()`` during the restart, which is itself a failure: retried (and
counted against the intensity) until setup succeeds.
"""

from __future__ import annotations

import pytest

from runtime import ActorUnavailable, NotFound, OrbitalError, Restart
from runtime.testing import start_tree

from .supkit import Crash, Exit, HangOnce, Journal, SetupFailures, Typed, Whoami, probe, sup

P, T, TMP = Restart.PERMANENT, Restart.TRANSIENT, Restart.TEMPORARY


def start(tree, restart: Restart, **cfg):
    t = tree(sup(probe("first"), probe("kid", restart, **cfg), probe("last")))
    return t, t.uid("kid")


def end_exit(t, how: str) -> None:
    """Make ``kid`` exit ``how``; return once its supervisor has decided what to do."""
    if how == "normal":
        t.reg.ask("kid", Exit())
    elif how == "told":
        t.reg.tell("kid", Crash("told boom"))
    else:
        with pytest.raises(RuntimeError, match="asked boom") as caught:
            t.reg.ask("kid", Crash("asked boom"))
        assert not isinstance(caught.value, OrbitalError)
    t.rec.wait_for("exited", "kid")
    t.describe()  # a round trip to the supervisor: the exit has been handled


RESTARTED = [(P, "normal"), (P, "told"), (P, "asked"), (T, "told"), (T, "asked")]


@pytest.mark.parametrize("restart,how", RESTARTED)
def test_restarted(tree, restart, how):
    t, old = start(tree, restart)
    end_exit(t, how)
    t.rec.wait_for("restarted", "kid")
    new = t.who("kid")
    assert new.uid != old and new.generation == 2
    info = t.describe()["kid"]
    assert (info.state, info.restarts) == ("running", 1)
    [exited] = t.rec.of("exited", "kid")
    if how == "normal":
        assert exited.data["reason"] == "normal" and info.last_error == ""
    else:
        assert f"{how} boom" in exited.data["reason"] and f"{how} boom" in info.last_error


@pytest.mark.parametrize("how", ["normal"])
def test_transient_normal_exit_stays_down(tree, how):
    t, _ = start(tree, T)
    end_exit(t, how)
    info = t.describe()["kid"]
    assert (info.state, info.restarts) == ("stopped", 0)
    assert t.rec.of("restarting") == [] and t.rec.of("restarted") == []
    with pytest.raises(ActorUnavailable):
        t.reg.ask("kid", Whoami())
    assert "kid" not in t.reg.paths()


@pytest.mark.parametrize("how", ["normal", "told", "asked"])
def test_temporary_is_removed_whatever_the_reason(tree, how):
    t, _ = start(tree, TMP)
    end_exit(t, how)
    assert list(t.describe()) == ["first", "last"]
    assert t.rec.of("restarting") == []
    with pytest.raises(ActorUnavailable) as caught:
        t.reg.tell("kid", Whoami())
    assert caught.value.path == "kid"


@pytest.mark.parametrize("restart", [P, T, TMP])
def test_typed_error_answers_the_caller_and_the_actor_lives(tree, restart):
    t, old = start(tree, restart)
    with pytest.raises(NotFound) as caught:
        t.reg.ask("kid", Typed("no such order"))
    assert caught.value.violations == [("thing", "no such order")]
    assert t.uid("kid") == old                 # same instance answers afterwards
    t.describe()
    assert t.rec.of("exited") == [] and t.describe()["kid"].restarts == 0


@pytest.mark.parametrize("restart", [P, T])
def test_setup_failing_during_restart_is_retried_until_it_succeeds(tree, restart):
    failures = SetupFailures(0)
    t, old = start(tree, restart, failures=failures)
    failures.remaining = 2
    t.reg.tell("kid", Crash())
    t.rec.wait_for("restarted", "kid")
    assert failures.raised == 2
    assert t.uid("kid") != old
    exits = t.rec.of("exited", "kid")
    # one event per failure: the crash, then each failed start
    assert len(exits) == 3, [e.data for e in exits]
    assert [e.data.get("during") for e in exits] == [None, "start", "start"]
    assert [e.data["attempt"] for e in t.rec.of("restarting", "kid")] == [1, 2, 3]
    info = t.describe()["kid"]
    assert info.state == "running" and "setup failed on purpose" in info.last_error


def test_temporary_child_is_not_restarted_so_its_setup_is_not_run_again(tree):
    failures = SetupFailures(0)
    t, _ = start(tree, TMP, failures=failures)
    failures.remaining = -1
    t.reg.tell("kid", Crash())
    t.rec.wait_for("exited", "kid")
    assert "kid" not in t.describe() and failures.raised == 0


def test_teardown_runs_after_a_crash_and_after_a_normal_exit(tree):
    journal = Journal()
    t = tree(sup(probe("a", journal=journal), probe("b", T, journal=journal)))
    t.reg.tell("a", Crash())
    t.rec.wait_for("restarted", "a")
    t.reg.ask("b", Exit())
    t.rec.wait_for("exited", "b")
    assert journal.of("teardown") == ["a", "b"]
    assert journal.of("setup") == ["a", "b", "a"]


def test_failing_setup_at_first_start_fails_the_tree_and_stops_started_siblings(clock):
    journal = Journal()
    spec = sup(probe("a", journal=journal), probe("b", journal=journal),
               probe("c", journal=journal, failures=SetupFailures(-1)), probe("d"))
    exits = []
    with pytest.raises(RuntimeError, match="c failed to start"):
        start_tree(spec, clock=clock, on_exit=exits.append)
    assert journal.of("setup") == ["a", "b"]
    # c's teardown releases what its setup got before failing; then b, a in reverse
    assert journal.of("teardown") == ["c", "b", "a"]
    assert len(exits) == 1 and isinstance(exits[0], RuntimeError)


@pytest.mark.parametrize("restart", [P, T, TMP])
def test_typed_error_in_a_told_message_is_logged_and_the_actor_lives(tree, restart, caplog):
    t, old = start(tree, restart)
    with caplog.at_level("WARNING", logger="orbital.actor"):
        t.reg.tell("kid", Typed("stale quote"))
        assert t.uid("kid") == old             # the tell was handled before this ask
    [rec] = [r for r in caplog.records if r.name == "orbital.actor"]
    assert rec.path == "kid" and "stale quote" in rec.getMessage()
    t.describe()
    assert t.rec.of("exited") == []


def test_a_restart_whose_setup_hangs_past_start_timeout_fails_and_is_retried(tree):
    hang = HangOnce()
    t = tree(sup(probe("a"), probe("kid", hang=hang), start_timeout=0.2))
    hang.armed = True
    try:
        t.reg.tell("kid", Crash())
        t.rec.wait_for("restarted", "kid")     # the second attempt does not hang
        assert hang.gate.entered.is_set()
        [failed_start] = [e for e in t.rec.of("exited", "kid") if e.data.get("during")]
        assert "Timeout" in failed_start.data["reason"]
        assert t.who("kid").generation == 3   # 1 crashed, 2 abandoned in setup, 3 runs
    finally:
        hang.gate.release.set()
