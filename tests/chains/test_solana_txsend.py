"""chains.solana.txsend against a real solana-local (LiteSVM RPC on loopback, blocks only
when a test makes them) and a real store (SQLite and PostgreSQL): the record comes before
the send; a crash between them is finished by the same signed bytes; a record whose
blockhash expired without landing is rebuilt once (new blockhash, new signature) and
lands once; one that landed is never re-made, even when its confirmation was lost; one
the nodes only refused ends failed, never rebuilt."""

from __future__ import annotations

import threading

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from chains.solana import (TX_EXPIRED, TX_FAILED, TX_LANDED, TX_MIGRATION, TX_PENDING, SolanaRpc,
                           SolanaTx, SolanaTxSender)
from devnet.solana_keys import SOLANA_ACCOUNTS
from devnet.solana_rpc import SolanaRpcServer
from devnet.solana_svm import BLOCKHASH_VALIDITY
from protocol.solana import sol_transfer
from runtime.store import Store

PAYER = SOLANA_ACCOUNTS[1]


class Crash(RuntimeError):
    pass


@pytest.fixture(scope="module")
def local():
    server = SolanaRpcServer("127.0.0.1", 0, slot_ms=0)     # blocks only per tx / test
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(database_url, tmp_path):
    s = Store(database_url, state_dir=str(tmp_path), migrations=[TX_MIGRATION])
    s.migrate()
    yield s
    s.close()


@pytest.fixture
def make_sender(local, store):
    made = []

    def make() -> SolanaTxSender:
        rpc = SolanaRpc([local.url], timeout=5, backoff_max=0.1)
        made.append(rpc)
        return SolanaTxSender("sol", rpc, PAYER.keypair, store, "test/a",
                              commitment="finalized")
    yield make
    for rpc in made:
        rpc.close()


def rows(store) -> list[SolanaTx]:
    with store.connection():
        return list(SolanaTx.select().order_by(SolanaTx.id))


def landed_to(local, who: str) -> list[str]:
    """Signatures of the transactions that touched ``who``, from the chain itself."""
    return [r.signature for r in local.chain.signatures_for(who, 1000, None, None)]


def expire(local) -> None:
    for _ in range(BLOCKHASH_VALIDITY + 2):
        local.chain.new_block()


def _pay(who: str, lamports: int = 1_000_000):
    return [sol_transfer(str(PAYER.pubkey), who, lamports)]


def test_submit_records_then_sends_and_lands(local, store, make_sender):
    s, to = make_sender(), str(Keypair().pubkey())
    seen = []
    s.after_record = lambda row: seen.append((row.signature, landed_to(local, to)))
    row = s.submit(_pay(to), "need-1", purpose="top-up")
    assert seen == [(row.signature, [])]          # recorded while nothing was sent
    assert row.status == TX_PENDING and row.sent_at is not None
    assert [r.signature for r in s.poll()] == [row.signature]
    [stored] = rows(store)
    assert (stored.status, stored.reference, stored.purpose, stored.payer) == \
        (TX_LANDED, "need-1", "top-up", str(PAYER.pubkey))
    assert stored.slot is not None and landed_to(local, to) == [row.signature]
    assert s.poll() == [] and s.find("need-1")[0].id == stored.id


def test_crash_between_record_and_send_is_finished_with_the_same_bytes(local, store,
                                                                        make_sender):
    to = str(Keypair().pubkey())
    first = make_sender()

    def crash(row):
        raise Crash("after record")
    first.after_record = crash
    with pytest.raises(Crash):
        first.submit(_pay(to), "need-2")
    [recorded] = rows(store)
    assert recorded.sent_at is None and landed_to(local, to) == []
    again = make_sender()                         # the restarted owner
    again.reconcile()                             # sends the recorded bytes
    again.poll()
    [row] = rows(store)
    assert row.status == TX_LANDED and row.signature == recorded.signature
    assert landed_to(local, to) == [recorded.signature]
    assert local.chain.account(Pubkey.from_string(to)).lamports == 1_000_000


def test_expired_record_that_never_landed_is_rebuilt_once(local, store, make_sender):
    to = str(Keypair().pubkey())
    first = make_sender()

    def crash(row):
        raise Crash("after record")
    first.after_record = crash
    with pytest.raises(Crash):
        first.submit(_pay(to), "need-3")
    [recorded] = rows(store)
    assert first.rpc.blockhash_valid(recorded.blockhash, "finalized")
    assert first.rpc.block_height("finalized") <= recorded.last_valid_height
    expire(local)                                 # the blockhash is gone, nothing landed
    assert not first.rpc.blockhash_valid(recorded.blockhash, "finalized")
    assert first.rpc.block_height("finalized") > recorded.last_valid_height
    again = make_sender()
    done = again.reconcile()
    old, new = rows(store)
    assert [r.id for r in done] == [old.id]
    assert (old.status, new.replaces, new.reference) == (TX_EXPIRED, old.id, "need-3")
    assert new.signature != old.signature and new.blockhash != old.blockhash
    assert new.sent_at is not None
    again.poll()
    assert rows(store)[1].status == TX_LANDED
    assert landed_to(local, to) == [new.signature]            # one transfer
    expire(local)
    assert again.poll() == [] and len(rows(store)) == 2       # and nothing more


def test_a_landed_transaction_whose_confirmation_was_lost_is_never_remade(local, store,
                                                                        make_sender):
    to = str(Keypair().pubkey())
    s = make_sender()
    row = s.submit(_pay(to), "need-4")             # sent and landed at once
    assert landed_to(local, to) == [row.signature]
    with store.atomic():                          # the confirmation never recorded
        SolanaTx.update(status=TX_PENDING, sent_at=None, slot=None).execute()
    expire(local)
    done = make_sender().reconcile()
    [stored] = rows(store)
    assert [r.id for r in done] == [stored.id]
    assert stored.status == TX_LANDED and stored.slot is not None
    assert landed_to(local, to) == [row.signature]


def test_a_transaction_only_ever_refused_ends_failed_and_is_not_rebuilt(local, store,
                                                                        make_sender):
    to = str(Keypair().pubkey())
    s = make_sender()
    too_much = 10**18                              # more than the payer has
    row = s.submit(_pay(to, too_much), "need-5")
    assert row.status == TX_PENDING and row.sent_at is None and "simulation failed" in row.error
    assert s.poll() == []                          # still valid: tried again, refused again
    expire(local)
    [done] = s.poll()
    assert done.status == TX_FAILED and "never accepted" in done.error
    assert len(rows(store)) == 1 and landed_to(local, to) == []
