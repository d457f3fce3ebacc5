"""Wake-ups between nodes: PostgreSQL LISTEN/NOTIFY, never the truth (:meth:`Store.listen`).

A notification tells an actor "look at the database now" instead of waiting for its next
poll. It carries no state that matters: a node that was disconnected when one was sent
never gets it, so after every reconnect each callback is called once (payload ``""``),
and a reader always reads what changed from the store (by version, by cursor), never from
the payload. A spurious wake-up costs one read; a missed one costs only latency.

On PostgreSQL :class:`Listener` is one thread per store with a connection of its own (not
from the pool: a LISTEN lasts as long as the session), LISTENing on every registered
channel. On SQLite (one node per file, see ``_lock.py``) there is no one else to tell:
:meth:`Store.notify` calls the local callbacks after the commit (:class:`LocalNotices`).
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["Callback", "Listener", "LocalNotices"]

log = logging.getLogger("orbital.store")

Callback = Callable[[str], None]

_BACKOFF_FIRST, _BACKOFF_MAX = 0.1, 2.0
# Idle this long, the listener proves its connection with a SELECT 1: a connection cut
# without a FIN (a partition) is otherwise noticed only by the kernel's TCP timeouts.
_KEEPALIVE = 5.0
# How long listen() waits for the LISTEN to be in place (the database answering).
_LISTEN_WAIT = 5.0


def _call(callbacks: list[Callback], payload: str) -> None:
    """Call each of ``callbacks``: one that raises is logged, the others still run."""
    for callback in callbacks:
        try:
            callback(payload)
        except Exception:  # noqa: BLE001 - a wake-up must not kill the listener
            log.exception("notification callback failed")


class LocalNotices:
    """In-process wake-ups (SQLite): callbacks per channel, and the notices of each
    thread's open transaction, delivered when it commits and dropped when it rolls back
    (:meth:`Store.atomic` calls :meth:`commit` / :meth:`discard`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.callbacks: dict[str, list[Callback]] = {}
        self._pending = threading.local()

    def add(self, channel: str, callback: Callback) -> None:
        with self._lock:
            self.callbacks.setdefault(channel, []).append(callback)

    def remove(self, channel: str, callback: Callback) -> None:
        with self._lock:
            callbacks = self.callbacks.get(channel, [])
            if callback in callbacks:
                callbacks.remove(callback)

    def snapshot(self) -> dict[str, list[Callback]]:
        with self._lock:
            return {c: list(cbs) for c, cbs in self.callbacks.items()}

    def queue(self, channel: str, payload: str) -> None:
        pending: list[tuple[str, str]] = getattr(self._pending, "items", None) or []
        pending.append((channel, payload))
        self._pending.items = pending

    def deliver(self, channel: str, payload: str) -> None:
        with self._lock:
            callbacks = list(self.callbacks.get(channel, ()))
        _call(callbacks, payload)

    def commit(self) -> None:
        pending = getattr(self._pending, "items", None) or []
        self._pending.items = []
        for channel, payload in pending:
            self.deliver(channel, payload)

    def discard(self) -> None:
        self._pending.items = []


class Listener:
    """The LISTEN connection of one store (PostgreSQL), on a daemon thread.

    ``connect`` opens a new psycopg2 connection. Channels are LISTENed as they are
    registered (:meth:`add` waits until the LISTEN is in place, or the database is found
    down); on a broken connection the thread reconnects with a backoff (0.1 s doubling to
    2 s), LISTENs again on every channel and calls every callback once (``""``):
    notifications sent meanwhile are lost. :meth:`stop` ends it (``Store.close``)."""

    def __init__(self, connect: Callable[[], Any], notices: LocalNotices) -> None:
        self._connect = connect
        self._notices = notices
        self._cond = threading.Condition()
        self._listening: set[str] = set()
        self._up = False          # the connection is open and LISTENing
        self._tried = False       # a connect was attempted (listen() need not wait longer)
        self._stop = threading.Event()
        self._wake_r, self._wake_w = os.pipe()
        self.reconnects = 0       # how many times it reconnected after losing the database
        self._pause = 0.0         # the wait before the next connect (backoff)
        self._thread = threading.Thread(target=self._run, name="orbital-store-listen",
                                        daemon=True)
        self._thread.start()

    def add(self, channel: str) -> None:
        """LISTEN on ``channel`` too (its callbacks are in the notices): returns once
        that is in place, or at once while the database is down (the reconnect wakes
        every callback, so nothing sent meanwhile is missed for good)."""
        self._wake()
        deadline = time.monotonic() + _LISTEN_WAIT
        with self._cond:
            while channel not in self._listening and not (self._tried and not self._up):
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return
                self._cond.wait(left)

    def stop(self) -> None:
        self._stop.set()
        self._wake()
        self._thread.join(10)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:   # stopped: the pipe is closed
            pass

    # ---- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        missed = False   # a connection failed or broke: notifications may have been lost
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.autocommit = True
                self._serve(conn, wake_all=missed)
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect after a pause
                if self._stop.is_set():
                    break
                self._pause = min(_BACKOFF_MAX, max(_BACKOFF_FIRST, 2 * self._pause))
                if self._up or not missed:
                    log.warning("store listener lost its connection; reconnecting",
                                extra={"error": str(exc).split("\n")[0],
                                       "retry_in": self._pause})
                missed = True
            finally:
                with self._cond:
                    self._up, self._tried = False, True
                    self._listening.clear()
                    self._cond.notify_all()
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001 - closing a dead connection
                        pass
            self._stop.wait(self._pause)

    def _serve(self, conn: Any, *, wake_all: bool) -> None:
        """LISTEN, then deliver until the connection breaks or the listener stops."""
        self._listen_all(conn)
        with self._cond:
            self._up, self._tried = True, True
            self._cond.notify_all()
        self._pause = 0.0
        if wake_all:
            self.reconnects += 1
            log.info("store listener reconnected; waking every listener once")
            for callbacks in self._notices.snapshot().values():
                _call(callbacks, "")
        idle_since = time.monotonic()
        # poll(), not select(): select() refuses a descriptor numbered 1024 or above, which a
        # busy process reaches (sockets, files, pipes); the listener then failed at once on
        # every reconnect and woke every callback with "" in a loop.
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while not self._stop.is_set():
            ready = {fd for fd, _ in poller.poll(_KEEPALIVE * 1000)}
            if self._wake_r in ready:
                os.read(self._wake_r, 4096)
                self._listen_all(conn)
            if conn.fileno() in ready:
                conn.poll()
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= _KEEPALIVE:
                with conn.cursor() as cur:
                    cur.execute("SELECT 1")
                idle_since = time.monotonic()
            # also what arrived during a LISTEN or the keepalive (psycopg2 queues those)
            while conn.notifies:
                note = conn.notifies.pop(0)
                self._notices.deliver(note.channel, note.payload)

    def _listen_all(self, conn: Any) -> None:
        from psycopg2 import sql
        wanted = set(self._notices.snapshot())
        new = wanted - self._listening
        if not new:
            return
        with conn.cursor() as cur:
            for channel in sorted(new):
                cur.execute(sql.SQL("LISTEN {}").format(sql.Identifier(channel)))
        with self._cond:
            self._listening |= new
            self._cond.notify_all()
