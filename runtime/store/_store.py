"""The store: one database handle for the node (its actor is :mod:`._actor`)."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import peewee

from .._errors import LeaseLost, Unavailable
from .._logging import register_secret
from ._db import database, open_database, redact_url
from ._migrations import RUNTIME_MIGRATIONS, Migration, migrate
from ._models import ClusterSecret, Lease, NodeInstance
from ._nodes import HeldLease, LeaseHolder, NodeRecord
from ._notify import Callback, Listener, LocalNotices

__all__ = ["Store", "STORE_ERRORS", "STORE_DOWN"]

log = logging.getLogger("orbital.store")

# What a database that went away raises: peewee's wrappers, and psycopg2's own from raw
# cursors (COPY in chains.evm.ingest). A constraint violation (IntegrityError) is not one.
try:
    import psycopg2 as _pg
    STORE_ERRORS: tuple[type[BaseException], ...] = (
        peewee.OperationalError, peewee.InterfaceError, _pg.OperationalError, _pg.InterfaceError)
except ImportError:  # pragma: no cover - psycopg2 is a dependency; SQLite-only installs
    STORE_ERRORS = (peewee.OperationalError, peewee.InterfaceError)

STORE_DOWN = "the database is unavailable; retry"
_BACKOFF_FIRST, _BACKOFF_MAX = 0.05, 2.0


class Store:
    """Thread-safe by construction: peewee keeps one connection per thread.

    ``node`` is the configured node's name (who applied a migration); ``instance`` is this
    process's unique id (the node's ``Node.instance``: name plus a random suffix), the
    owner of its leases, so two nodes left on one name still exclude each other. It
    defaults to ``node`` for stores made outside a node (tests, tools)."""

    def __init__(self, url: str, *, state_dir: str = "var", pool_size: int = 16,
                 node: str = "node-1", instance: str | None = None,
                 migrations: Iterable[Migration] = ()) -> None:
        self.url = redact_url(url)
        self.node = node
        self.instance = instance or node
        self.db = open_database(url, state_dir=state_dir, pool_size=pool_size)
        self.migrations = (*RUNTIME_MIGRATIONS, *migrations)
        self.is_postgres = isinstance(self.db, peewee.PostgresqlDatabase)
        self._held = threading.local()
        # After a failed connect, units of work fail fast (UNAVAILABLE, no connect attempt)
        # until this monotonic time; the pause doubles per failure up to _BACKOFF_MAX and
        # ends with the first connect that works. So a node whose database is gone does not
        # spend every request on a connect timeout, and recovers by itself when it returns.
        self._down_until = 0.0
        self._down_pause = 0.0
        # Wake-ups (listen / notify, see _notify.py): callbacks per channel; on PostgreSQL
        # the listener thread, started by the first listen().
        self._notices = LocalNotices()
        self._listener: Listener | None = None
        self._listener_lock = threading.Lock()
        self._closed = False
        self._secret = ""

    def migrate(self) -> list[str]:
        return migrate(self.db, self.migrations, self.node)

    @contextlib.contextmanager
    def connection(self) -> Iterator[peewee.Database]:
        """A unit of work: a connection for this thread, returned to the pool after.

        A database that is gone is :class:`Unavailable` (retryable, "the database is
        unavailable; retry"), whether connecting fails or a query inside breaks on a lost
        connection (:data:`STORE_ERRORS`): the broken connection is dropped, so the next
        unit of work connects afresh, and callers (actors, servicers) answer UNAVAILABLE
        instead of crashing. Other errors of the queries inside (constraints) pass through.
        """
        opened = self.db.is_closed()
        if opened:
            self._connect()
        try:
            with database.use(self.db):
                yield self.db
        except STORE_ERRORS as exc:
            if self.db.in_transaction():
                raise   # the outermost unit of work maps it, once the transaction is unwound
            self._broken(exc)
            raise Unavailable(STORE_DOWN) from exc
        finally:
            if opened and not getattr(self._held, "on", False) and not self.db.is_closed():
                self.db.close()

    def _connect(self) -> None:
        if time.monotonic() < self._down_until:
            raise Unavailable(STORE_DOWN)
        try:
            self.db.connect()
        except STORE_ERRORS as exc:
            self._down_pause = min(_BACKOFF_MAX, max(_BACKOFF_FIRST, 2 * self._down_pause))
            self._down_until = time.monotonic() + self._down_pause
            log.warning("store unavailable", extra={"error": str(exc).split("\n")[0],
                                                    "retry_in": self._down_pause})
            raise Unavailable(STORE_DOWN) from exc
        if self._down_pause:
            log.info("store available again")
            self._down_pause = 0.0

    def _broken(self, exc: BaseException) -> None:
        """Drop this thread's connection after ``exc`` (it may be dead: a pooled one is
        discarded by the pool when closed). Held or not, the next unit of work reconnects."""
        log.warning("store error; connection dropped", extra={"error": str(exc).split("\n")[0]})
        try:
            self.db.close()
            if hasattr(self.db, "close_idle"):
                self.db.close_idle()   # pooled ones from before the outage are dead too
        except Exception:  # noqa: BLE001 - closing a dead connection may fail too
            pass

    def hold(self) -> None:
        """Keep this thread's connection open until :meth:`release`; every
        :meth:`connection` / :meth:`atomic` on this thread meanwhile reuses it.

        For a long-lived actor that works on the store message after message (the intent
        book): a unit of work then costs no connect (on SQLite: open the file and run the
        pragmas, ~0.5 ms) and, on SQLite, no WAL checkpoint, which closing the last
        connection to the file runs (~2 ms). On PostgreSQL it keeps one pooled connection.
        A held connection that breaks (the database went away) is dropped by the unit of
        work that met the error (UNAVAILABLE); the next one connects again and keeps that.
        """
        self._held.on = True
        if self.db.is_closed():
            self._connect()

    def release(self) -> None:
        """Give back the connection :meth:`hold` kept (called from the same thread)."""
        self._held.on = False
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
                return
            try:
                with db.atomic(lock_type="IMMEDIATE"):
                    yield db
            except BaseException:
                self._notices.discard()
                raise
            self._notices.commit()   # SQLite: notify()'s wake-ups, now that it committed

    def make_durable(self) -> None:
        """Make every commit so far survive a power loss, before something leaves the process
        on their strength (a transaction broadcast after its record). SQLite runs WAL with
        ``synchronous=normal``: a commit survives a crash of the process, but the WAL is only
        synced to disk at checkpoints, so an OS crash or power loss could lose the record of
        a transaction that was sent. This syncs the WAL now (about 0.2 ms here, once per
        broadcast, instead of on every commit: docs/security.md). PostgreSQL's commits are
        durable already (``synchronous_commit`` on)."""
        if self.is_postgres:
            return
        wal = f"{self.db.database}-wal"
        try:
            fd = os.open(wal, os.O_RDONLY)
        except FileNotFoundError:
            return   # checkpointed and removed: the database file was synced then
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def ping(self) -> float:
        started = time.perf_counter()
        with self.connection() as db:
            db.execute_sql("SELECT 1").fetchone()
        return time.perf_counter() - started

    def acquire_lease(self, name: str, ttl: float, now: float | None = None) -> int | None:
        """Take or renew lease ``name`` for this instance: its epoch (the fencing token,
        >= 1) while held, None while another instance holds it.

        Inside the caller's transaction when there is one (the chain watcher renews in
        the commit of each range); else in a transaction of its own. Queries run on this
        store's database explicitly (``execute(self.db)``), not through the models'
        process-wide binding, so two stores in one process (tests) stay apart.
        """
        now = time.time() if now is None else now
        with self.connection() as db:
            if db.transaction_depth() > 0:
                return self._take_lease(name, ttl, now)
            with self.atomic():
                return self._take_lease(name, ttl, now)

    def _take_lease(self, name: str, ttl: float, now: float) -> int | None:
        """Inside a transaction. Renewal, the common case, is one UPDATE (no savepoint:
        two statements fewer per fenced commit) and keeps the epoch; a take (the lease
        expired or was released) bumps it; only a first take, an INSERT that may race
        another node's, runs in a savepoint to survive its IntegrityError."""
        mine = (Lease.name == name) & (Lease.owner == self.instance)
        if (Lease.update(expires_at=now + ttl).where(mine & (Lease.expires_at >= now))
                .execute(self.db)):
            return self._epoch_of(name)
        if (Lease.update(owner=self.instance, expires_at=now + ttl, epoch=Lease.epoch + 1)
                .where((Lease.name == name) & (Lease.expires_at < now)).execute(self.db)):
            return self._epoch_of(name)
        try:
            with self.db.atomic():
                Lease.insert(name=name, owner=self.instance, expires_at=now + ttl,
                             epoch=1).execute(self.db)
            return 1
        except peewee.IntegrityError:
            return None

    def _epoch_of(self, name: str) -> int:
        return int(Lease.select(Lease.epoch).where(Lease.name == name).scalar(self.db))

    def fence(self, name: str, epoch: int, ttl: float, now: float | None = None) -> None:
        """Inside the caller's transaction: prove this instance still holds lease ``name``
        at ``epoch``, and renew it; :class:`LeaseLost` (which rolls the caller back)
        otherwise. The proof is one UPDATE of the lease row: on PostgreSQL it keeps the
        row locked until the caller commits, so a node taking the lease over waits for
        this transaction and then sees it renewed. Either this write commits before the
        lease changes hands, or it does not commit at all."""
        if self.db.transaction_depth() == 0:
            raise RuntimeError("Store.fence runs inside the transaction it fences")
        now = time.time() if now is None else now
        if not (Lease.update(expires_at=now + ttl)
                .where((Lease.name == name) & (Lease.owner == self.instance) &
                       (Lease.epoch == epoch) & (Lease.expires_at >= now))
                .execute(self.db)):
            raise LeaseLost(f"this node no longer holds {name} (epoch {epoch}); "
                            "another node does its work")

    def release_lease(self, name: str) -> None:
        """Give lease ``name`` up at once (a graceful stop): the row stays, expired, so
        the next holder takes it with the next epoch, without waiting for the TTL."""
        with self.connection():
            Lease.update(expires_at=0).where((Lease.name == name) &
                                             (Lease.owner == self.instance)).execute(self.db)

    # ---- the node registry (see _nodes.py) --------------------------------------------
    def heartbeat(self, *, pid: int, host: str, grpc_listen: str, advertise: str = "",
                  now: float | None = None) -> None:
        """Record this instance as alive now: insert its row (``started_at`` = now) or
        refresh it (``started_at`` kept). An upsert, so a row deleted meanwhile (an operator
        cleaning up) comes back at the next heartbeat."""
        now = time.time() if now is None else now
        with self.connection():
            (NodeInstance.insert(instance=self.instance, name=self.node, pid=pid, host=host,
                                 grpc_listen=grpc_listen, advertise=advertise,
                                 started_at=now, last_seen=now)
             .on_conflict(conflict_target=[NodeInstance.instance],
                          update={NodeInstance.last_seen: now, NodeInstance.pid: pid,
                                  NodeInstance.host: host,
                                  NodeInstance.grpc_listen: grpc_listen,
                                  NodeInstance.advertise: advertise})
             .execute(self.db))

    def lease_holder(self, name: str, now: float | None = None) -> LeaseHolder | None:
        """Who holds lease ``name`` now (unexpired), with the address its node advertises
        in the node registry ("" when it has no row: not started yet, or cleaned up);
        None when nobody does (released, expired, never taken)."""
        now = time.time() if now is None else now
        with self.connection():
            lease = (Lease.select().where((Lease.name == name) & (Lease.expires_at >= now))
                     .first(self.db))
            if lease is None:
                return None
            row = (NodeInstance.select(NodeInstance.advertise, NodeInstance.grpc_listen)
                   .where(NodeInstance.instance == lease.owner).first(self.db))
        address = (row.advertise or row.grpc_listen) if row is not None else ""
        return LeaseHolder(name, lease.owner, address, lease.epoch, lease.expires_at)

    def cluster_secret(self) -> str:
        """The secret every node on this database shares (runtime migration 0006), read
        once and kept; registered for redaction, so no log line ever shows it."""
        if not self._secret:
            with self.connection():
                secret = (ClusterSecret.select(ClusterSecret.secret)
                          .where(ClusterSecret.id == 1).scalar(self.db))
            if not secret:
                raise Unavailable("the cluster secret is not in the database yet "
                                  "(the node is migrating it); retry")
            register_secret(secret)
            self._secret = secret
        return self._secret

    def unregister_node(self) -> None:
        """Delete this instance's row (graceful shutdown)."""
        with self.connection():
            NodeInstance.delete().where(NodeInstance.instance == self.instance).execute(self.db)

    def list_nodes(self, seen_within: float, now: float | None = None) -> list[NodeRecord]:
        """The nodes whose last heartbeat is at most ``seen_within`` seconds old, by name
        then instance, each with the leases it holds now (unexpired, by name)."""
        now = time.time() if now is None else now
        with self.connection():
            rows = list(NodeInstance.select()
                        .where(NodeInstance.last_seen >= now - seen_within)
                        .order_by(NodeInstance.name, NodeInstance.instance).execute(self.db))
            held: dict[str, list[HeldLease]] = {}
            if rows:
                for lease in (Lease.select()
                              .where(Lease.owner.in_([r.instance for r in rows]) &
                                     (Lease.expires_at >= now))
                              .order_by(Lease.name).execute(self.db)):
                    held.setdefault(lease.owner, []).append(
                        HeldLease(lease.name, lease.expires_at, lease.epoch))
        return [NodeRecord(r.instance, r.name, r.pid, r.host, r.grpc_listen, r.started_at,
                           r.last_seen, tuple(held.get(r.instance, ())), r.advertise)
                for r in rows]

    # ---- wake-ups (see _notify.py) --------------------------------------------------------
    def listen(self, channel: str, callback: Callback) -> None:
        """Call ``callback(payload)`` on each :meth:`notify` of ``channel``, from any node
        on this database; cheap (tell an actor to look), on the listener's thread.

        A wake-up only, never the truth: a notification sent while this node was cut off
        from the database is lost, so after each reconnect every callback is called once
        with ``""``, and the woken reader reads what changed from the store. On
        PostgreSQL one thread per store LISTENs on a connection of its own (not from the
        pool); it starts with the first call, and this returns once the LISTEN is in
        place (or the database is found down). On SQLite (a single node) the callbacks are
        called in-process by the committing thread."""
        self._notices.add(channel, callback)
        if not self.is_postgres:
            return
        with self._listener_lock:
            if self._closed:
                return
            if self._listener is None:
                self._listener = Listener(self._listen_connection, self._notices)
            listener = self._listener
        listener.add(channel)

    def _listen_connection(self) -> Any:
        import psycopg2
        return psycopg2.connect(dbname=self.db.database, connect_timeout=5,
                                **self.db.connect_params)

    def unlisten(self, channel: str, callback: Callback) -> None:
        """Stop calling ``callback`` for ``channel`` (an actor that stops); the channel
        stays LISTENed (a notification nobody handles costs nothing) while any callback
        is left; with the last one gone, the listener thread stops and gives its
        connection back (a store outliving its listeners holds no connection for them)."""
        self._notices.remove(channel, callback)
        if any(self._notices.snapshot().values()):
            return
        with self._listener_lock:
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()

    def notify(self, channel: str, payload: str = "") -> None:
        """Wake the listeners of ``channel`` on every node, when the caller's transaction
        commits (dropped if it rolls back; at once outside a transaction). On PostgreSQL
        ``pg_notify`` in that transaction (one notification per distinct channel and
        payload per transaction); on SQLite the local callbacks, after the commit of the
        outermost :meth:`atomic` (a notify in a savepoint that rolls back while the
        transaction commits still wakes: harmless, wake-ups may be spurious)."""
        with self.connection() as db:
            if self.is_postgres:
                db.execute_sql("SELECT pg_notify(%s, %s)", (channel, payload))
            elif db.transaction_depth() > 0:
                self._notices.queue(channel, payload)
            else:
                self._notices.deliver(channel, payload)

    @property
    def listener_reconnects(self) -> int:
        """How many times the listener reconnected after losing the database (0 on SQLite)."""
        return self._listener.reconnects if self._listener is not None else 0

    def close(self) -> None:
        with self._listener_lock:
            self._closed = True
            listener, self._listener = self._listener, None
        if listener is not None:
            listener.stop()
        if hasattr(self.db, "close_all"):
            self.db.close_all()
        elif not self.db.is_closed():
            self.db.close()
