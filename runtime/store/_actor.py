"""The ``store`` actor: migrates the node's database at start, answers health pings, and
checkpoints SQLite's WAL."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import peewee

from .._actor import Actor
from ._store import Store

__all__ = ["StoreActor", "StoreStatus"]

log = logging.getLogger("orbital.store")


@dataclass(frozen=True)
class StoreStatus:
    pass


class StoreActor(Actor):
    """``store``: migrates on every start (idempotent), answers health pings and, on
    SQLite, checkpoints the WAL every ``checkpoint_interval`` seconds.

    The checkpoint is PASSIVE: it copies what it can into the database file without
    waiting for readers or blocking writers, on this actor's thread, so writers rarely
    reach the WAL size at which their own commit would checkpoint (see ``_db.py``)."""

    kind = "store"
    checkpoint_interval = 1.0

    def setup(self) -> None:
        store: Store = self.ctx.services.store
        applied = store.migrate()
        if applied:
            log.info("migrations applied", extra={"path": self.path, "applied": applied})
        if not store.is_postgres:
            store.hold()
            self.resources.callback(store.release)
            self.schedule_tick(self.checkpoint_interval)

    def _checkpoint(self) -> None:
        try:
            self.ctx.services.store.db.execute_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except peewee.OperationalError as exc:   # retried at the next tick
            log.warning("WAL checkpoint failed", extra={"path": self.path, "error": str(exc)})

    def handle(self, message: Any) -> Any:
        if self.run_tick(message, self.checkpoint_interval, self._checkpoint):
            return None
        if isinstance(message, StoreStatus):
            store: Store = self.ctx.services.store
            return {"url": store.url, "latency_s": store.ping()}
        return super().handle(message)
