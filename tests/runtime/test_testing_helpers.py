"""The helpers the suite stands on: FakeClock, EventRecorder, and the real clock."""

from __future__ import annotations

import threading

import pytest

from runtime import Event, EventBus, MonotonicClock
from runtime.testing import EventRecorder, FakeClock


def test_fake_clock_fires_due_timers_in_order_and_skips_cancelled_ones():
    clock, fired = FakeClock(start=0.0), []
    clock.call_later(2, lambda: fired.append(("b", clock.now())))
    clock.call_later(1, lambda: fired.append(("a", clock.now())))
    clock.call_later(3, lambda: fired.append("never")).cancel()
    clock.call_later(5, lambda: fired.append(("late", clock.now())))
    assert clock.pending() == [1, 2, 5]
    clock.advance(0.5)
    assert fired == [] and clock.now() == 0.5
    clock.advance(3)
    assert fired == [("a", 1), ("b", 2)] and clock.now() == 3.5
    assert clock.pending() == [5]
    assert clock.wall() == 3.5 + 1.7e9


def test_fake_clock_runs_timers_scheduled_by_timers_within_the_same_advance():
    clock, fired = FakeClock(start=0.0), []
    clock.call_later(1, lambda: clock.call_later(1, lambda: fired.append(clock.now())))
    clock.advance(1.5)
    assert fired == []
    clock.advance(0.5)
    assert fired == [2.0]


def test_event_recorder_waits_filters_and_times_out():
    bus = EventBus()
    rec = EventRecorder(bus)
    threading.Thread(target=lambda: [bus.publish(Event("started", p, 0.0, {"n": i}))
                                     for i, p in enumerate("aba")]).start()
    assert [e.data["n"] for e in rec.wait_for("started", "a", count=2)] == [0, 2]
    assert rec.wait_for("started", n=1)[0].path == "b"
    with pytest.raises(AssertionError, match="timed out waiting"):
        rec.wait_for("stopped", timeout=0.05)
    rec.unsubscribe()
    bus.publish(Event("stopped", "a", 0.0))
    assert rec.of("stopped") == []


def test_a_failing_subscriber_does_not_stop_the_others():
    bus, seen = EventBus(), []
    bus.subscribe(lambda e: 1 / 0)
    bus.subscribe(seen.append)
    bus.publish(Event("started", "a", 0.0))
    assert [e.path for e in seen] == ["a"]


def test_monotonic_clock_fires_in_due_order_and_honours_cancel():
    clock, fired, done = MonotonicClock(), [], threading.Event()
    clock.call_later(0.03, lambda: (fired.append("late"), done.set()))
    clock.call_later(0.01, lambda: fired.append("early"))
    clock.call_later(0.02, lambda: fired.append("cancelled")).cancel()
    clock.call_later(0.0, lambda: 1 / 0)      # a failing callback does not kill the thread
    assert done.wait(5)
    assert fired == ["early", "late"]
