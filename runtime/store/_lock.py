"""SQLite serves one node: the lock a node holds on its SQLite file for its whole life.

Two nodes on one SQLite file would both believe they own it: leases would still exclude
their chain watchers, but every other actor (the intent book's in-memory state, the
attester, the keeper's schedules) assumes it is the only writer of its rows, and SQLite's
single writer lock turns the second node's load into "database is locked" waits. So the
second node is refused at start, with the holder's instance id and pid, and pointed at
PostgreSQL.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on ``<database>.lock``: the kernel drops it when
the holder's file is closed, which includes the process dying (``kill -9``), so no stale
lock can outlive its node; the file's text (instance id and pid) is only for the message.
``flock`` locks belong to the open file, not the process, so two nodes in one process
(tests) exclude each other too.
"""

from __future__ import annotations

import fcntl
import os
from typing import BinaryIO

from .._errors import ConfigError
from ._db import sqlite_path

__all__ = ["NodeLock", "lock_single_node"]


class NodeLock:
    """A held lock on a SQLite database; :meth:`release` at shutdown (idempotent). A file
    object, not a bare descriptor: a node dropped after a failed start lets it go when
    collected, as the OS does when the process exits."""

    def __init__(self, path: str, file: BinaryIO) -> None:
        self.path = path
        self._file: BinaryIO | None = file

    def release(self) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        try:
            file.truncate(0)   # still held: nobody reads a holder that has gone
        finally:
            file.close()       # closing the file releases the lock


def lock_single_node(url: str, instance: str, *, config_file: str) -> NodeLock | None:
    """Take the lock of the SQLite database at ``url`` for node ``instance``; None for a
    database that serves several nodes (PostgreSQL). Raises :class:`ConfigError` (key
    ``database.url``) naming the holder when another node has it."""
    path = sqlite_path(url)
    if path is None or path in ("", ":memory:"):
        return None   # not SQLite, or refused with its own message by open_database
    lock_path = os.path.abspath(path) + ".lock"
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    file = os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+b", buffering=0)
    try:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = file.read(256).decode(errors="replace").split()
        file.close()
        who = f"node {holder[0]} (pid {holder[1]})" if len(holder) == 2 else "another node"
        raise ConfigError(config_file, None, "database.url",
                          f"database {path} is in use by {who}; SQLite serves one node: "
                          "use PostgreSQL for several") from None
    except BaseException:
        file.close()
        raise
    file.truncate(0)
    file.write(f"{instance} {os.getpid()}\n".encode())
    return NodeLock(lock_path, file)
