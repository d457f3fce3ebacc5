"""No chain event skipped when watchers' commits land out of id order (issue 10, point 6;
docs/chain-watcher.md "Commit order").

The book reads ``chain_event WHERE id > cursor ORDER BY id`` and moves its cursor to the
last id it applied. On PostgreSQL ids come from a sequence and the watchers of different
chains commit concurrently, so without the commit-order lock of ``insert_events`` a
transaction holding a lower id could commit after one holding a higher id, the book would
move its cursor past the lower id, and that event would never be applied.

Here two watchers' commits race through the real insert path (``event_rows`` of encoded
``Open`` logs, ``insert_events`` in a transaction of the node's store, each on its own
thread and connection): T1 (devnet-a) inserts first, so it holds the lower id, and stays
open; T2 (devnet-b) inserts and commits; the book catches up; T1 commits; the book catches
up again. Both Opens must have made an intent opened on chain, each exactly once. With the
lock T2 waits for T1 (the test sees it waiting in ``pg_locks``); without it T2 commits
first and the book skips T1's row. On SQLite writers serialise in the database: T2 cannot
commit before T1 either way.

The book is the real Book actor of a node whose chains (devnet-a and devnet-b, the
devnet's settler address) have no watcher: only the book and the chain tables are
installed, so every ``chain_event`` row is one this test inserted. Nothing sleeps: waits
poll with deadlines that only bound a failing test.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor

from eth_abi import encode

from actors.book import BookCursor, IntentRow, IntentTransition, Status
from actors.book import install as install_book
from actors.chain_watcher import ChainEventsCommitted
from chains.evm import MIGRATIONS as CHAIN_MIGRATIONS, ChainEvent, event_rows, insert_events
from chains.evm.config import ChainConfig
from chains.evm.ingest import CHAIN_EVENT_LOCK_KEY
from protocol import GaslessOrder, OrbitalOrder, address_to_bytes32
from protocol.events import OPEN, RESOLVED_ORDER_TYPE
from protocol.evidence import Terms
from node import new_app
from runtime.config import App
from runtime.store import Store
from tests.intents.conftest import ADDR, USERS, write_node_config

from .conftest import wait_until

BOOK = "intents/book"
CHAIN_IDS = {"devnet-a": 31337, "devnet-b": 31338}


def _open_log(origin: str, destination: str, *, nonce: int, block: int) -> dict:
    """The ``Open`` log the settler of ``origin`` emits for a fresh order of the devnet's
    first user to ``destination`` (OriginSettler._resolve: maxSpent is the output on the
    destination, minReceived the input escrowed, no filler for an on-chain open)."""
    now = int(time.time())
    order = GaslessOrder(ADDR["settler"], USERS[0].address, nonce, CHAIN_IDS[origin], now + 600,
                         now + 3600, OrbitalOrder(ADDR["USDC"], 100_000_000, ADDR["USDC"],
                                                  99_000_000, USERS[0].address,
                                                  CHAIN_IDS[destination]))
    t = Terms.from_order(order, ADDR["settler"])
    b32 = address_to_bytes32
    resolved = (t.user, t.origin_chain_id, t.open_deadline, t.fill_deadline, t.order_id,
                [(b32(t.output_token), t.min_output, b32(t.recipient), t.destination_chain_id)],
                [(b32(t.input_token), t.input_amount, b32("0x" + "00" * 20), t.origin_chain_id)],
                [(t.destination_chain_id, b32(t.destination_settler), t.origin_data)])
    return {"topics": [OPEN.topic, "0x" + t.order_id.hex()],
            "data": "0x" + encode([RESOLVED_ORDER_TYPE], [resolved]).hex(),
            "blockNumber": hex(block), "blockHash": f"0x{block:064x}",
            "transactionHash": "0x" + t.order_id.hex(), "logIndex": "0x0",
            "address": ADDR["settler"]}


def _book_only_app() -> App:
    """The book and the tables it reads, the ``chains:`` section it knows chains by, and
    no watcher: the test is the only writer of ``chain_event``."""
    app = new_app()
    app.section("chains", dict[str, ChainConfig])
    for migration in CHAIN_MIGRATIONS:
        app.migration(migration)
    install_book(app)
    return app


def _commit(store: Store, rows: list[tuple], *, started: threading.Event | None = None,
            inserted: threading.Event | None = None, go: threading.Event | None = None,
            backend: Future | None = None) -> None:
    """One watcher's commit of ``rows`` (as ``commit_range`` does it: ``insert_events``
    in a transaction), on the calling thread's own connection. ``started`` is set before
    the transaction begins, ``backend`` gets the PostgreSQL backend pid before the insert;
    with ``go`` the transaction stays open, after setting ``inserted``, until ``go`` is set."""
    if started is not None:
        started.set()
    with store.atomic() as db:
        if backend is not None:
            backend.set_result(db.execute_sql("SELECT pg_backend_pid()").fetchone()[0])
        insert_events(db, rows)
        if inserted is not None:
            inserted.set()
        if go is not None and not go.wait(30):
            raise TimeoutError("the test never let the first commit go")


def _waiting_on_a_lock(store: Store, pid: int) -> bool:
    with store.connection() as db:
        return bool(db.execute_sql("SELECT count(*) FROM pg_locks WHERE pid = %s AND NOT granted",
                                   (pid,)).fetchone()[0])


def test_the_book_applies_both_commits_when_they_land_in_reverse_id_order(database_url, tmp_path, nodes):
    rows_a = event_rows("devnet-a", [_open_log("devnet-a", "devnet-b", nonce=1, block=10)])
    rows_b = event_rows("devnet-b", [_open_log("devnet-b", "devnet-a", nonce=2, block=20)])
    ids = {rows_a[0][7], rows_b[0][7]}           # the order ids (chain_event.order_id)
    path = write_node_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                             admission=None)   # the book alone: no admission section
    node = nodes.start(path, _book_only_app)
    pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="watcher-commit")
    go = threading.Event()
    try:
        store = node.store
        if store.is_postgres:    # the lock orders ids only if sessions draw them one by one
            with store.connection() as db:
                [(cache,)] = db.execute_sql("SELECT cache_size FROM pg_sequences WHERE "
                                            "sequencename = 'chain_event_id_seq'").fetchall()
            assert cache == 1, "chain_event's id sequence must not cache (docs/chain-watcher.md)"
        a_inserted, b_started = threading.Event(), threading.Event()
        t1 = pool.submit(_commit, store, rows_a, inserted=a_inserted, go=go)
        assert a_inserted.wait(30), "T1 did not insert"
        b_backend: Future = Future()
        t2 = pool.submit(_commit, store, rows_b, started=b_started,
                         backend=b_backend if store.is_postgres else None)
        if store.is_postgres:    # T2 committed (no lock), or waits for T1 (the lock)
            pid = b_backend.result(30)
            wait_until(lambda: t2.done() or _waiting_on_a_lock(store, pid), timeout=30,
                       what="T2 committed or waiting for T1")
        else:                    # T2 waits for T1's write lock at BEGIN IMMEDIATE
            assert b_started.wait(30)
        first = node.registry.ask(BOOK, ChainEventsCommitted("devnet-b", 20, 20, 1), timeout=30)
        go.set()
        t1.result(30)
        t2.result(30)
        second = node.registry.ask(BOOK, ChainEventsCommitted("devnet-a", 10, 10, 1), timeout=30)
        with store.connection():
            events = {e.order_id: e.id for e in ChainEvent.select()}
            intents = {r.id: r for r in IntentRow.select()}
            history = Counter(t.intent for t in IntentTransition.select())
            cursor = BookCursor.get(BookCursor.name == "chain_events").last_event_id
    finally:
        go.set()
        pool.shutdown(wait=True)
    assert set(events) == ids
    assert events[rows_a[0][7]] < events[rows_b[0][7]]   # T1 held the lower id
    assert set(intents) == ids, f"an Open committed later with a lower id was skipped: {intents}"
    for r in intents.values():
        assert (r.status, r.source) == (Status.OPENED.value, "onchain")
    assert history == {i: 1 for i in ids}                # each applied exactly once
    assert first + second == 2
    assert cursor == max(events.values())


def test_the_commit_order_lock_is_not_the_migration_lock():
    """Both are transaction-level advisory locks on one key space: one key each, or a
    watcher's commit would wait for (or hold up) a node's migrations."""
    from runtime.store._migrations import _LOCK_KEY as MIGRATION_LOCK_KEY
    assert CHAIN_EVENT_LOCK_KEY != MIGRATION_LOCK_KEY
