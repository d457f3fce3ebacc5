"""solana-local's ``getRecentPrioritizationFees`` as a node answers it: per recent closed slot
(at most 150), the compute-unit price (micro-lamports per CU, from ComputeBudget
SetComputeUnitPrice) paid by the slot's successful transactions; with accounts, the price that
landed a transaction write-locking them; 0 for a slot without any. Transactions with and without
a price, a failed one (not counted), the 150-slot window, and the errors. The per-slot rule
itself (several transactions in one slot) is tabled against :class:`SlotFees`."""

from __future__ import annotations

import pytest
from solders.hash import Hash
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.message import Message
from solders.pubkey import Pubkey
from solders.transaction import Transaction, VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import transfer_checked
from spl.token.models import TransferCheckedParams

from devnet.solana_keys import SOLANA_ACCOUNTS, mint_keypair
from devnet.solana_rpc import serve
from devnet.solana_svm import SlotFees, compute_unit_price, writable_keys
from tests.solana.conftest import call

A, B, C = SOLANA_ACCOUNTS[3], SOLANA_ACCOUNTS[4], SOLANA_ACCOUNTS[5]
MINT = mint_keypair().pubkey()


@pytest.fixture
def local():
    srv = serve("127.0.0.1", 0, slot_ms=0)  # blocks only per transaction (and new_block)
    yield srv
    srv.shutdown()
    srv.server_close()


def _usdc(sender, dest: Pubkey, price: int | None, *, amount: int = 1) -> list[Instruction]:
    ixs = [set_compute_unit_limit(60_000)]
    if price is not None:
        ixs.append(set_compute_unit_price(price))
    ixs.append(transfer_checked(TransferCheckedParams(
        program_id=TOKEN_PROGRAM_ID, source=sender.usdc_account, mint=MINT, dest=dest,
        owner=sender.pubkey, amount=amount, decimals=6)))
    return ixs


def _fees(url: str, *params) -> dict[int, int]:
    reply = call(url, "getRecentPrioritizationFees", *params)
    assert "result" in reply, reply
    return {r["slot"]: r["prioritizationFee"] for r in reply["result"]}


def _landed(local, sig: str) -> int:
    return local.chain.records[sig].slot


def test_fees_per_slot_with_and_without_a_price(local):
    chain = local.chain
    priced = _landed(local, chain.send_instructions(_usdc(A, B.usdc_account, 1_000), A.keypair, []))
    plain = _landed(local, chain.send_instructions(_usdc(C, B.usdc_account, None), C.keypair, []))
    chain.new_block()                                          # an empty slot
    empty = chain.slot - 1
    high = _landed(local, chain.send_instructions(_usdc(B, C.usdc_account, 25_000), B.keypair, []))
    open_slot = chain.slot                                     # not closed yet: not listed
    fees = _fees(local.url)
    assert (fees[priced], fees[plain], fees[empty], fees[high]) == (1_000, 0, 0, 25_000)
    assert open_slot not in fees and max(fees) == open_slot - 1
    assert list(fees) == sorted(fees) and set(fees) == set(range(min(fees), open_slot))
    # With accounts: the price that landed a transaction write-locking them in that slot.
    by_b = _fees(local.url, [str(B.usdc_account)])
    assert (by_b[priced], by_b[plain], by_b[empty], by_b[high]) == (1_000, 0, 0, 25_000)
    # An account no transaction wrote: the slot's minimum (a one-transaction slot here).
    assert _fees(local.url, [str(Keypair().pubkey())])[priced] == 1_000
    assert _fees(local.url, [])[high] == 25_000 and _fees(local.url, None)[high] == 25_000


def test_a_failed_transaction_pays_no_listed_price(local):
    chain = local.chain
    too_much = _usdc(A, B.usdc_account, 7_777, amount=10**15)      # more than A holds
    msg = Message.new_with_blockhash(too_much, A.pubkey, chain.svm.latest_blockhash())
    tx = VersionedTransaction.from_legacy(Transaction([A.keypair], msg, chain.svm.latest_blockhash()))
    sig = chain.send(tx, skip_preflight=True)
    assert chain.records[sig].err is not None
    assert _fees(local.url)[_landed(local, sig)] == 0


def test_window_is_the_last_150_closed_slots(local):
    chain = local.chain
    for _ in range(170):
        chain.new_block()
    fees = _fees(local.url)
    assert len(fees) == 150 and max(fees) == chain.slot - 1 and min(fees) == chain.slot - 150


def test_bad_parameters(local):
    too_many = [str(Keypair().pubkey()) for _ in range(129)]
    err = call(local.url, "getRecentPrioritizationFees", too_many)["error"]
    assert (err["code"], err["message"]) == (-32602, "Too many inputs provided; max 128")
    assert "result" in call(local.url, "getRecentPrioritizationFees", too_many[:128])
    err = call(local.url, "getRecentPrioritizationFees", ["not-a-key"])["error"]
    assert err["code"] == -32602 and "Invalid pubkey" in err["message"]
    err = call(local.url, "getRecentPrioritizationFees", "x")["error"]
    assert err["code"] == -32602


@pytest.mark.parametrize("txs, accounts, expected", [
    ([], [], 0),                                            # no transaction in the slot
    ([(0, ["a"])], ["a"], 0),
    ([(5, ["a", "b"]), (9, ["b"])], [], 5),                 # the slot's minimum
    ([(5, ["a"]), (9, ["b"])], ["b"], 9),                   # b's own minimum is higher
    ([(5, ["a"]), (9, ["b"]), (7, ["b"])], ["b"], 7),
    ([(5, ["a"]), (9, ["b"])], ["c"], 5),                   # c never write-locked
    ([(5, ["a"]), (9, ["b"]), (12, ["c"])], ["b", "c"], 12),  # to lock all of them
    ([(3, ["a"]), (2, ["a"])], ["a"], 2),
])
def test_slot_rule(txs, accounts, expected):
    slot = SlotFees()
    for price, writable in txs:
        slot.add(price, writable)
    assert slot.fee(accounts) == expected


def test_price_and_writable_keys_of_a_transaction():
    payer = A.keypair
    ixs = _usdc(A, B.usdc_account, 4_321)
    msg = Message.new_with_blockhash(ixs, payer.pubkey(), Hash.default())
    tx = VersionedTransaction.from_legacy(Transaction([payer], msg, msg.recent_blockhash))
    assert compute_unit_price(tx) == 4_321
    assert set(writable_keys(tx)) == {str(A.pubkey), str(A.usdc_account), str(B.usdc_account)}
    no_price = Message.new_with_blockhash(_usdc(A, B.usdc_account, None), payer.pubkey(),
                                          msg.recent_blockhash)
    assert compute_unit_price(VersionedTransaction.from_legacy(
        Transaction([payer], no_price, msg.recent_blockhash))) == 0
