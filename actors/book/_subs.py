"""Who hears about which intent: watch streams (by id or by user) and solver sessions.

Owned by the book's thread. A sink that raises is dropped (its stream is gone); sinks
never block (the gRPC side queues in an Outbox and disconnects a reader that lags).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ._views import IntentUpdateView

__all__ = ["Subscriptions", "Sink"]

# A stream's sink: each update, then None when the book stops (the stream ends).
Sink = Callable[[IntentUpdateView | None], None]

log = logging.getLogger("orbital.book")


class Subscriptions:
    def __init__(self) -> None:
        self._sinks: dict[str, Sink] = {}
        self._by_id: dict[str, set[str]] = {}
        self._by_user: dict[str, set[str]] = {}
        self._keys: dict[str, tuple[frozenset[str], str]] = {}

    def __len__(self) -> int:
        return len(self._sinks)

    def add(self, key: str, ids: frozenset[str], user: str,
            sink: Sink) -> None:
        self.remove(key)
        self._sinks[key] = sink
        self._keys[key] = (ids, user)
        for i in ids:
            self._by_id.setdefault(i, set()).add(key)
        if user:
            self._by_user.setdefault(user, set()).add(key)

    def remove(self, key: str) -> None:
        if self._sinks.pop(key, None) is None:
            return
        ids, user = self._keys.pop(key)
        for i in ids:
            keys = self._by_id.get(i)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_id[i]
        if user:
            keys = self._by_user.get(user)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_user[user]

    def close_all(self) -> None:
        """The book is stopping: every stream ends (they resume by after_version)."""
        for sink in list(self._sinks.values()):
            try:
                sink(None)
            except Exception:  # noqa: BLE001
                pass
        self._sinks.clear()
        self._by_id.clear()
        self._by_user.clear()
        self._keys.clear()

    def publish(self, update: IntentUpdateView) -> None:
        keys = self._by_id.get(update.intent.id, set()) | self._by_user.get(update.intent.user, set())
        for key in keys:
            sink = self._sinks.get(key)
            if sink is None:
                continue
            try:
                sink(update)
            except Exception:  # noqa: BLE001 - the stream is gone; forget it
                log.info("dropping a watch whose sink failed", extra={"key": key})
                self.remove(key)
