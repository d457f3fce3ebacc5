"""Lifecycle events of the tree, published synchronously to subscribers.

Supervisors publish what happens to their children (started, exited, restarting,
restarted, stopped, abandoned, escalated). Logging and metrics subscribe; so do tests,
through :class:`runtime.testing.EventRecorder`, to wait for a restart without sleeping.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable

__all__ = ["Event", "EventBus"]

log = logging.getLogger("orbital.events")


@dataclass(frozen=True)
class Event:
    kind: str            # started | exited | restarting | restarted | stopped | abandoned | escalated
    path: str
    at: float            # clock.now()
    data: dict[str, Any] = field(default_factory=dict)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Callable[[Event], None]] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Callable[[Event], None]) -> Callable[[], None]:
        with self._lock:
            self._subs = [*self._subs, fn]

        def unsubscribe() -> None:
            with self._lock:
                self._subs = [s for s in self._subs if s is not fn]
        return unsubscribe

    def publish(self, event: Event) -> None:
        for fn in self._subs:  # copy-on-write list: no lock needed to iterate
            try:
                fn(event)
            except Exception:
                log.exception("event subscriber failed")
