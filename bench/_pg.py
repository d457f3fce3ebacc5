"""PostgreSQL for the benchmarks: a private database per use, dropped after.

The server is the one the tests use (``ORBITAL_TEST_PG``, default the machine's
127.0.0.1:5432 with trust auth); each ``PgDatabase`` is created empty and dropped with
FORCE, so a benchmark never sees another's tables.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse, urlunparse

__all__ = ["PG_BASE", "PgDatabase"]

PG_BASE = os.environ.get("ORBITAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin(url: str):
    import psycopg2
    p = urlparse(url)
    conn = psycopg2.connect(dbname=p.path.lstrip("/") or "postgres", user=p.username,
                            password=p.password, host=p.hostname, port=p.port or 5432)
    conn.autocommit = True
    return conn


class PgDatabase:
    """``with PgDatabase() as url:`` an empty database for the block."""

    def __enter__(self) -> str:
        self.name = f"orbital_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.conn = _admin(PG_BASE)
        with self.conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{self.name}"')
        return urlunparse(urlparse(PG_BASE)._replace(path=f"/{self.name}"))

    def __exit__(self, *exc) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        self.conn.close()
