"""The node's gRPC server: grpc.aio on one event-loop thread.

Streams are coroutines, not threads, so a thousand open solver sessions cost memory, not
a thousand threads. Handlers that must wait on an actor do it off the loop
(:meth:`GrpcServer.call`), so a slow actor never stalls other clients; each method's
blocking work runs on the thread pool it is routed to, and a method may have a limit on
calls in progress (:mod:`._limits`), so one slow kind of call cannot starve the others.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any
from collections.abc import Callable, Coroutine, Iterable, Mapping

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as _health_aio
from grpc_reflection.v1alpha import reflection

from ._limits import (DEFAULT_LIMITS, DEFAULT_POOLS, DEFAULT_ROUTES, LimitInterceptor,
                      MethodLimit, current_method, route)
from ._tls import ServerTls

__all__ = ["GrpcServer", "Service"]

log = logging.getLogger("orbital.grpc")

# (full service name, add_XServicer_to_server, servicer instance)
Service = tuple[str, Callable[[Any, Any], None], Any]


class GrpcServer:
    def __init__(self, listen: str, services: Iterable[Service], *,
                 max_message_bytes: int = 1 << 20, max_concurrent_streams: int = 10000,
                 pools: Mapping[str, int] | None = None, routes: Mapping[str, str] | None = None,
                 limits: Mapping[str, MethodLimit] | None = None, tls: ServerTls | None = None,
                 admin_listen: str | None = None, admin_services: Iterable[str] = ()) -> None:
        """``pools``, ``routes`` and ``limits`` are merged over the defaults of
        :mod:`._limits` (an entry replaces the default of the same name). ``tls``: serve
        TLS (else plaintext). ``admin_listen``: the services named in ``admin_services``
        are served there only, on a server of their own on the same loop (with mutual TLS
        when ``tls.client_ca`` is set), and not on ``listen``."""
        self.listen = listen
        self.tls = tls
        self.admin_listen = admin_listen
        split = set(admin_services) if admin_listen else set()
        self.admin_services = [s for s in services if s[0] in split]
        self.services = [s for s in services if s[0] not in split]
        self.max_message_bytes = max_message_bytes
        self.max_concurrent_streams = max_concurrent_streams
        self.loop = asyncio.new_event_loop()
        sizes = {**DEFAULT_POOLS, **(pools or {})}
        self.routes = {**DEFAULT_ROUTES, **(routes or {})}
        unknown = sorted({p for p in self.routes.values() if p not in sizes})
        if unknown:
            raise ValueError(f"rpc routes name unknown pools: {', '.join(unknown)}")
        self.pools = {name: concurrent.futures.ThreadPoolExecutor(n, f"orbital-rpc-{name}")
                      for name, n in sizes.items()}
        self.executor = self.pools["default"]
        self.limits = {**DEFAULT_LIMITS, **(limits or {})}
        self.server: grpc.aio.Server | None = None
        self.admin_server: grpc.aio.Server | None = None
        self.health: _health_aio.HealthServicer | None = None
        self.port = 0
        self.admin_port = 0
        self._at_stop: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._thread = threading.Thread(target=self._run, name="orbital-grpc", daemon=True)

    # ---- lifecycle (called from the node's thread) -------------------------------------
    def start(self) -> int:
        self._thread.start()
        self.port, self.admin_port = asyncio.run_coroutine_threadsafe(
            self._start(), self.loop).result(30)
        return self.port

    def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        names = ["", *(name for name, _, _ in [*self.services, *self.admin_services])]
        health = self.health
        assert health is not None, "set_serving is called after start()"

        async def apply():
            for name in names:
                await health.set(name, status)
        asyncio.run_coroutine_threadsafe(apply(), self.loop).result(10)

    def at_stop(self, close: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``close()`` on the loop when the server stops, after the calls ended (a
        servicer's client channels to other nodes)."""
        self._at_stop.append(close)

    def stop(self, grace: float) -> None:
        if self.server is None:
            return
        try:
            if self.admin_server is not None:
                asyncio.run_coroutine_threadsafe(self.admin_server.stop(grace),
                                                 self.loop).result(grace + 5)
            asyncio.run_coroutine_threadsafe(self.server.stop(grace), self.loop).result(grace + 5)
            for close in self._at_stop:
                try:
                    asyncio.run_coroutine_threadsafe(close(), self.loop).result(5)
                except Exception:  # noqa: BLE001 - the node stops anyway
                    log.warning("closing at stop failed", exc_info=True)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            for pool in self.pools.values():
                pool.shutdown(wait=False, cancel_futures=True)

    # ---- helpers for servicers (on the loop) ----------------------------------------
    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking ``fn`` (an actor ask, a query) off the event loop, on the pool the
        calling method is routed to (``default`` when none)."""
        name = route(self.routes, current_method.get()) or "default"
        return await self.loop.run_in_executor(self.pools[name], fn, *args)

    def pool_of(self, method: str) -> str:
        """The pool ``Service/Method`` runs its blocking work on."""
        return route(self.routes, method) or "default"

    # ---- internals ------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _start(self) -> tuple[int, int]:
        self.health = _health_aio.HealthServicer()
        self.server = await self._serve(self.services, self.health)
        port = self._bind(self.server, self.listen, mutual=False)
        admin_port = 0
        if self.admin_listen:
            self.admin_server = await self._serve(self.admin_services, self.health)
            mutual = bool(self.tls is not None and self.tls.client_ca)
            admin_port = self._bind(self.admin_server, self.admin_listen, mutual=mutual)
            await self.admin_server.start()
        await self.server.start()
        log.info("grpc listening", extra={"listen": self.listen, "port": port,
                                           "tls": self.tls is not None,
                                           "admin_listen": self.admin_listen,
                                           "admin_port": admin_port})
        return port, admin_port

    async def _serve(self, services: list[Service], health: _health_aio.HealthServicer
                     ) -> grpc.aio.Server:
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", 16 * self.max_message_bytes),
            ("grpc.max_concurrent_streams", self.max_concurrent_streams),
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_time_ms", 30000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10000),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
        server = grpc.aio.server(options=options, interceptors=[LimitInterceptor(self.limits)])
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        for name, add, servicer in services:
            add(servicer, server)
            await health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(
            [name for name, _, _ in services]
            + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
               reflection.SERVICE_NAME], server)
        return server

    def _bind(self, server: grpc.aio.Server, listen: str, *, mutual: bool) -> int:
        if self.tls is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, self.tls.server_credentials(mutual=mutual))
        if port == 0:
            raise OSError(f"cannot listen on {listen}")
        return port
