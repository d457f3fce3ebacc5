"""Wrappers every servicer method goes through: status mapping, metrics, logs.

``@unary`` for unary-unary and unary-stream methods alike would hide the difference that
matters (a stream's status is known only at its end), so there are two: :func:`unary`
and :func:`stream`. Both take the metrics object from the servicer (``self.metrics``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any
from collections.abc import AsyncIterator, Awaitable, Callable

import grpc

from ._status import to_status

__all__ = ["unary", "stream"]


def _record(self, method: str, code: grpc.StatusCode, started: float) -> None:
    metrics = getattr(self, "metrics", None)
    if metrics is not None:
        metrics.grpc_request(method, code.name, time.perf_counter() - started)


async def _abort(context: grpc.aio.ServicerContext, status: grpc.Status) -> None:
    """End a stream with ``status``, unless it has ended already: an Outbox that drops a
    slow reader aborts the call itself, and its error then surfaces here too."""
    try:
        await context.abort_with_status(status)
    except grpc.aio.AbortError:
        raise
    except Exception:  # noqa: BLE001 - cygrpc.UsageError "Abort already called"
        pass


def unary(method: str):
    def wrap(fn: Callable[..., Awaitable[Any]]):
        @functools.wraps(fn)
        async def handler(self, request, context: grpc.aio.ServicerContext):
            started = time.perf_counter()
            try:
                reply = await fn(self, request, context)
            except asyncio.CancelledError:
                _record(self, method, grpc.StatusCode.CANCELLED, started)
                raise
            except Exception as exc:  # noqa: BLE001 - mapped, never leaked
                status = to_status(exc, method)
                _record(self, method, status.code, started)
                await context.abort_with_status(status)
            _record(self, method, grpc.StatusCode.OK, started)
            return reply
        return handler
    return wrap


def stream(method: str):
    def wrap(fn: Callable[..., AsyncIterator[Any]]):
        @functools.wraps(fn)
        async def handler(self, request, context: grpc.aio.ServicerContext):
            started = time.perf_counter()
            try:
                async for item in fn(self, request, context):
                    yield item
            except asyncio.CancelledError:
                _record(self, method, grpc.StatusCode.CANCELLED, started)
                raise
            except Exception as exc:  # noqa: BLE001
                status = to_status(exc, method)
                _record(self, method, status.code, started)
                await _abort(context, status)
            _record(self, method, grpc.StatusCode.OK, started)
        return handler
    return wrap
