"""A bounded queue from actor threads to one server stream on the gRPC loop.

Actors never block on a client: they :meth:`Outbox.push` (thread-safe, non-blocking) and
the stream handler drains the outbox on the loop. When a reader stops reading, HTTP/2 flow
control stalls the handler's writes, the outbox fills up, and at ``maxsize`` unread
messages the stream is ended with RESOURCE_EXHAUSTED and a reason: a slow consumer costs
at most ``maxsize`` messages of memory, never more.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator
from typing import Any

import grpc

from .._errors import OrbitalError, ResourceExhausted

__all__ = ["Outbox", "push_all"]


class Outbox:
    """Create it on the loop (inside the handler); push from any thread; iterate on the loop."""

    ABORT_GRACE = 1.0   # seconds a closed stream's handler has to end the call itself

    def __init__(self, context: grpc.aio.ServicerContext, maxsize: int, *,
                 what: str = "stream") -> None:
        self.context = context
        self.loop = asyncio.get_running_loop()
        self.maxsize = maxsize
        self.what = what
        self._items: collections.deque[Any] = collections.deque()
        self._wake = asyncio.Event()
        self._closed: OrbitalError | None = None
        self._ended = False
        self._in_write = False   # drain() handed an item out and is not resumed yet
        self._abort_later: asyncio.TimerHandle | None = None

    # ---- any thread ----------------------------------------------------------------
    def push(self, item: Any) -> None:
        self.loop.call_soon_threadsafe(self._put, item)

    def close(self, error: OrbitalError | None = None) -> None:
        """End the stream: normally (``None``, after what is queued) or with ``error`` now."""
        self.loop.call_soon_threadsafe(self._close, error)

    # ---- loop ----------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._ended or self._closed is not None

    def _put(self, item: Any) -> None:
        if self.closed:
            return
        if len(self._items) >= self.maxsize:
            self._close(ResourceExhausted(
                f"{self.what}: the reader fell {self.maxsize} messages behind and was "
                "disconnected; reconnect (and resume) when ready to read"))
            return
        self._items.append(item)
        self._wake.set()

    def _close(self, error: OrbitalError | None) -> None:
        if self.closed:
            return
        if error is None:
            self._ended = True
            self._wake.set()
            return
        self._closed = error
        self._items.clear()
        self._wake.set()
        # A handler parked in a write the reader never drains cannot raise the error
        # itself: the call is ended from a task of its own (the status goes out as trailers,
        # which flow control lets pass). Otherwise the handler, woken, raises it from drain()
        # and ends the call once; a second abort racing it from another task could leave
        # the call open. A handler parked in a write outside drain() (its first messages)
        # is ended by the same task after a grace period, unless drain() raised first.
        if self._in_write:
            self._aborter = asyncio.ensure_future(self._abort(error))
        else:
            self._abort_later = self.loop.call_later(
                self.ABORT_GRACE, lambda: setattr(
                    self, "_aborter", asyncio.ensure_future(self._abort(error))))

    async def _abort(self, error: OrbitalError) -> None:
        try:
            await self.context.abort(error.code, error.message)
        except Exception:  # noqa: BLE001 - abort raises by design once the status is sent
            pass

    def error(self) -> OrbitalError | None:
        return self._closed

    async def drain(self) -> AsyncIterator[Any]:
        """Yield queued items until closed; raises the close error, if any."""
        while True:
            while self._items:
                if self._closed is not None:
                    break
                self._in_write = True
                yield self._items.popleft()
                self._in_write = False
            if self._closed is not None:
                if self._abort_later is not None:
                    self._abort_later.cancel()   # this handler ends the call itself
                raise self._closed
            if self._ended:
                return
            self._wake.clear()
            await self._wake.wait()


def push_all(items: list[tuple[Outbox, Any]]) -> None:
    """``outbox.push(item)`` for every pair, with one loop wake-up per loop instead of one
    per item (a thread-safe call costs a self-pipe write, and a GIL hand-over, each):
    for an actor that sends the same thing to many streams at once (an offer to every
    solver). Per outbox, items keep their order, also relative to :meth:`Outbox.push`."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Outbox, Any]]] = {}
    for outbox, item in items:
        by_loop.setdefault(outbox.loop, []).append((outbox, item))
    for loop, pairs in by_loop.items():
        loop.call_soon_threadsafe(_put_all, pairs)


def _put_all(pairs: list[tuple[Outbox, Any]]) -> None:
    for outbox, item in pairs:
        outbox._put(item)  # noqa: SLF001 - same module
