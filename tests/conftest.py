"""Fixtures shared by every test folder: real SQLite and a real PostgreSQL database.

PostgreSQL: a fresh database is created on the server at ``ORBITAL_TEST_PG`` (default
postgresql://postgres@127.0.0.1:5432/test, trust auth) for the test run and dropped after
it; each test that uses it gets an empty ``public`` schema. The server must be up (.ci/run
starts it): a missing server fails the tests rather than skipping them.
"""

from __future__ import annotations

import os

import pytest

from runtime.testing import postgres_admin, scratch_postgres

PG_BASE = os.environ.get("ORBITAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def pg_database() -> str:
    """URL of a PostgreSQL database that exists for this test run only."""
    with scratch_postgres(PG_BASE, "orbital_test") as url:
        yield url


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The run's PostgreSQL database with an empty schema for this test."""
    conn = postgres_admin(pg_database)
    with conn.cursor() as cur:
        cur.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    conn.close()
    return pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """Runs the test once on SQLite (a file in tmp_path) and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/orbital.db"
    return request.getfixturevalue("pg_url")
