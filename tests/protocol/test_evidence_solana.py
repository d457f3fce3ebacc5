"""The evidence rule for orders to Solana (OrbitalOrder32) as a table: the Open of such an
order, and its fill (an SPL transfer tagged with the order id by a memo), each term changed
in turn; and "one fill per order" (:func:`first_proving`). No chain."""

from __future__ import annotations

import dataclasses

import pytest

from protocol import GaslessOrder, OrbitalOrder
from protocol.accounts import account_to_bytes32, b58encode
from protocol.erc7683 import FillInstruction, Output, ResolvedOrder
from protocol.evidence import (Finding, Located, SplTransfer, Step, Terms, first_proving, judge,
                               judge_escrow, Escrow)
from protocol.logs import Filled, Open
from protocol.solana import MEMO_PROGRAM, associated_token_address

SETTLER = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
USDC_A = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
USER = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
SOLVER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
MINT = "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT"
OTHER_MINT = "So11111111111111111111111111111111111111112"
WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"
OTHER_WALLET = b58encode(b"\x07" * 32)
FILLER_SOL = b58encode(b"\x09" * 32)
A, SOL = 31337, 900
DEADLINE = 1_800_003_600

ORDER = GaslessOrder(SETTLER, USER, 7, A, 1_800_000_000, DEADLINE,
                     OrbitalOrder(USDC_A, 100_000_000, MINT, 99_000_000, WALLET, SOL, "solana"))
TERMS = Terms.from_order(ORDER, MEMO_PROGRAM)
ATA = associated_token_address(WALLET, MINT)


def transfer(*, chain: int = SOL, emitter: str = MEMO_PROGRAM, slot: int = 50, index: int = 0,
             **change) -> Located:
    f = dict(order_id=TERMS.order_id, mint=MINT, destination=ATA, destination_owner=WALLET,
             source_owner=FILLER_SOL, amount=99_000_000, signature="5" * 88, slot=slot,
             block_time=DEADLINE - 100)
    f.update(change)
    return Located(chain, emitter, SplTransfer(**f), slot, "", str(f["signature"]), index)  # type: ignore[arg-type]


def test_terms_of_an_order32_are_in_the_destinations_form():
    assert (TERMS.destination_kind, TERMS.output_token, TERMS.recipient, TERMS.destination_settler) == \
        ("solana", MINT, WALLET, MEMO_PROGRAM)
    fill = TERMS.fill_data
    assert fill.encode()[32 * 3:32 * 4] == account_to_bytes32(MINT)
    with pytest.raises(ValueError, match="0x \\(EVM\\) address"):
        Terms.from_order(ORDER, SETTLER)      # a Solana destination is not an EVM settler


def test_the_memo_tagged_transfer_proves_the_fill():
    v = judge(TERMS, transfer(), awarded=99_000_000)
    assert v.proves and v.step is Step.FILL and v.amount == 99_000_000 and v.shortfall == 0
    more = judge(TERMS, transfer(amount=100_000_000), awarded=99_500_000)
    assert more.proves and more.shortfall == 0
    short = judge(TERMS, transfer(), awarded=99_500_000)
    assert short.proves and short.shortfall == 500_000 and "below the winning bid" in short.why
    unknown_time = judge(TERMS, transfer(block_time=None))
    assert unknown_time.proves
    owner_unknown = judge(TERMS, transfer(destination_owner=""))
    assert owner_unknown.proves


@pytest.mark.parametrize("change, reason", [
    ({"mint": OTHER_MINT}, f"mint {OTHER_MINT}"),
    ({"destination": associated_token_address(OTHER_WALLET, MINT)}, "associated token account"),
    ({"destination": associated_token_address(WALLET, OTHER_MINT)}, "associated token account"),
    ({"destination": WALLET}, "associated token account"),        # the wallet itself, not its ATA
    ({"destination_owner": OTHER_WALLET}, "owned by"),
    ({"amount": 98_999_999}, "below the minimum 99000000"),
    ({"block_time": DEADLINE + 1}, "after fillDeadline"),
    ({"mint": MINT.lower()}, "mint"),                             # base58 is case-sensitive
])
def test_a_memo_tagged_transfer_with_other_terms_is_a_foreign_fill(change, reason):
    v = judge(TERMS, transfer(**change))
    assert v.finding is Finding.CONFLICTS and v.foreign_fill, v
    assert reason in v.why


def test_the_block_time_of_the_reader_counts_when_the_event_has_none():
    late = dataclasses.replace(transfer(block_time=None), block_timestamp=DEADLINE + 1)
    assert judge(TERMS, late).foreign_fill
    on_time = dataclasses.replace(transfer(block_time=None), block_timestamp=DEADLINE)
    assert judge(TERMS, on_time).proves


@pytest.mark.parametrize("seen, reason", [
    (transfer(order_id=b"\x01" * 32), "for order 0x0101"),
    (transfer(chain=A), "on chain 31337"),
    (transfer(emitter=b58encode(b"\x05" * 32)), "emitted by"),
    (transfer(emitter=MEMO_PROGRAM.lower()), "emitted by"),
])
def test_another_order_chain_or_program_is_unrelated(seen, reason):
    v = judge(TERMS, seen)
    assert v.finding is Finding.UNRELATED and reason in v.why


def test_evm_fills_and_spl_transfers_never_cross():
    evm_filled = Located(SOL, MEMO_PROGRAM, Filled(TERMS.order_id, SOLVER, TERMS.fill_key, WALLET,
                                                   MINT, 99_000_000, A), 1)
    assert judge(TERMS, evm_filled).finding is Finding.UNRELATED
    evm_terms = dataclasses.replace(TERMS, destination_kind="evm")
    assert judge(evm_terms, transfer()).finding is Finding.UNRELATED


def _resolved(**change) -> ResolvedOrder:
    f = dict(token=account_to_bytes32(MINT), recipient=account_to_bytes32(WALLET),
             settler=account_to_bytes32(MEMO_PROGRAM), amount=99_000_000)
    f.update(change)
    return ResolvedOrder(
        USER, A, ORDER.open_deadline, DEADLINE, TERMS.order_id,
        (Output(f["token"], f["amount"], f["recipient"], SOL),),
        (Output(account_to_bytes32(USDC_A), 100_000_000, account_to_bytes32(SOLVER), A),),
        (FillInstruction(SOL, f["settler"], TERMS.origin_data),))


def test_the_open_of_an_order32_proves_and_gives_back_its_terms():
    seen = Located(A, SETTLER, Open(TERMS.order_id, _resolved()), 10)
    assert judge(TERMS, seen).proves
    back = Terms.from_open(seen, "solana")
    assert back == dataclasses.replace(TERMS, nonce=None)
    with pytest.raises(ValueError, match="not a left-padded EVM address"):
        Terms.from_open(seen)       # read as EVM, the words are not addresses


@pytest.mark.parametrize("change, reason", [
    ({"token": account_to_bytes32(OTHER_MINT)}, f"outputToken {OTHER_MINT} on chain"),
    ({"recipient": account_to_bytes32(OTHER_WALLET)}, f"recipient {OTHER_WALLET} on chain"),
    ({"settler": account_to_bytes32(OTHER_WALLET)}, "destinationSettler"),
    ({"amount": 1}, "outputAmount (minimum)"),
])
def test_a_conflicting_open_of_an_order32_names_the_term(change, reason):
    v = judge(TERMS, Located(A, SETTLER, Open(TERMS.order_id, _resolved(**change)), 10))
    assert v.conflicting_open and reason in v.why


def test_escrow_of_an_order32_is_judged_by_its_fill_key():
    escrow = Escrow(1, USER, DEADLINE, USDC_A, 100_000_000, SOLVER, TERMS.fill_key)
    assert judge_escrow(TERMS, escrow).proves
    other = dataclasses.replace(TERMS, recipient=OTHER_WALLET)
    assert judge_escrow(other, escrow).finding is Finding.CONFLICTS


def test_a_solver_fills_an_order32_only_for_an_escrow_that_names_it():
    """The escrow of an order to Solana repays only the filler named at open: a solver that
    filled an escrow opened by someone else (who front-ran its openFor with the user's
    signature) would pay the user and never be repaid."""
    escrow = Escrow(1, USER, DEADLINE, USDC_A, 100_000_000, SOLVER, TERMS.fill_key)
    assert judge_escrow(TERMS, escrow, filler=SOLVER.lower()).proves
    v = judge_escrow(TERMS, escrow, filler=USER)
    assert v.finding is Finding.CONFLICTS and f"escrow pays the filler {SOLVER}, not {USER}" in v.why
    evm_terms = dataclasses.replace(TERMS, destination_kind="evm")
    # EVM orders: the destination's Filled names the repayment address, the escrow's filler
    # does not matter (the fill key differs here only through the kind-independent words)
    assert "escrow pays" not in judge_escrow(evm_terms, escrow, filler=USER).why


# ---- one fill per order --------------------------------------------------------------------
def test_the_first_proving_transfer_in_chain_order_is_the_fill():
    foreign = transfer(slot=40, mint=OTHER_MINT)
    first = transfer(slot=50, index=3, signature="first")
    same_slot_later = transfer(slot=50, index=4, signature="second")
    later = transfer(slot=60, signature="third", amount=200_000_000)
    other_order = transfer(slot=30, order_id=b"\x02" * 32)
    for seens in ([later, same_slot_later, first, foreign, other_order],
                  [foreign, first, same_slot_later, later]):
        got = first_proving(TERMS, seens, awarded=99_000_000)
        assert got is not None and got[0] is first and got[1].proves
    assert first_proving(TERMS, [foreign, other_order]) is None
    assert first_proving(TERMS, []) is None


def test_first_proving_asks_for_one_step():
    opened = Located(A, SETTLER, Open(TERMS.order_id, _resolved()), 5)
    got = first_proving(TERMS, [opened, transfer()], step=Step.OPEN)
    assert got is not None and got[0] is opened
    got = first_proving(TERMS, [opened, transfer()])
    assert got is not None and got[1].step is Step.FILL
