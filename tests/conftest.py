"""Fixtures shared by every test folder: real SQLite and a real PostgreSQL database.

PostgreSQL: a fresh database is created on the server at ``ORBITAL_TEST_PG`` (default
postgresql://postgres@127.0.0.1:5432/test, trust auth) for the test run and dropped after
it; each test that uses it gets an empty ``public`` schema. The server must be up (.ci/run
starts it): a missing server fails the tests rather than skipping them.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlparse, urlunparse

import psycopg2
import pytest

PG_BASE = os.environ.get("ORBITAL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_conn(url: str):
    p = urlparse(url)
    conn = psycopg2.connect(dbname=p.path.lstrip("/") or "postgres", user=p.username,
                            password=p.password, host=p.hostname, port=p.port or 5432)
    conn.autocommit = True
    return conn


@pytest.fixture(scope="session")
def pg_database() -> str:
    """URL of a PostgreSQL database that exists for this test run only."""
    name = f"orbital_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    conn = _admin_conn(PG_BASE)
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = urlunparse(urlparse(PG_BASE)._replace(path=f"/{name}"))
    yield url
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The run's PostgreSQL database with an empty schema for this test."""
    conn = _admin_conn(pg_database)
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
