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
                               "0003_runtime_node_instances", "0004_runtime_lease_epoch",
                               "0005_runtime_node_advertise", "0006_runtime_cluster_secret",
                               "0500_test_amounts"]
    assert store.migrate() == []
    with store.connection():
        assert SchemaMigration.select().count() == 7
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
                              "0003_runtime_node_instances", "0004_runtime_lease_epoch",
                              "0005_runtime_node_advertise", "0006_runtime_cluster_secret",
                              "0500_test_amounts"]
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


# ---- fencing tokens ------------------------------------------------------------------------
@pytest.mark.parametrize("steps", [
    # (store, now, expected epoch or None): renewals keep the epoch, each new holder bumps it
    [("a", 100, 1), ("a", 105, 1), ("b", 106, None), ("b", 116, 2), ("a", 117, None),
     ("b", 120, 2)],
    # a holder whose lease expired untaken retakes it with a new epoch
    [("a", 100, 1), ("a", 111, 2), ("a", 112, 2)],
    # a release keeps the row: the next holder's epoch is higher, never back to 1
    [("a", 100, 1), ("release-a", 101, None), ("b", 101, 2), ("release-b", 102, None),
     ("a", 102, 3)],
])
def test_epochs_grow_with_each_new_holder(database_url, tmp_path, steps):
    Store(database_url, state_dir=str(tmp_path)).migrate()
    stores = {n: Store(database_url, state_dir=str(tmp_path), node=n) for n in "ab"}
    for who, now, epoch in steps:
        if who.startswith("release-"):
            stores[who[-1]].release_lease("s")
            continue
        assert stores[who].acquire_lease("s", ttl=10, now=now) == epoch, (who, now)
    for s in stores.values():
        s.close()


def test_a_fenced_write_of_an_ex_holder_rolls_back(database_url, tmp_path):
    """Holder a pauses past its TTL; b takes the lease over. a's next write, fenced by its
    old epoch, raises LeaseLost and leaves nothing; b's write with its epoch commits."""
    from runtime import LeaseLost
    a = Store(database_url, state_dir=str(tmp_path), node="a", migrations=[_migration()])
    a.migrate()
    b = Store(database_url, state_dir=str(tmp_path), node="b")
    old = a.acquire_lease("book", ttl=10, now=100)
    new = b.acquire_lease("book", ttl=10, now=111)
    assert (old, new) == (1, 2)
    with pytest.raises(LeaseLost, match="no longer holds book"), a.atomic():
        Amount.insert(value=1).execute(a.db)
        a.fence("book", old, ttl=10, now=112)
    with b.atomic():
        b.fence("book", new, ttl=10, now=112)
        Amount.insert(value=2).execute(b.db)
    with b.connection():
        assert [r.value for r in Amount.select().execute(b.db)] == [2]
    # the holder's own fence refuses a stale epoch too (it lost and retook the lease)
    with pytest.raises(LeaseLost), b.atomic():
        b.fence("book", 1, ttl=10, now=113)
    with pytest.raises(RuntimeError, match="inside the transaction"):
        b.fence("book", new, ttl=10)
    a.close()
    b.close()


def test_a_takeover_waits_for_the_holders_fenced_transaction(pg_url):
    """On PostgreSQL the fence locks the lease row until the holder commits: a node taking
    the expired lease over blocks meanwhile, then finds it renewed and does not take it."""
    a = Store(pg_url, node="a")
    a.migrate()
    b = Store(pg_url, node="b")
    a.acquire_lease("book", ttl=1, now=100)
    fenced, done = threading.Event(), threading.Event()
    taken: list = []

    def take_over() -> None:
        fenced.wait(10)
        taken.append(b.acquire_lease("book", ttl=10, now=102))   # expired by a's old renewal
        done.set()

    t = threading.Thread(target=take_over)
    t.start()
    with a.atomic():
        a.fence("book", 1, ttl=10, now=100.5)   # renewed to 110.5, row locked till commit
        fenced.set()
        assert not done.wait(0.5)               # b is blocked on the row lock
    t.join(10)
    assert taken == [None]                      # renewed by the fenced commit: b stands by
    a.close()
    b.close()


def test_cluster_secret_is_made_once_and_shared(database_url, tmp_path):
    """Every node on the database reads the same random secret; a second migrate (another
    node starting) does not replace it."""
    a = Store(database_url, state_dir=str(tmp_path), instance="a")
    a.migrate()
    b = Store(database_url, state_dir=str(tmp_path), instance="b")
    b.migrate()
    secret = a.cluster_secret()
    assert len(secret) == 64 and int(secret, 16)
    assert b.cluster_secret() == secret
    from runtime import redact
    assert secret not in redact(f"header {secret}")   # registered: never in a log line
    a.close()
    b.close()


def test_lease_holder_names_the_holder_and_its_advertised_address(database_url, tmp_path):
    a = Store(database_url, state_dir=str(tmp_path), instance="a-1")
    a.migrate()
    b = Store(database_url, state_dir=str(tmp_path), instance="b-1")
    assert a.lease_holder("book") is None
    a.heartbeat(pid=1, host="h", grpc_listen="0.0.0.0:5001", advertise="10.0.0.1:5001")
    b.heartbeat(pid=2, host="h", grpc_listen="127.0.0.1:5002")
    assert a.acquire_lease("book", ttl=10, now=1000.0) == 1
    holder = b.lease_holder("book", now=1005.0)
    assert (holder.instance, holder.address, holder.epoch) == ("a-1", "10.0.0.1:5001", 1)
    assert b.lease_holder("book", now=1011.0) is None          # expired: nobody holds it
    assert b.acquire_lease("book", ttl=10, now=1011.0) == 2
    holder = a.lease_holder("book", now=1012.0)
    assert (holder.instance, holder.address) == ("b-1", "127.0.0.1:5002")   # no advertise
    a.close()
    b.close()


def test_default_advertised_address_reads_a_wildcard_as_loopback():
    from runtime.store import advertised_address
    assert advertised_address("0.0.0.0:5001") == "127.0.0.1:5001"
    assert advertised_address("[::]:5001") == "127.0.0.1:5001"
    assert advertised_address("10.1.2.3:5001") == "10.1.2.3:5001"
    assert advertised_address("") == ""


def test_two_stores_in_one_process_keep_their_models_queries_apart(pg_url, tmp_path):
    """Two nodes in one process (tests) on one PostgreSQL database: inside a unit of work
    of store A, the models' queries run on A's connection (not on the store opened last),
    so a transaction of A that rolls back takes the writes made in it along."""
    a = Store(pg_url, state_dir=str(tmp_path), instance="a-000001")
    a.migrate()
    b = Store(pg_url, state_dir=str(tmp_path), instance="b-000002")   # opened last
    try:
        with pytest.raises(RuntimeError), a.atomic():
            Lease.insert(name="routed", owner="a", expires_at=0, epoch=1).execute()
            raise RuntimeError("roll back")
        with b.connection():
            assert Lease.select().where(Lease.name == "routed").count() == 0
        with a.atomic():
            Lease.insert(name="routed", owner="a", expires_at=0, epoch=1).execute()
        with b.connection():
            assert Lease.select().where(Lease.name == "routed").count() == 1
    finally:
        a.close()
        b.close()
