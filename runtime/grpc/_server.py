"""The node's gRPC server: grpc.aio on one event-loop thread.

Streams are coroutines, not threads, so a thousand open solver sessions cost memory, not
a thousand threads. Handlers that must wait on an actor do it off the loop
(:meth:`GrpcServer.call`), so a slow actor never stalls other clients.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any
from collections.abc import Callable, Iterable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as _health_aio
from grpc_reflection.v1alpha import reflection

__all__ = ["GrpcServer", "Service"]

log = logging.getLogger("orbital.grpc")

# (full service name, add_XServicer_to_server, servicer instance)
Service = tuple[str, Callable[[Any, Any], None], Any]


class GrpcServer:
    def __init__(self, listen: str, services: Iterable[Service], *,
                 max_message_bytes: int = 1 << 20, max_concurrent_streams: int = 10000,
                 workers: int = 16) -> None:
        self.listen = listen
        self.services = list(services)
        self.max_message_bytes = max_message_bytes
        self.max_concurrent_streams = max_concurrent_streams
        self.loop = asyncio.new_event_loop()
        self.executor = concurrent.futures.ThreadPoolExecutor(workers, "orbital-rpc")
        self.server: grpc.aio.Server | None = None
        self.health: _health_aio.HealthServicer | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, name="orbital-grpc", daemon=True)

    # ---- lifecycle (called from the node's thread) -------------------------------------
    def start(self) -> int:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(30)
        return self.port

    def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        names = ["", *(name for name, _, _ in self.services)]
        health = self.health
        assert health is not None, "set_serving is called after start()"

        async def apply():
            for name in names:
                await health.set(name, status)
        asyncio.run_coroutine_threadsafe(apply(), self.loop).result(10)

    def stop(self, grace: float) -> None:
        if self.server is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self.server.stop(grace), self.loop).result(grace + 5)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(5)
            self.executor.shutdown(wait=False, cancel_futures=True)

    # ---- helpers for servicers (on the loop) ----------------------------------------
    async def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run blocking ``fn`` (an actor ask, a query) off the event loop."""
        return await self.loop.run_in_executor(self.executor, fn, *args)

    # ---- internals ------------------------------------------------------------------
    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    async def _start(self) -> int:
        options = [
            ("grpc.max_receive_message_length", self.max_message_bytes),
            ("grpc.max_send_message_length", 16 * self.max_message_bytes),
            ("grpc.max_concurrent_streams", self.max_concurrent_streams),
            ("grpc.so_reuseport", 0),
            ("grpc.keepalive_time_ms", 30000),
            ("grpc.http2.min_ping_interval_without_data_ms", 10000),
            ("grpc.keepalive_permit_without_calls", 1),
        ]
        self.server = grpc.aio.server(options=options)
        self.health = _health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        for name, add, servicer in self.services:
            add(servicer, self.server)
            await self.health.set(name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(
            [name for name, _, _ in self.services]
            + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
               reflection.SERVICE_NAME], self.server)
        port = self.server.add_insecure_port(self.listen)
        if port == 0:
            raise OSError(f"cannot listen on {self.listen}")
        await self.server.start()
        log.info("grpc listening", extra={"listen": self.listen, "port": port})
        return port
