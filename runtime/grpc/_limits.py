"""Thread pools and concurrency limits per RPC method: one mechanism for the whole server.

A blocking handler step (:meth:`GrpcServer.call`: a signature recovery, a store read, a
tree operation) runs on the pool its method is routed to, so slow work of one kind (reads
during a database hiccup, signature work under a flood) cannot take every thread from the
others: the admin API and reads have pools of their own. And a method may have a limit on
calls in progress: a call over it waits at most ``wait`` seconds for a slot, then gets
RESOURCE_EXHAUSTED naming the limit, so a backlog behind a slow dependency (the quoter
during an RPC outage) is bounded instead of growing without end.

Routes and limits are keyed ``Service/Method`` (``IntentService/GetIntent``) or
``Service`` for every method of a service; the exact method wins. The method of the call
in progress travels in a context variable set by the server's interceptor, so servicers
keep calling ``node.grpc.call(fn, ...)`` and never name a pool.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from .._errors import ResourceExhausted
from ._status import to_status

__all__ = ["MethodLimit", "DEFAULT_POOLS", "DEFAULT_ROUTES", "DEFAULT_LIMITS", "current_method", "peer_host",
           "method_key", "route", "LimitInterceptor"]


@dataclass(frozen=True)
class MethodLimit:
    """At most ``concurrent`` calls of a method in progress; a call over it waits up to
    ``wait`` seconds for a slot (0: refused at once) before RESOURCE_EXHAUSTED."""

    concurrent: int
    wait: float = 0.0


# Threads per pool. ``default`` serves everything not routed elsewhere.
DEFAULT_POOLS: Mapping[str, int] = {"default": 16, "admin": 4, "reads": 8}
DEFAULT_ROUTES: Mapping[str, str] = {
    "AdminService": "admin",
    "IntentService/GetIntent": "reads", "IntentService/ListIntents": "reads",
    "IntentService/WatchIntents": "reads", "ChainService": "reads",
    "AnalyticsService": "reads", "IntentService/ExplainIntent": "reads",
}
# Methods that wait on one actor (the quoter) or read much: bounded backlogs.
DEFAULT_LIMITS: Mapping[str, MethodLimit] = {
    "QuoterService/GetQuote": MethodLimit(64, 1.0),
    "QuoterService/GetPrice": MethodLimit(64, 1.0),
    "QuoterService/EstimateGas": MethodLimit(64, 1.0),
    "IntentService/ListIntents": MethodLimit(32, 1.0),
    "ChainService/ListEvents": MethodLimit(32, 1.0),
    # each call aggregates over up to all intents: a few at a time, the rest wait briefly
    "AnalyticsService": MethodLimit(8, 1.0),
    # the route's durations are the analytics' summary query over the route's intents
    "IntentService/ExplainIntent": MethodLimit(8, 1.0),
}

current_method: contextvars.ContextVar[str] = contextvars.ContextVar("orbital_rpc_method",
                                                                     default="")


def method_key(full: str) -> str:
    """``/orbital.v1.IntentService/SubmitIntent`` -> ``IntentService/SubmitIntent``."""
    service, _, name = full.lstrip("/").rpartition("/")
    return f"{service.rpartition('.')[2]}/{name}"


def route(table: Mapping[str, Any], key: str) -> Any:
    """The entry for ``Service/Method``, else for ``Service``, else None."""
    found = table.get(key)
    return found if found is not None else table.get(key.partition("/")[0])


class LimitInterceptor(grpc.aio.ServerInterceptor):
    """Sets :data:`current_method` for every call and enforces the method's limit."""

    def __init__(self, limits: Mapping[str, MethodLimit]) -> None:
        self.limits = dict(limits)
        self._sems: dict[str, asyncio.Semaphore] = {}

    async def intercept_service(self, continuation, details):
        handler = await continuation(details)
        if handler is None:
            return None
        key = method_key(details.method)
        limit = route(self.limits, key)
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary_unary(request, context):
                current_method.set(key)
                if limit is None:
                    return await _result(inner(request, context))
                async with self._slot(key, limit, context):
                    return await _result(inner(request, context))
            return grpc.unary_unary_rpc_method_handler(
                unary_unary, handler.request_deserializer, handler.response_serializer)
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(handler.unary_stream, key, limit),
                handler.request_deserializer, handler.response_serializer)
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._streaming(handler.stream_stream, key, limit),
                handler.request_deserializer, handler.response_serializer)
        return handler   # stream-unary: none in the API

    def _streaming(self, inner, key: str, limit: MethodLimit | None):
        if not inspect.isasyncgenfunction(inner):
            # A handler that writes with context.write (grpc's Health.Watch): a coroutine.
            async def writer(request, context) -> None:
                current_method.set(key)
                if limit is None:
                    return await inner(request, context)
                async with self._slot(key, limit, context):
                    return await inner(request, context)
            return writer

        async def behaviour(request, context) -> AsyncIterator[Any]:
            current_method.set(key)
            if limit is None:
                async for item in inner(request, context):
                    yield item
                return
            async with self._slot(key, limit, context):
                async for item in inner(request, context):
                    yield item
        return behaviour

    def _slot(self, key: str, limit: MethodLimit, context) -> _Slot:
        sem = self._sems.get(key)
        if sem is None:
            sem = self._sems[key] = asyncio.Semaphore(limit.concurrent)
        return _Slot(sem, key, limit, context)


async def _result(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class _Slot:
    def __init__(self, sem: asyncio.Semaphore, key: str, limit: MethodLimit, context) -> None:
        self.sem, self.key, self.limit, self.context = sem, key, limit, context

    async def __aenter__(self) -> None:
        if self.sem.locked():
            try:
                if self.limit.wait <= 0:
                    raise TimeoutError
                await asyncio.wait_for(self.sem.acquire(), self.limit.wait)
                return
            except TimeoutError:
                err = ResourceExhausted(
                    f"{self.key}: {self.limit.concurrent} calls already in progress (the "
                    f"node's limit for this method, node.rpc_limits); retry in a moment")
                await self.context.abort_with_status(to_status(err, self.key))
        await self.sem.acquire()

    async def __aexit__(self, *exc: Any) -> None:
        self.sem.release()


def peer_host(context) -> str:
    """The calling peer's address without its port (``ipv4:1.2.3.4:5678`` -> ``1.2.3.4``,
    ``ipv6:[::1]:5678`` -> ``::1``): the key of per-peer limits, so a client's many
    connections (new source ports) count as one."""
    peer = context.peer() or ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0] or rest
    if kind == "ipv6":
        host = rest.rpartition(":")[0] if "]" in rest else rest
        return host.strip("[]") or rest
    return peer or "unknown"
