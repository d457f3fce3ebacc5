"""Actors find each other by path (``intents/book``), never by holding each other's objects.

The registry maps a path to the actor currently running there. A restarted actor gets a
new entry; while a path is empty (restarting, stopped) a message to it fails fast with
:class:`ActorUnavailable` instead of waiting in a queue nobody reads.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pykka

from ._loop_ask import ask_on_loop
from ._errors import ActorUnavailable

__all__ = ["Registry"]


class Registry:
    def __init__(self) -> None:
        self._refs: dict[str, pykka.ActorRef] = {}
        self._lock = threading.Lock()

    def register(self, path: str, ref: pykka.ActorRef) -> None:
        with self._lock:
            self._refs[path] = ref

    def unregister(self, path: str, ref: pykka.ActorRef | None = None) -> None:
        """Remove ``path``; with ``ref``, only if that very actor is still the one there."""
        with self._lock:
            if ref is None or self._refs.get(path) is ref:
                self._refs.pop(path, None)

    def lookup(self, path: str) -> pykka.ActorRef:
        ref = self._refs.get(path)
        if ref is None or not ref.is_alive():
            raise ActorUnavailable(path, "not running (never started, restarting or stopped)")
        return ref

    def paths(self, prefix: str = "") -> list[str]:
        return sorted(p for p in list(self._refs) if p.startswith(prefix))

    def tell(self, path: str, message: Any) -> None:
        # The hot path of the runtime: one dict lookup, and pykka's own liveness check.
        ref = self._refs.get(path)
        if ref is None:
            raise ActorUnavailable(path, "not running (never started, restarting or stopped)")
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            raise ActorUnavailable(path, "not running (restarting or stopped)") from None

    def ask(self, path: str, message: Any, timeout: float | None = 10.0) -> Any:
        """Send and wait for the reply; typed errors raised by the actor reach the caller."""
        ref = self._refs.get(path)
        if ref is None:
            raise ActorUnavailable(path, "not running (never started, restarting or stopped)")
        try:
            return ref.ask(message, timeout=timeout)
        except pykka.ActorDeadError:
            raise ActorUnavailable(path, "stopping") from None
        except pykka.Timeout:
            raise ActorUnavailable(path, f"not answering within {timeout}s") from None

    async def ask_async(self, path: str, message: Any, timeout: float = 10.0) -> Any:
        """:meth:`ask` for a coroutine on the running event loop (a gRPC servicer): no
        thread waits for the reply; same errors."""
        return await ask_on_loop(self.lookup(path), path, message, timeout)

    def future(self, path: str, message: Any) -> pykka.Future:
        try:
            return self.lookup(path).ask(message, block=False)
        except pykka.ActorDeadError:
            raise ActorUnavailable(path, "stopping") from None

    def mailbox_depths(self) -> dict[str, int]:
        out = {}
        for path, ref in list(self._refs.items()):
            # pykka types the inbox as a put/get/empty protocol; a ThreadingActor's (every
            # actor here) is a queue.Queue, which has the depth
            inbox = ref.actor_inbox
            if isinstance(inbox, queue.Queue):
                out[path] = inbox.qsize()
        return out
