"""Restart backoff: unit tests of :class:`Backoff`, then the supervisor on a FakeClock.

A crashed child waits ``Backoff.delay(attempt)`` before its restart; meanwhile its path is
empty and messages to it fail fast with the typed ActorUnavailable.
"""

from __future__ import annotations

import random

import pytest

from runtime import ActorUnavailable, Backoff, StopChild, Unavailable

from .supkit import Crash, SetupFailures, Whoami, probe, sup

FIXED = Backoff(initial=1.0, maximum=4.0, multiplier=2.0, jitter=0.0, reset_after=10.0)


# ---- Backoff, the value ------------------------------------------------------------------
def test_delay_grows_exponentially_and_is_capped():
    assert [FIXED.delay(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 4.0, 4.0]
    assert [FIXED.bounds(n) for n in (1, 2, 3, 9)] == [(1, 1), (2, 2), (4, 4), (4, 4)]


def test_backoff_off_and_attempt_zero_mean_no_delay():
    assert Backoff(initial=0).delay(5) == 0.0 and Backoff(initial=0).bounds(5) == (0, 0)
    assert FIXED.delay(0) == 0.0


def test_jitter_stays_within_bounds_and_spreads():
    b = Backoff(initial=0.5, maximum=8.0, multiplier=3.0, jitter=0.4)
    rng = random.Random(7)
    for attempt in range(1, 8):
        lo, hi = b.bounds(attempt)
        assert hi == min(8.0, 0.5 * 3.0 ** (attempt - 1)) and lo == pytest.approx(hi * 0.6)
        draws = [b.delay(attempt, rng) for _ in range(300)]
        assert all(lo <= d <= hi for d in draws)
        assert max(draws) - min(draws) > (hi - lo) * 0.8     # really jittered


def test_huge_attempt_numbers_do_not_overflow():
    b = Backoff(initial=0.1, maximum=30.0)
    assert b.delay(100_000) <= 30.0 and b.bounds(100_000)[1] == 30.0
    assert Backoff(initial=0.1, maximum=30.0, jitter=0).delay(5000) == 30.0


# ---- the supervisor on a FakeClock -----------------------------------------------------
def start(tree, backoff=FIXED, **kw):
    t = tree(sup(probe("a"), probe("b"), backoff=backoff, intensity=100, period=1, **kw))
    return t, t.uid("b")


def crash_b(t, attempt: int) -> float:
    """Crash b, return the announced delay once the supervisor scheduled the restart."""
    t.reg.tell("b", Crash())
    [ev] = [e for e in t.rec.wait_for("restarting", "b", count=attempt)][attempt - 1:]
    assert ev.data["attempt"] == attempt
    return ev.data["delay"]


def test_not_restarted_before_the_delay_restarted_after(tree, clock):
    t, old = start(tree)
    assert crash_b(t, 1) == 1.0
    assert clock.pending() == [clock.now() + 1.0]
    clock.advance(0.999)
    assert t.describe()["b"].state == "restarting"
    assert t.rec.of("restarted") == []
    clock.advance(0.002)
    t.rec.wait_for("restarted", "b")
    assert t.uid("b") != old and t.describe()["b"].state == "running"


def test_messages_to_a_child_waiting_for_its_restart_fail_fast_then_reach_the_new_one(
        tree, clock):
    t, old = start(tree)
    crash_b(t, 1)
    with pytest.raises(ActorUnavailable) as caught:
        t.reg.ask("b", Whoami())
    assert isinstance(caught.value, Unavailable) and caught.value.path == "b"
    assert caught.value.code.name == "UNAVAILABLE"
    with pytest.raises(ActorUnavailable):
        t.reg.tell("b", Whoami())
    with pytest.raises(ActorUnavailable):
        t.reg.future("b", Whoami())
    assert t.uid("a")                          # the sibling is unaffected
    clock.advance(1.0)
    t.rec.wait_for("restarted", "b")
    assert t.uid("b") != old
    t.reg.tell("b", Whoami())                  # tell works again, too


def test_consecutive_failures_double_the_delay_up_to_the_maximum(tree, clock):
    t, _ = start(tree)
    delays = []
    for attempt in range(1, 6):
        delays.append(crash_b(t, attempt))
        clock.advance(delays[-1])
        t.rec.wait_for("restarted", "b", count=attempt)
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_delay_resets_after_a_stable_period(tree, clock):
    t, _ = start(tree)
    for attempt, expected in [(1, 1.0), (2, 2.0)]:
        assert crash_b(t, attempt) == expected
        clock.advance(expected)
        t.rec.wait_for("restarted", "b", count=attempt)
    clock.advance(9.9)                         # up 9.9 s < reset_after: still unstable
    assert crash_b(t, 3) == 4.0
    clock.advance(4.0)
    t.rec.wait_for("restarted", "b", count=3)
    clock.advance(10.0)                        # up for reset_after: back to the start
    t.reg.tell("b", Crash())
    ev = t.rec.wait_for("restarting", "b", count=4)[-1]
    assert (ev.data["attempt"], ev.data["delay"]) == (1, 1.0)


def test_jittered_delays_are_within_bounds_and_scheduled_as_announced(tree, clock):
    jittery = Backoff(initial=1.0, maximum=100.0, multiplier=2.0, jitter=0.5)
    t, _ = start(tree, jittery)
    for attempt in range(1, 6):
        delay = crash_b(t, attempt)
        lo, hi = jittery.bounds(attempt)
        assert lo <= delay <= hi
        assert clock.pending() == [pytest.approx(clock.now() + delay)]
        clock.advance(delay)
        t.rec.wait_for("restarted", "b", count=attempt)


def test_each_child_backs_off_on_its_own_count(tree, clock):
    t, _ = start(tree)
    crash_b(t, 1)
    clock.advance(1.0)
    t.rec.wait_for("restarted", "b")
    t.reg.tell("a", Crash())
    ev = t.rec.wait_for("restarting", "a")[0]
    assert (ev.data["attempt"], ev.data["delay"]) == (1, 1.0)


def test_stopping_a_child_cancels_its_pending_restart(tree, clock):
    t, _ = start(tree)
    crash_b(t, 1)
    assert t.ask(StopChild("b")) == "b"
    clock.advance(5.0)
    t.describe()                               # a barrier: any restart would be done
    assert t.rec.of("restarted") == [] and t.describe()["b"].state == "stopped"
    with pytest.raises(ActorUnavailable):
        t.who("b")


def test_stopping_the_tree_while_a_restart_is_pending(tree, clock):
    t, _ = start(tree)
    crash_b(t, 1)
    t.stop()
    clock.advance(5.0)                         # the timer fires into a dead supervisor
    assert t.rec.of("restarted") == []
    assert t.exits == [None]


def test_a_failing_setup_keeps_backing_off_even_after_a_long_stable_run(tree, clock):
    """The stable period is the time the child *ran*; failed starts never reset it."""
    failures = SetupFailures(0)
    t = tree(sup(probe("a"), probe("b", failures=failures), backoff=FIXED, intensity=100))
    clock.advance(60)                          # b ran for long: the next crash is "fresh"
    failures.remaining = 3
    t.reg.tell("b", Crash())
    delays = [t.rec.wait_for("restarting", "b")[0].data["delay"]]
    for attempt in range(2, 5):
        clock.advance(delays[-1])
        delays.append(t.rec.wait_for("restarting", "b", count=attempt)[-1].data["delay"])
    clock.advance(delays[-1])
    t.rec.wait_for("restarted", "b")
    assert delays == [1.0, 2.0, 4.0, 4.0] and failures.raised == 3
