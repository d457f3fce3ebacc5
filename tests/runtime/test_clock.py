"""The production clock's scheduler: timers fire in due order, and only a new earliest
timer wakes the scheduler thread (one wake-up per timer was a thread hand-over each)."""

from __future__ import annotations

import threading

from runtime import MonotonicClock
from runtime.testing import wait_until


class _Counting(threading.Condition):
    def __init__(self) -> None:
        super().__init__()
        self.notified = 0

    def notify(self, n: int = 1) -> None:
        self.notified += 1
        super().notify(n)


def test_timers_fire_in_due_order_and_only_a_new_earliest_wakes_the_scheduler():
    clock = MonotonicClock()
    cond = clock._cond = _Counting()   # noqa: SLF001 - the wake-ups are the subject
    fired: list[str] = []
    clock.call_later(0.2, lambda: fired.append("c"))     # earliest so far: wakes
    clock.call_later(60, lambda: fired.append("never"))  # later: no wake-up
    clock.call_later(0.3, lambda: fired.append("d"))     # later: no wake-up
    clock.call_later(0.05, lambda: fired.append("a"))    # new earliest: wakes
    clock.call_later(0.1, lambda: fired.append("b"))     # later than a: no wake-up
    assert cond.notified == 2
    wait_until(lambda: len(fired) == 4, what="four timers")
    assert fired == ["a", "b", "c", "d"]
