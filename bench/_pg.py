"""PostgreSQL for the benchmarks: a private database per use, dropped after.

The server is the one the tests use (``ORBITAL_TEST_PG``, default the machine's
127.0.0.1:5432 with trust auth); each ``PgDatabase()`` is created empty and dropped with
FORCE (``runtime.testing.scratch_postgres``), so a benchmark never sees another's tables.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager

from runtime.testing import scratch_postgres

__all__ = ["PG_BASE", "PgDatabase"]

PG_BASE = os.environ.get("ORBITAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def PgDatabase() -> AbstractContextManager[str]:  # noqa: N802 - used like a class
    """``with PgDatabase() as url:`` an empty database for the block."""
    return scratch_postgres(PG_BASE, "orbital_bench")
