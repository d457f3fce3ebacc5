"""Asking an actor from a coroutine on the gRPC event loop, without a thread: the one module
that touches pykka's internals (``pykka._envelope.Envelope``, the ``reply_to`` protocol);
``tests/runtime/test_loop_ask.py`` pins the pykka 4 behaviour it relies on.

Why: a blocking ``ask`` from a servicer holds a worker thread while the actor works; a
submission waiting for the book's commit would hold one each, and the book could not batch
more submissions than there are workers. Here the reply resolves an asyncio future on the
loop (the actor's thread calls ``set`` / ``set_exception``), so every request in flight can
wait at the actor at no cost. Same errors as :meth:`Registry.ask`.
"""

from __future__ import annotations

import asyncio
import sys
from types import TracebackType
from collections.abc import Sequence
from typing import Any

import pykka
from pykka._envelope import Envelope

from ._errors import ActorUnavailable

__all__ = ["ask_on_loop", "answer_all"]


# What ``sys.exc_info()`` returns; pykka's ``set_exception`` takes it (or None: the current one).
_OptExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


class _LoopReply(pykka.Future[Any]):
    """``reply_to`` of an ask: pykka's future protocol (``set(value)`` /
    ``set_exception(exc_info)``), called from the actor's thread, settles a future on the
    loop. A :class:`pykka.Future` (what an ``Envelope``'s ``reply_to`` is) whose value is
    only ever read on the loop, through ``future``; ``get`` is never called."""

    __slots__ = ("loop", "future")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()

    def set(self, value: Any = None) -> None:
        self._call(value, None)

    def set_exception(self, exc_info: _OptExcInfo | None = None) -> None:
        kind, exc, _ = exc_info or sys.exc_info()
        if exc is None:
            assert kind is not None, "set_exception is called with an exc_info or in an except block"
            exc = kind()
        self._call(None, exc)

    def _call(self, value: Any, exc: BaseException | None) -> None:
        try:
            self.loop.call_soon_threadsafe(_settle, self.future, value, exc)
        except RuntimeError:
            pass   # the loop is closed (node stopping): nobody is waiting any more


def answer_all(answers: Sequence[tuple[Any, Any, BaseException | None]]) -> None:
    """Answer many asks at once: ``(reply_to, value, error)`` each. Loop asks are settled
    with ONE wake-up per loop (a wake-up is a self-pipe write and a GIL hand-over, as
    :func:`runtime.grpc.push_all` saves for stream pushes); other replies as pykka's."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any, Any]]] = {}
    for reply, value, exc in answers:
        if type(reply) is _LoopReply:
            by_loop.setdefault(reply.loop, []).append((reply.future, value, exc))
        elif exc is not None:
            reply.set_exception((type(exc), exc, exc.__traceback__))
        else:
            reply.set(value)
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_settle_all, items)
        except RuntimeError:
            pass   # the loop is closed (node stopping): nobody is waiting any more


def _settle_all(items: list[tuple[asyncio.Future, Any, Any]]) -> None:
    for future, value, exc in items:
        _settle(future, value, exc)


def _settle(future: asyncio.Future, value: Any, exc: BaseException | None) -> None:
    if future.done():   # timed out meanwhile
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(value)


class _AskTimeout(Exception):
    pass


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(_AskTimeout())


async def ask_on_loop(ref: pykka.ActorRef, path: str, message: Any, timeout: float) -> Any:
    """Ask ``ref`` (registered at ``path``) from the running loop; ActorUnavailable if it is
    stopping or does not answer within ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    reply = _LoopReply(loop)
    if not ref.is_alive():
        raise ActorUnavailable(path, "stopping")
    ref.actor_inbox.put(Envelope(message, reply_to=reply))
    timer = loop.call_later(timeout, _expire, reply.future)   # cheaper than asyncio.wait_for
    try:
        return await reply.future
    except pykka.ActorDeadError:
        raise ActorUnavailable(path, "stopping") from None
    except _AskTimeout:
        raise ActorUnavailable(path, f"not answering within {timeout}s") from None
    finally:
        timer.cancel()
