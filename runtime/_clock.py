"""Time as a dependency: supervisors and actors read and schedule time only through a clock.

The real clock runs timers on one scheduler thread (not a thread per timer); tests use
:class:`runtime.testing.FakeClock`, which fires timers only when the test advances it, so
concurrency tests never sleep.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from typing import Protocol
from collections.abc import Callable

__all__ = ["Clock", "MonotonicClock", "Timer"]


class Timer:
    """Handle of a scheduled callback; :meth:`cancel` is safe from any thread, any time."""

    __slots__ = ("due", "fn", "cancelled")

    def __init__(self, due: float, fn: Callable[[], None]) -> None:
        self.due, self.fn, self.cancelled = due, fn, False

    def cancel(self) -> None:
        self.cancelled = True


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""

    def wall(self) -> float:
        """Unix time in seconds (for timestamps shown to people)."""

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        """Run ``fn`` (quickly, it must not block) after ``delay`` seconds."""


class MonotonicClock:
    """The production clock: ``time.monotonic`` plus one daemon scheduler thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    def call_later(self, delay: float, fn: Callable[[], None]) -> Timer:
        timer = Timer(self.now() + max(0.0, delay), fn)
        with self._cond:
            heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="orbital-clock", daemon=True)
                self._thread.start()
            # The scheduler sleeps until the earliest timer: only a new earliest one changes
            # that. (A wake-up per timer cost the book a thread hand-over per auction.)
            if self._heap[0][2] is timer:
                self._cond.notify()
        return timer

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._heap or self._heap[0][0] > self.now():
                    timeout = (self._heap[0][0] - self.now()) if self._heap else None
                    self._cond.wait(timeout)
                _, _, timer = heapq.heappop(self._heap)
            if not timer.cancelled:
                try:
                    timer.fn()
                except Exception:  # a timer callback must never kill the scheduler
                    import logging
                    logging.getLogger("orbital.clock").exception("timer callback failed")
