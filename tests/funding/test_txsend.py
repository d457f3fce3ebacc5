"""chains.evm.txsend on a real anvil and a real store, without a node: nonces shared by
two owners of one key, a refused transaction's nonce reused, recorded-but-unsent bytes
re-sent after a crash, a nonce consumed elsewhere detected, a forgotten transaction
re-sent, and the fee rules. ``submit_all``: several transactions recorded as one step
(all or none across a crash, sent in nonce order), a refused one failing those after it."""

from __future__ import annotations

import threading

import pytest
from eth_account import Account

from chains.evm import RpcClient
from chains.evm.txsend import (GWEI, MIGRATION, EvmTx, Fees, TxCall, TxConfig, TxSender, bump,
                               suggest_fees)
from runtime.store import Store

from .conftest import ETH, fresh_address


@pytest.fixture
def store(database_url, tmp_path):
    """Each test on SQLite (the per-process allocator) and on PostgreSQL (nonces picked in
    the database, under an advisory lock)."""
    s = Store(database_url, state_dir=str(tmp_path), migrations=[MIGRATION])
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def make_sender(chain_a, store, treasury):
    made = []

    def make(owner: str = "test/a", key: str | None = None, **cfg) -> TxSender:
        rpc = RpcClient([chain_a.info.rpc_url], timeout=10)
        s = TxSender("devnet-a", chain_a.info.chain_id, rpc,
                     Account.from_key(key or treasury.private_key), store, owner,
                     TxConfig(**cfg))
        made.append(s)
        return s
    yield make
    for s in made:
        s.close()
        s.rpc.close()


class Crash(RuntimeError):
    pass


def rows(store) -> list[EvmTx]:
    with store.connection():
        return list(EvmTx.select().order_by(EvmTx.id))


def test_two_owners_of_one_key_get_distinct_nonces(chain_a, treasury, make_sender, store):
    chain_a.rpc("evm_setAutomine", False)
    a, b = make_sender("test/a"), make_sender("test/b")
    start = chain_a.nonce(treasury.address)
    sent = [s.submit(fresh_address(), value=1, gas=21_000, reference=f"r{i}")
            for i, s in enumerate((a, b, a, b))]
    assert [r.nonce for r in sent] == [start, start + 1, start + 2, start + 3]
    chain_a.rpc("evm_mine")
    assert {r.status for r in a.poll() + b.poll()} == {"mined"}
    assert chain_a.nonce(treasury.address) == start + 4
    assert [r.reference for r in a.find("r2")] == ["r2"] and b.find("r2") == []


def test_refused_transaction_gives_its_nonce_back(chain_a, treasury, make_sender, store):
    s = make_sender()
    start = chain_a.nonce(treasury.address)
    bad = s.submit(fresh_address(), value=10**30, gas=21_000, reference="too-much")
    assert bad.status == "failed" and "insufficient" in bad.error.lower()
    assert bad.nonce == start and chain_a.nonce(treasury.address) == start
    good = s.submit(fresh_address(), value=ETH, gas=21_000, reference="ok")
    assert good.nonce == start and good.status == "pending" and good.sent_at is not None
    [done] = s.poll()
    assert done.id == good.id and done.status == "mined" and done.block_number
    assert done.gas_used == 21_000


def test_recorded_unsent_bytes_are_sent_after_a_restart(chain_a, treasury, make_sender,
                                                        store):
    s = make_sender()
    start = chain_a.nonce(treasury.address)

    def crash(row):
        raise Crash("between record and broadcast")
    s.after_record = crash
    with pytest.raises(Crash):
        s.submit(fresh_address(), value=ETH, gas=21_000, reference="need-1")
    s.close()
    [row] = rows(store)
    assert row.status == "pending" and row.sent_at is None
    assert chain_a.nonce(treasury.address) == start            # nothing left the node

    again = make_sender()                                      # the restarted owner
    done = again.reconcile()                                   # re-sends the same bytes
    assert done == [] and rows(store)[0].sent_at is not None
    [mined] = again.poll()
    assert mined.tx_hash == row.tx_hash and mined.status == "mined"
    assert chain_a.nonce(treasury.address) == start + 1
    nxt = again.submit(fresh_address(), value=1, gas=21_000)   # the allocator moved on
    assert nxt.nonce == start + 1


def test_a_step_of_several_transactions_is_recorded_at_once_and_sent_in_order(
        chain_a, treasury, make_sender, store):
    s = make_sender()
    start = chain_a.nonce(treasury.address)
    to = [fresh_address() for _ in range(3)]
    seen: list[int] = []

    def crash(row):
        seen.append(len(rows(store)))     # every row of the step is there before any send
        raise Crash("between record and broadcast")
    s.after_record = crash
    with pytest.raises(Crash):
        s.submit_all([TxCall(t, value=i + 1, gas=21_000) for i, t in enumerate(to)],
                     "step-1", purpose="test")
    s.close()
    recorded = rows(store)
    assert seen == [3] and [r.nonce for r in recorded] == [start, start + 1, start + 2]
    assert all(r.status == "pending" and r.sent_at is None and r.reference == "step-1"
               for r in recorded)
    assert chain_a.nonce(treasury.address) == start             # nothing left the node
    again = make_sender()
    again.reconcile()                                           # the recorded step, in order
    done = again.poll()
    assert sorted(r.status for r in done) == ["mined"] * 3
    assert [chain_a.balance(t) for t in to] == [1, 2, 3]
    assert chain_a.nonce(treasury.address) == start + 3 and len(rows(store)) == 3


def test_a_refused_transaction_of_a_step_fails_the_ones_after_it(chain_a, treasury,
                                                                 make_sender, store):
    s = make_sender()
    start = chain_a.nonce(treasury.address)
    first, second = s.submit_all([TxCall(fresh_address(), value=10**30, gas=21_000),
                                  TxCall(fresh_address(), value=1, gas=21_000)], "step-2")
    assert first.status == "failed" and "insufficient" in first.error.lower()
    assert second.status == "failed" and second.sent_at is None
    assert second.error.startswith(f"not sent: {first.tx_hash} before it")
    assert chain_a.nonce(treasury.address) == start
    good = s.submit(fresh_address(), value=1, gas=21_000)      # the nonces are free again
    assert good.nonce == start and good.status == "pending"


def test_nonce_consumed_elsewhere_is_dropped(chain_a, treasury, make_sender, store):
    s = make_sender()
    start = chain_a.nonce(treasury.address)
    s.after_record = lambda row: (_ for _ in ()).throw(Crash("no broadcast"))
    with pytest.raises(Crash):
        s.submit(fresh_address(), value=ETH, gas=21_000, reference="need-1")
    s.close()
    # the same key used outside Orbital takes that nonce
    other = Account.from_key(treasury.private_key).sign_transaction({
        "type": 2, "chainId": chain_a.info.chain_id, "nonce": start, "to": fresh_address(),
        "value": 5, "gas": 21_000, "maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": GWEI})
    h = chain_a.rpc("eth_sendRawTransaction", "0x" + bytes(other.raw_transaction).hex())
    chain_a.w3.eth.wait_for_transaction_receipt(h, timeout=10)
    again = make_sender()
    [dropped] = again.reconcile()
    assert dropped.status == "dropped" and "not ours" in dropped.error
    nxt = again.submit(fresh_address(), value=1, gas=21_000)
    assert nxt.nonce == start + 1 and nxt.status == "pending", nxt.error


def test_forgotten_transaction_is_sent_again(chain_a, treasury, make_sender, store):
    chain_a.rpc("evm_setAutomine", False)
    s = make_sender()
    row = s.submit(fresh_address(), value=ETH, gas=21_000)
    chain_a.rpc("anvil_dropTransaction", row.tx_hash)           # the node forgets it
    assert chain_a.w3.eth.get_transaction_count(treasury.address, "pending") == row.nonce
    s.close()
    again = make_sender()
    again.reconcile()
    chain_a.rpc("evm_mine")
    [mined] = again.poll()
    assert mined.tx_hash == row.tx_hash and mined.status == "mined"


def test_fee_rules(chain_a, make_sender):
    cfg = TxConfig(min_priority_fee_gwei=2, max_fee_gwei=50)
    fees = suggest_fees(make_sender().rpc, cfg)
    assert fees.priority_fee >= 2 * GWEI and fees.priority_fee <= fees.max_fee <= 50 * GWEI
    old = Fees(max_fee=10 * GWEI, priority_fee=2 * GWEI)
    new = bump(old, Fees(5 * GWEI, GWEI), cfg)
    assert new == Fees(max_fee=11_250_000_000, priority_fee=2_250_000_000)
    assert bump(old, Fees(20 * GWEI, 3 * GWEI), cfg) == Fees(20 * GWEI, 3 * GWEI)
    assert bump(Fees(48 * GWEI, GWEI), Fees(GWEI, GWEI), cfg) is None     # past the cap


def test_refused_nonce_under_a_pending_one_is_filled(chain_a, treasury, make_sender, store):
    start = chain_a.nonce(treasury.address)
    a = make_sender("test/a")
    keep = make_sender("test/keep")        # keeps the allocator alive across a's restart
    a.after_record = lambda row: (_ for _ in ()).throw(Crash("no broadcast"))
    with pytest.raises(Crash):
        a.submit(fresh_address(), value=50 * ETH, gas=21_000, reference="big")   # nonce n
    a.close()
    chain_a.rpc("evm_setAutomine", False)
    later = keep.submit(fresh_address(), value=1, gas=21_000, reference="small")
    assert later.nonce == start + 1 and later.status == "pending"
    chain_a.set_balance(treasury.address, 10 * ETH)     # n can no longer be paid
    again = make_sender("test/a")
    [refused] = again.reconcile()                       # n re-sent: refused -> a hole
    assert refused.status == "failed" and refused.nonce == start
    [fill] = keep.replace_stuck(0.0)                    # n+1 waits on n: fill it
    assert (fill.nonce, fill.purpose, fill.value, fill.to) == (start, "nonce-fill", 0,
                                                               treasury.address)
    chain_a.rpc("evm_mine")
    assert {(r.purpose, r.status) for r in keep.poll()} == {("nonce-fill", "mined"),
                                                           ("", "mined")}
    assert chain_a.nonce(treasury.address) == start + 2


def test_nonce_taken_by_a_pooled_foreign_tx(chain_a, treasury, make_sender, store):
    s = make_sender()
    start = chain_a.nonce(treasury.address)
    s.after_record = lambda row: (_ for _ in ()).throw(Crash("no broadcast"))
    with pytest.raises(Crash):
        s.submit(fresh_address(), value=ETH, gas=21_000, reference="need-1")
    s.close()
    chain_a.rpc("evm_setAutomine", False)
    other = Account.from_key(treasury.private_key).sign_transaction({
        "type": 2, "chainId": chain_a.info.chain_id, "nonce": start, "to": fresh_address(),
        "value": 5, "gas": 21_000, "maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": 50 * GWEI})
    chain_a.rpc("eth_sendRawTransaction", "0x" + bytes(other.raw_transaction).hex())
    again = make_sender()
    [refused] = again.reconcile()            # our bytes cannot replace the pooled one
    assert refused.status == "failed" and "underpriced" in refused.error.lower()
    nxt = again.submit(fresh_address(), value=1, gas=21_000)
    assert nxt.nonce == start + 1 and nxt.status == "pending", nxt.error
    chain_a.rpc("evm_mine")
    [mined] = again.poll()
    assert mined.id == nxt.id and mined.status == "mined"
    assert chain_a.nonce(treasury.address) == start + 2


def test_two_processes_sharing_a_key_never_reuse_a_nonce(chain_a, treasury, pg_url, tmp_path):
    """PostgreSQL: two senders of one key as two nodes have them (each its own store, so
    its own allocator), submitting at once in one block window. Each nonce
    is picked under the advisory lock in the transaction that records it: all distinct,
    none refused, all mined. (A per-process counter hands out the same nonces twice.)"""
    store = Store(pg_url, state_dir=str(tmp_path), migrations=[MIGRATION])
    store.migrate()
    other = Store(pg_url, state_dir=str(tmp_path), migrations=[MIGRATION])
    url = chain_a.info.rpc_url
    senders = [TxSender("devnet-a", chain_a.info.chain_id, RpcClient([url], timeout=10),
                        Account.from_key(treasury.private_key), s, f"node-{i}/funding",
                        TxConfig())
               for i, s in enumerate((store, other))]
    assert senders[0]._book is not senders[1]._book     # as in two processes
    try:
        start = chain_a.nonce(treasury.address)
        chain_a.rpc("evm_setAutomine", False)
        sent: list[EvmTx] = []
        errors: list[BaseException] = []

        def burst(s: TxSender) -> None:
            try:
                for i in range(6):
                    sent.append(s.submit(fresh_address(), value=1, gas=21_000,
                                         reference=f"{s.owner}-{i}"))
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)
        threads = [threading.Thread(target=burst, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors
        assert [r.status for r in sent] == ["pending"] * 12, [r.error for r in sent]
        assert sorted(r.nonce for r in sent) == list(range(start, start + 12))
        chain_a.rpc("evm_mine")
        done = senders[0].poll() + senders[1].poll()
        assert len(done) == 12 and {r.status for r in done} == {"mined"}
        assert chain_a.nonce(treasury.address) == start + 12
    finally:
        for s in senders:
            s.close()
            s.rpc.close()
        store.close()
        other.close()


def test_the_record_is_on_disk_before_the_broadcast(chain_a, treasury, make_sender, store,
                                                    monkeypatch):
    """SQLite commits with synchronous=normal (the WAL is synced at checkpoints): before
    the bytes leave, the sender syncs the WAL, so a power loss cannot lose the record of a
    transaction that was sent. PostgreSQL commits are durable already: nothing to sync."""
    import os
    import sqlite3
    events: list[str] = []
    real_fsync = os.fsync
    keep = None
    if not store.is_postgres:   # a second connection, as a node has: the WAL stays (the
        keep = sqlite3.connect(store.db.database)   # last one to close checkpoints it away)
        keep.execute("SELECT count(*) FROM sqlite_master").fetchone()

    def fsync(fd: int) -> None:
        events.append("fsync " + os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    s = make_sender()
    real_call = s.rpc.call

    def call(method, params=(), **kw):
        if method == "eth_sendRawTransaction":
            events.append("send")
        return real_call(method, params, **kw)
    monkeypatch.setattr(s.rpc, "call", call)
    row = s.submit(fresh_address(), value=1, gas=21_000, reference="durable")
    assert row.status == "pending" and row.sent_at is not None
    sends = events.index("send")
    synced = [e for e in events[:sends] if e.startswith("fsync") and e.endswith("-wal")]
    assert bool(synced) == (not store.is_postgres), events
    if keep is not None:
        keep.close()
