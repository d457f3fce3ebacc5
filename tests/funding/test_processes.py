"""Funding accounts under real ``orbital run`` processes on one PostgreSQL database, where
signals matter: a holder stopped (SIGSTOP) past its lease writes and sends nothing once it
runs again (SIGCONT) and stands by without crash-looping; a holder stopped gracefully
(SIGTERM) hands its lease over at once, far inside the lease's TTL; two processes topping
up from one source key never reuse a nonce.

Transfers are counted on anvil (the source's nonce) and in ``evm_tx``; who holds a lease
is read from the lease table."""

from __future__ import annotations

import os
import signal
import time

import pytest

from actors.funding import TopUpRow
from chains.evm.txsend import MIGRATION as TX_MIGRATION
from chains.evm.txsend import EvmTx
from runtime.store import Lease, Store
from runtime.testing import wait_until
from tests.node.test_process import Proc, free_port

from .conftest import ETH, default_account, fresh_address, write_config

ACTOR_FAILED = "actor failed"


@pytest.fixture
def db(pg_url, tmp_path):
    """The test's own view of the nodes' database."""
    store = Store(pg_url, state_dir=str(tmp_path), migrations=[TX_MIGRATION])
    yield store
    store.close()


@pytest.fixture
def processes(tmp_path, pg_url, chains, treasury, monkeypatch):
    """``start(name, accounts, **node)`` -> a running ``orbital run`` (stopped after)."""
    monkeypatch.setenv("FUNDING_KEY", treasury.private_key)
    for var in ("ORBITAL_ATTESTER_KEY", "ORBITAL_RELAYER_KEY"):
        monkeypatch.delenv(var, raising=False)
    started: list[Proc] = []

    def start(name: str, accounts: dict, **node) -> Proc:
        cfg = tmp_path / f"{name}.yaml"
        write_config(cfg, pg_url, tmp_path / f"var-{name}", accounts, chains, name=name,
                     grpc_port=free_port(), admission=False, **node)
        proc = Proc(str(cfg), str(tmp_path))
        started.append(proc)
        proc.wait_for("node started")
        return proc
    yield start
    for proc in started:
        if proc.p.poll() is None:
            proc.p.send_signal(signal.SIGCONT)
            proc.stop()


def account(target: str) -> dict:
    return default_account(target, poll_interval=0.2)


def holder(db: Store, lease: str) -> str | None:
    with db.connection():
        row = Lease.select().where(Lease.name == lease).execute(db.db)
        row = next(iter(row), None)
    return row.owner if row is not None and row.expires_at > time.time() else None


def instance(proc: Proc) -> str:
    return proc.wait_for("node started")["instance"]


def rows(db: Store) -> list[EvmTx]:
    with db.connection():
        return list(EvmTx.select().order_by(EvmTx.id).execute(db.db))


def needs(db: Store) -> list[TopUpRow]:
    with db.connection():
        return list(TopUpRow.select().order_by(TopUpRow.id).execute(db.db))


def logged(proc: Proc, *msgs: str) -> list[dict]:
    with proc.cond:
        return [e for e in proc.lines if e.get("msg") in msgs]


def test_a_stopped_holder_resumes_and_writes_and_sends_nothing(
        processes, db, chain_a, treasury):
    target = fresh_address()
    chain_a.set_balance(target, 3 * ETH)             # nothing to do yet
    a = processes("node-a", {"gas": account(target)}, lease_ttl=2)
    wait_until(lambda: holder(db, "funding:gas") == instance(a), what="A leads")
    b = processes("node-b", {"gas": account(target)}, lease_ttl=2)
    nonce = chain_a.nonce(treasury.address)

    chain_a.rpc("evm_setAutomine", False)            # B's top-up stays pending: when A
    a.p.send_signal(signal.SIGSTOP)                  # resumes, the balance is still low
    chain_a.set_balance(target, 0)
    wait_until(lambda: holder(db, "funding:gas") == instance(b), what="B takes over")
    wait_until(lambda: len(rows(db)) == 1, what="B's top-up recorded and sent")

    a.p.send_signal(signal.SIGCONT)
    wait_until(lambda: logged(a, "lease lost: another node does this work; standing by",
                              "write refused: lease lost (fenced)"),
               what="A finds its lease gone")
    chain_a.rpc("evm_mine")
    wait_until(lambda: [n.status for n in needs(db)] == ["confirmed"],
               what="B's top-up confirmed")
    wait_until(lambda: logged(a, "lease lost: another node does this work; standing by",
                              "funding round stopped: another node holds the account's lease")
               or holder(db, "funding:gas") == instance(b), what="A stands by")

    assert chain_a.nonce(treasury.address) == nonce + 1          # one transfer: B's
    assert chain_a.balance(target) == 3 * ETH
    [row] = rows(db)
    [need] = needs(db)
    assert row.status == "mined" and row.reference == need.reference
    assert holder(db, "funding:gas") == instance(b)
    assert a.p.poll() is None and not logged(a, ACTOR_FAILED)    # standing by, no crash
    a_refused = logged(a, "write refused: lease lost (fenced)")
    assert all(e.get("lease") == "funding:gas" for e in a_refused)


def test_sigterm_hands_the_lease_over_at_once(processes, db, chain_a):
    target = fresh_address()
    chain_a.set_balance(target, 3 * ETH)
    a = processes("node-a", {"gas": account(target)}, lease_ttl=30)
    wait_until(lambda: holder(db, "funding:gas") == instance(a), what="A leads")
    b = processes("node-b", {"gas": account(target)}, lease_ttl=30)
    assert holder(db, "funding:gas") == instance(a)

    a.p.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    wait_until(lambda: holder(db, "funding:gas") == instance(b), timeout=30,
               what="B takes over")
    took = time.monotonic() - sent
    print(f"SIGTERM to take-over: {took:.2f} s (lease TTL 30 s)")
    assert a.p.wait(30) == 0
    assert took < 10        # released, not expired: the TTL is 30 s


def test_two_processes_topping_up_from_one_key_never_reuse_a_nonce(
        processes, db, chain_a, treasury):
    """gas-a runs on node A only, gas-b on node B only, both from the treasury key."""
    ta, tb = fresh_address(), fresh_address()
    chain_a.set_balance(ta, 3 * ETH)
    chain_a.set_balance(tb, 3 * ETH)
    processes("node-a", {"gas-a": account(ta)})
    processes("node-b", {"gas-b": account(tb)})
    wait_until(lambda: holder(db, "funding:gas-a") and holder(db, "funding:gas-b"),
               what="both accounts led")
    assert holder(db, "funding:gas-a") != holder(db, "funding:gas-b")
    nonce = chain_a.nonce(treasury.address)

    chain_a.rpc("evm_setAutomine", False)            # both top-ups in one block window
    chain_a.set_balance(ta, 0)
    chain_a.set_balance(tb, 0)
    wait_until(lambda: len(rows(db)) == 2, what="both top-ups sent")
    chain_a.rpc("evm_mine")
    chain_a.rpc("evm_setAutomine", True)
    wait_until(lambda: [n.status for n in needs(db)] == ["confirmed"] * 2,
               what="both confirmed")
    for drained in (ta, tb, ta):                     # then one after the other
        chain_a.set_balance(drained, 0)
        count = len(needs(db))
        wait_until(lambda n=count + 1: len(needs(db)) == n
                   and needs(db)[-1].status == "confirmed", what="the top-up confirmed")

    txs = rows(db)
    assert [r.status for r in txs] == ["mined"] * 5, [r.error for r in txs]
    assert sorted(r.nonce for r in txs) == list(range(nonce, nonce + 5))
    assert chain_a.nonce(treasury.address) == nonce + 5
    assert chain_a.balance(ta) == 3 * ETH and chain_a.balance(tb) == 3 * ETH
    assert os.environ["FUNDING_KEY"]          # the processes had the key from here


def test_kill_9_of_the_holder_mid_top_up_pays_once(processes, db, chain_a, treasury):
    """A sends a top-up (pending: automine off) and is killed. B takes the account over
    once A's lease expires, follows A's transaction (no second one) and confirms it."""
    target = fresh_address()
    chain_a.set_balance(target, 3 * ETH)
    a = processes("node-a", {"gas": account(target)}, lease_ttl=2)
    wait_until(lambda: holder(db, "funding:gas") == instance(a), what="A leads")
    b = processes("node-b", {"gas": account(target)}, lease_ttl=2)
    nonce = chain_a.nonce(treasury.address)

    chain_a.rpc("evm_setAutomine", False)
    chain_a.set_balance(target, 0)
    wait_until(lambda: len(rows(db)) == 1 and rows(db)[0].sent_at, what="A's top-up sent")
    a.p.kill()
    killed = time.monotonic()
    a.p.wait(10)
    wait_until(lambda: holder(db, "funding:gas") == instance(b), timeout=30,
               what="B takes over after the lease expires")
    took = time.monotonic() - killed
    print(f"kill -9 to take-over: {took:.2f} s (lease TTL 2 s)")
    chain_a.rpc("evm_mine")
    wait_until(lambda: [n.status for n in needs(db)] == ["confirmed"], what="confirmed by B")
    assert chain_a.nonce(treasury.address) == nonce + 1 and chain_a.balance(target) == 3 * ETH
    [row] = rows(db)
    assert row.status == "mined" and not logged(b, ACTOR_FAILED)
