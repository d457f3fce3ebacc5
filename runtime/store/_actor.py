"""The ``store`` actor: migrates the node's database at start, records the node in the node
registry and keeps its heartbeat, answers health pings, and checkpoints SQLite's WAL."""

from __future__ import annotations

import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import peewee

from .._actor import Actor
from ._store import Store

__all__ = ["StoreActor", "StoreSettings", "StoreStatus", "advertised_address"]

log = logging.getLogger("orbital.store")


def advertised_address(bound: str) -> str:
    """The address other nodes reach this one at, by default: the bound gRPC address
    (``host:port``), a wildcard host (0.0.0.0, ::) read as 127.0.0.1 (nodes on one host;
    across hosts, set ``node.advertise``)."""
    if not bound:
        return ""
    host, _, port = bound.rpartition(":")
    if host in ("", "0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    return f"{host}:{port}"


@dataclass(frozen=True)
class StoreSettings:
    """The ``store`` child's config: the database (redacted: for the tree's diff only) and
    how often the node refreshes its row in the node registry (``node.heartbeat_interval``)."""

    url: str
    heartbeat_interval: float = 2.0
    advertise: str = ""   # node.advertise; "" = from the bound gRPC address


@dataclass(frozen=True)
class StoreStatus:
    pass


class StoreActor(Actor):
    """``store``: migrates on every start (idempotent), then keeps this node's row of the
    node registry (``node_instance``) fresh every ``heartbeat_interval`` seconds, answers
    health pings and, on SQLite, checkpoints the WAL every ``checkpoint_interval`` seconds.
    The row is deleted by the node at its graceful shutdown (``Node.shutdown``), not here:
    a restart of this actor must not make the node vanish from the registry.

    The checkpoint is PASSIVE: it copies what it can into the database file without
    waiting for readers or blocking writers, on this actor's thread, so writers rarely
    reach the WAL size at which their own commit would checkpoint (see ``_db.py``).
    One timer serves both loops: it fires at the shorter period and the heartbeat runs
    when it is due."""

    kind = "store"
    checkpoint_interval = 1.0

    def setup(self) -> None:
        settings: StoreSettings = self.config
        self.heartbeat_interval = settings.heartbeat_interval
        store: Store = self.ctx.services.store
        applied = store.migrate()
        if applied:
            log.info("migrations applied", extra={"path": self.path, "applied": applied})
        self.tick_interval = self.heartbeat_interval
        if not store.is_postgres:
            store.hold()
            self.resources.callback(store.release)
            self.tick_interval = min(self.checkpoint_interval, self.heartbeat_interval)
        self._heartbeat()
        self.schedule_tick(self.tick_interval)

    def _heartbeat(self) -> None:
        grpc = self.ctx.services.grpc
        address = ""
        if grpc is not None:
            host = grpc.listen.rpartition(":")[0]
            address = f"{host}:{grpc.port}" if grpc.port else grpc.listen
        settings: StoreSettings = self.config
        self.ctx.services.store.heartbeat(pid=os.getpid(), host=socket.gethostname(),
                                          grpc_listen=address,
                                          advertise=settings.advertise or
                                          advertised_address(address))
        self._last_heartbeat = time.monotonic()

    def _tick(self) -> None:
        store: Store = self.ctx.services.store
        if not store.is_postgres:
            self._checkpoint()
        # a little early rather than a whole tick late: the tick is the shorter period
        if time.monotonic() - self._last_heartbeat >= self.heartbeat_interval - 0.05:
            self._heartbeat()

    def _checkpoint(self) -> None:
        try:
            self.ctx.services.store.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except peewee.OperationalError as exc:   # retried at the next tick
            log.warning("WAL checkpoint failed", extra={"path": self.path, "error": str(exc)})

    def handle(self, message: Any) -> Any:
        if self.run_tick(message, self.tick_interval, self._tick):
            return None
        if isinstance(message, StoreStatus):
            store: Store = self.ctx.services.store
            return {"url": store.url, "latency_s": store.ping()}
        return super().handle(message)
