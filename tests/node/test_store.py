"""The store on real SQLite and real PostgreSQL: migrations, exact uint256, leases."""

from __future__ import annotations

import threading

import pytest

from runtime import Unavailable
from runtime.store import (UINT256_MAX, BaseModel, Lease, Migration, SchemaMigration, Store,
                           UInt256Field)


class Amount(BaseModel):
    value = UInt256Field()


def _migration():
    return Migration("0500_test_amounts", lambda db: db.create_tables([Amount]))


def test_uint256_round_trip_exact(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=[_migration()])
    store.migrate()
    values = [0, 1, 10**18 + 1, 2**128 + 7, UINT256_MAX - 1, UINT256_MAX]
    with store.connection():
        for v in values:
            Amount.create(value=v)
        got = [a.value for a in Amount.select().order_by(Amount.id)]
    assert got == values
    with store.connection(), pytest.raises(ValueError, match="outside uint256"):
        Amount.create(value=UINT256_MAX + 1)
    with store.connection(), pytest.raises(ValueError):
        Amount.create(value=-1)
    store.close()


def test_migrations_twice_in_a_row_are_idempotent(database_url, tmp_path):
    store = Store(database_url, state_dir=str(tmp_path), migrations=[_migration()])
    assert store.migrate() == ["0001_runtime_leases", "0002_runtime_lease_owner",
                               "0003_runtime_node_instances", "0500_test_amounts"]
    assert store.migrate() == []
    with store.connection():
        assert SchemaMigration.select().count() == 4
    store.close()


def test_failed_migration_rolls_back_whole(database_url, tmp_path):
    def boom(db):
        db.create_tables([Amount])
        raise RuntimeError("half-done migration")
    store = Store(database_url, state_dir=str(tmp_path), migrations=[Migration("0600_x", boom)])
    with pytest.raises(RuntimeError):
        store.migrate()
    with store.connection():
        assert not store.db.table_exists("amount")
        assert not store.db.table_exists("schema_migration") or \
            SchemaMigration.select().count() == 0
    store.close()


def test_two_nodes_migrating_together(pg_url):
    """Concurrent starts serialise on the advisory lock: each migration is applied once."""
    stores = [Store(pg_url, node=f"n{i}", migrations=[_migration()]) for i in range(4)]
    results, barrier = {}, threading.Barrier(len(stores))

    def go(i):
        barrier.wait()
        results[i] = stores[i].migrate()
    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    applied = [m for r in results.values() for m in r]
    assert sorted(applied) == ["0001_runtime_leases", "0002_runtime_lease_owner",
                              "0003_runtime_node_instances", "0500_test_amounts"]
    for s in stores:
        s.close()


def test_leases_split_work_between_nodes(database_url, tmp_path):
    a = Store(database_url, state_dir=str(tmp_path), node="a")
    a.migrate()
    b = Store(database_url, state_dir=str(tmp_path), node="b")
    assert a.acquire_lease("chains/watcher/x", ttl=10, now=100)
    assert not b.acquire_lease("chains/watcher/x", ttl=10, now=105)
    assert a.acquire_lease("chains/watcher/x", ttl=10, now=105)      # renew
    assert b.acquire_lease("chains/watcher/x", ttl=10, now=116)      # expired: taken over
    assert not a.acquire_lease("chains/watcher/x", ttl=10, now=117)
    b.release_lease("chains/watcher/x")
    assert a.acquire_lease("chains/watcher/x", ttl=10, now=118)
    a.close()
    b.close()


def test_leases_are_held_by_the_instance_not_the_name(database_url, tmp_path):
    """Two nodes left on one name (the longest a config allows) are two instances: they
    exclude each other, and the owner column holds name plus suffix."""
    name = "n" * 64
    a = Store(database_url, state_dir=str(tmp_path), node=name, instance=f"{name}-aaaaaa")
    a.migrate()
    b = Store(database_url, state_dir=str(tmp_path), node=name, instance=f"{name}-bbbbbb")
    assert a.acquire_lease("chain:x", ttl=10, now=100)
    assert not b.acquire_lease("chain:x", ttl=10, now=105)
    b.release_lease("chain:x")                       # not b's: a keeps it
    assert not b.acquire_lease("chain:x", ttl=10, now=106)
    with a.connection():
        assert Lease.get_by_id("chain:x").owner == f"{name}-aaaaaa"
    a.release_lease("chain:x")
    assert b.acquire_lease("chain:x", ttl=10, now=107)
    a.close()
    b.close()


def test_a_lease_table_from_before_instances_is_widened(pg_url):
    """A database whose lease owners were names (VARCHAR(64)) takes instance owners after
    the runtime's migration 0002."""
    store = Store(pg_url)
    store.migrate()
    with store.connection() as db:   # as 0001 left it before owners were instances
        db.execute_sql('ALTER TABLE "lease" ALTER COLUMN "owner" TYPE VARCHAR(64)')
        SchemaMigration.delete().where(SchemaMigration.id == "0002_runtime_lease_owner").execute()
    store.close()
    store = Store(pg_url, node="n" * 64, instance="n" * 64 + "-abcdef")
    assert store.migrate() == ["0002_runtime_lease_owner"]
    assert store.acquire_lease("chain:x", ttl=10)
    store.close()


def test_sqlite_is_wal(tmp_path):
    store = Store(f"sqlite:///{tmp_path}/x.db")
    with store.connection() as db:
        assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_unreachable_postgres_is_unavailable():
    store = Store("postgresql://postgres@127.0.0.1:1/nothing")
    with pytest.raises(Unavailable, match="the database is unavailable; retry"):
        store.ping()
    # Backing off: the next unit of work fails at once, without a connect attempt.
    with pytest.raises(Unavailable, match="the database is unavailable; retry"):
        store.ping()


def test_url_password_redacted():
    store = Store("postgresql://user:hunter22@127.0.0.1:1/db")
    assert "hunter22" not in store.url and "***" in store.url


def test_unsupported_scheme_refused():
    from runtime import ConfigError
    with pytest.raises(ConfigError, match="unsupported scheme"):
        Store("mysql://x/y")


def test_node_registry_lists_recent_nodes_with_their_live_leases(database_url, tmp_path):
    """Store.list_nodes at a given time: nodes seen within the bound, each with the leases
    it holds unexpired; started_at stays the first heartbeat's, and a deleted row is gone."""
    a = Store(database_url, state_dir=str(tmp_path), node="a", instance="a-1")
    a.migrate()   # before the others rebind the models' proxy, which migrate() queries through
    b = Store(database_url, state_dir=str(tmp_path), node="b", instance="b-1")
    c = Store(database_url, state_dir=str(tmp_path), node="c", instance="c-1")
    try:
        a.heartbeat(pid=11, host="h1", grpc_listen="10.0.0.1:50051", now=100.0)
        a.heartbeat(pid=11, host="h1", grpc_listen="10.0.0.1:50051", now=105.0)
        b.heartbeat(pid=22, host="h2", grpc_listen="10.0.0.2:50051", now=99.0)   # the bound
        c.heartbeat(pid=33, host="h3", grpc_listen="10.0.0.3:50051", now=90.0)   # stale
        assert a.acquire_lease("chain:x", 10, now=100.0)       # live at 105
        assert a.acquire_lease("chain:old", 1, now=100.0)      # expired at 105
        assert b.acquire_lease("chain:y", 30, now=100.0)
        assert c.acquire_lease("chain:z", 30, now=100.0)       # its node is not listed
        nodes = a.list_nodes(6.0, now=105.0)
        assert [(n.instance, n.name, n.pid, n.host, n.grpc_listen, n.started_at, n.last_seen)
                for n in nodes] == [("a-1", "a", 11, "h1", "10.0.0.1:50051", 100.0, 105.0),
                                    ("b-1", "b", 22, "h2", "10.0.0.2:50051", 99.0, 99.0)]
        assert [[(x.name, x.expires_at) for x in n.leases] for n in nodes] == [
            [("chain:x", 110.0)], [("chain:y", 130.0)]]
        b.unregister_node()
        assert [n.instance for n in a.list_nodes(60.0, now=105.0)] == ["a-1", "c-1"]
    finally:
        for s in (a, b, c):
            s.close()
