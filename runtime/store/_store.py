"""The store: one database handle for the node (its actor is :mod:`._actor`)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterable, Iterator

import peewee

from .._errors import Unavailable
from ._db import open_database, redact_url
from ._migrations import RUNTIME_MIGRATIONS, Migration, migrate
from ._models import Lease

__all__ = ["Store"]

log = logging.getLogger("orbital.store")


class Store:
    """Thread-safe by construction: peewee keeps one connection per thread."""

    def __init__(self, url: str, *, state_dir: str = "var", pool_size: int = 16,
                 node: str = "node-1", migrations: Iterable[Migration] = ()) -> None:
        self.url = redact_url(url)
        self.node = node
        self.db = open_database(url, state_dir=state_dir, pool_size=pool_size)
        self.migrations = (*RUNTIME_MIGRATIONS, *migrations)
        self.is_postgres = isinstance(self.db, peewee.PostgresqlDatabase)

    def migrate(self) -> list[str]:
        return migrate(self.db, self.migrations, self.node)

    @contextlib.contextmanager
    def connection(self) -> Iterator[peewee.Database]:
        """A unit of work: a connection for this thread, returned to the pool after.

        Failing to connect is :class:`Unavailable` (retryable); errors of the queries
        inside are the caller's and pass through unchanged.
        """
        opened = self.db.is_closed()
        if opened:
            try:
                self.db.connect()
            except (peewee.OperationalError, peewee.InterfaceError) as exc:
                raise Unavailable(f"store unavailable: {exc}".split("\n")[0]) from exc
        try:
            yield self.db
        finally:
            if opened:
                self.db.close()

    def hold(self) -> None:
        """Keep this thread's connection open until :meth:`release`; every
        :meth:`connection` / :meth:`atomic` on this thread meanwhile reuses it.

        For a long-lived actor that works on the store message after message (the intent
        book): a unit of work then costs no connect (on SQLite: open the file and run the
        pragmas, ~0.5 ms) and, on SQLite, no WAL checkpoint, which closing the last
        connection to the file runs (~2 ms). On PostgreSQL it keeps one pooled connection.
        A broken held connection makes queries fail, which crashes the actor; its restart
        releases it and holds a fresh one.
        """
        if self.db.is_closed():
            try:
                self.db.connect()
            except (peewee.OperationalError, peewee.InterfaceError) as exc:
                raise Unavailable(f"store unavailable: {exc}".split("\n")[0]) from exc

    def release(self) -> None:
        """Give back the connection :meth:`hold` kept (called from the same thread)."""
        if not self.db.is_closed():
            try:
                self.db.close()
            except Exception:  # noqa: BLE001 - broken or mid-transaction after a crash
                log.warning("closing a held store connection failed", exc_info=True)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[peewee.Database]:
        """A transaction on this thread's connection (opened and returned like
        :meth:`connection`). On SQLite the outermost one takes the write lock at BEGIN
        (IMMEDIATE): a deferred transaction that reads, then writes, fails at once with
        "database is locked" when another writer went first, whatever busy_timeout says."""
        with self.connection() as db:
            if self.is_postgres or db.transaction_depth() > 0:
                with db.atomic():
                    yield db
            else:
                with db.atomic(lock_type="IMMEDIATE"):
                    yield db

    def ping(self) -> float:
        started = time.perf_counter()
        with self.connection() as db:
            db.execute_sql("SELECT 1").fetchone()
        return time.perf_counter() - started

    def acquire_lease(self, name: str, ttl: float, now: float | None = None) -> bool:
        """Take or renew lease ``name`` for this node; False while another node holds it.

        Queries run on this store's database explicitly (``execute(self.db)``), not through
        the models' process-wide binding, so two stores in one process (tests) stay apart.
        """
        now = time.time() if now is None else now
        with self.connection() as db:
            if db.transaction_depth() > 0:   # fencing the caller's transaction (chain watcher)
                return self._take_lease(name, ttl, now)
            with self.atomic():
                return self._take_lease(name, ttl, now)

    def _take_lease(self, name: str, ttl: float, now: float) -> bool:
        """Inside a transaction. Renewal, the common case, is one UPDATE (no savepoint:
        two statements fewer per fenced commit); only a first take, an INSERT that may
        race another node's, runs in a savepoint to survive its IntegrityError."""
        n = (Lease.update(owner=self.node, expires_at=now + ttl)
             .where((Lease.name == name) &
                    ((Lease.owner == self.node) | (Lease.expires_at < now))).execute(self.db))
        if n:
            return True
        try:
            with self.db.atomic():
                Lease.insert(name=name, owner=self.node, expires_at=now + ttl).execute(self.db)
            return True
        except peewee.IntegrityError:
            return False

    def release_lease(self, name: str) -> None:
        with self.connection():
            Lease.delete().where((Lease.name == name) & (Lease.owner == self.node)).execute(self.db)

    def close(self) -> None:
        if hasattr(self.db, "close_all"):
            self.db.close_all()
        elif not self.db.is_closed():
            self.db.close()
