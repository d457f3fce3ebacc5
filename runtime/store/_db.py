"""Opening the database: SQLite (WAL, embedded, the default) or PostgreSQL.

Models everywhere bind to one :data:`database` proxy, initialised by :func:`open_database`.
Connections are per thread (each actor is a thread); on PostgreSQL they come from a
bounded pool, and actors hold one only for the length of a unit of work
(``with store.connection():``), so a thousand actors do not mean a thousand connections.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import peewee
from playhouse.pool import PooledPostgresqlDatabase

from .._errors import ConfigError

__all__ = ["database", "open_database", "redact_url", "sqlite_path", "UINT256_TYPES"]

class _ThreadRoutedProxy(peewee.DatabaseProxy):
    """The models' database: the one :func:`open_database` opened last, except on a thread
    inside a unit of work of a :class:`~runtime.store.Store` (``Store.connection`` routes
    it there), where it is that store's. One store per process (a node) sees no
    difference; two in one process (two nodes on one PostgreSQL database, in tests) each
    keep their actors' queries in their own connections, so a fenced transaction holds
    the writes made in it."""

    __slots__ = ("obj", "_callbacks", "_Model", "_routes")

    def __init__(self) -> None:
        self._routes = threading.local()
        super().__init__()

    def target(self) -> peewee.Database:
        """The database this thread's queries go to now."""
        routed = getattr(self._routes, "db", None)
        return routed if routed is not None else self.obj

    def route(self, db: peewee.Database | None) -> peewee.Database | None:
        """Send this thread's model queries to ``db`` (None: the process's); returns the
        route it replaces, to restore."""
        before = getattr(self._routes, "db", None)
        self._routes.db = db
        return before

    def __getattr__(self, attr: str) -> Any:
        db = self.target()
        if db is None:
            raise AttributeError("Cannot use uninitialized Proxy.")
        return getattr(db, attr)

    def __enter__(self) -> Any:
        return self.target().__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self.target().__exit__(*exc)


database = _ThreadRoutedProxy()

WAL_AUTOCHECKPOINT_PAGES = 16384    # 64 MB of 4 kB pages; see open_database

# uint256 does not fit any native integer column: exact decimal text on SQLite (peewee's
# DecimalField would store REAL there and lose digits), NUMERIC(78,0) on PostgreSQL.
UINT256_TYPES = {
    "sqlite": {"UINT256": "TEXT"},
    "postgresql": {"UINT256": "NUMERIC(78,0)"},
}


def redact_url(url: str) -> str:
    """The URL with any password replaced, fit for logs and errors."""
    return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", url)


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite://`` URL (``sqlite:///var/x.db`` is relative,
    ``sqlite:////abs/x.db`` absolute); None for any other scheme."""
    parsed = urlparse(url)
    if parsed.scheme != "sqlite":
        return None
    path = unquote(parsed.path)
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = path[1:]
    return path


def open_database(url: str, *, state_dir: str = "var", pool_size: int = 16) -> peewee.Database:
    parsed = urlparse(url)
    path = sqlite_path(url)
    if path is not None:
        if path in ("", ":memory:"):
            raise ConfigError("database.url", None, "database.url",
                              "an in-memory SQLite database cannot be shared between actors")
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        # wal_autocheckpoint: the ``store`` actor checkpoints the WAL in the background
        # (StoreActor); the commit that crosses this many pages checkpoints in the writer's
        # own thread, so it is set well above the default 1000 (4 MB), which a burst of
        # writes (a backfill range of 2,000 events) crossed every other commit at ~12 ms.
        db = peewee.SqliteDatabase(
            path, field_types=UINT256_TYPES["sqlite"], check_same_thread=False,
            pragmas={"journal_mode": "wal", "synchronous": "normal", "busy_timeout": 10000,
                     "foreign_keys": 1, "wal_autocheckpoint": WAL_AUTOCHECKPOINT_PAGES})
    elif parsed.scheme in ("postgres", "postgresql"):
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        db = PooledPostgresqlDatabase(
            unquote(parsed.path.lstrip("/")) or "postgres",
            user=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            host=parsed.hostname or None, port=parsed.port or None,
            field_types=UINT256_TYPES["postgresql"], max_connections=pool_size,
            stale_timeout=300, timeout=30, **query)
    else:
        raise ConfigError("database.url", None, "database.url",
                          f"unsupported scheme {parsed.scheme!r}; use sqlite:// or postgresql://")
    database.initialize(db)
    return db
