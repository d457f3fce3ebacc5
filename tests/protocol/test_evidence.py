"""The evidence rule as a table: each term of an Open and of a Fill changed one at a time is
refused with its reason; what is not a term (the filler) changes nothing. No chain."""

from __future__ import annotations

import dataclasses

import pytest

from protocol import FillData, GaslessOrder, OrbitalOrder, address_to_bytes32
from protocol.erc7683 import FillInstruction, Output, ResolvedOrder
from protocol.evidence import Escrow, Finding, Located, Step, Terms, judge, judge_escrow
from protocol.logs import Filled, NonceInvalidated, Open, Refunded, Settled

SETTLER = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
OTHER = "0x000000000000000000000000000000000000dEaD"
USDC_A = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
USDC_B = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
USER = "0x976EA74026E726554dB657fA54763abd0C3a0aa9"
RECIPIENT = "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955"
SOLVER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
A, B = 31337, 31338

ORDER = GaslessOrder(SETTLER, USER, 7, A, 1_800_000_000, 1_800_003_600,
                     OrbitalOrder(USDC_A, 100_000_000, USDC_B, 99_000_000, RECIPIENT, B))
TERMS = Terms.from_order(ORDER, SETTLER)


def resolved(terms: Terms = TERMS, filler: str = SOLVER, **change) -> ResolvedOrder:
    """The ResolvedCrossChainOrder the settler emits for ``terms`` (OriginSettler._resolve),
    with fields of it replaced by ``change``."""
    f = dict(order_id=terms.order_id, user=terms.user, origin_chain_id=terms.origin_chain_id,
             open_deadline=terms.open_deadline, fill_deadline=terms.fill_deadline,
             out_token=terms.output_token, out_amount=terms.min_output,
             out_recipient=terms.recipient, out_chain=terms.destination_chain_id,
             in_token=terms.input_token, in_amount=terms.input_amount, in_filler=filler,
             in_chain=terms.origin_chain_id, dest_chain=terms.destination_chain_id,
             dest_settler=terms.destination_settler, origin_data=terms.origin_data)
    f.update(change)
    b32 = address_to_bytes32
    return ResolvedOrder(
        f["user"], f["origin_chain_id"], f["open_deadline"], f["fill_deadline"], f["order_id"],
        (Output(b32(f["out_token"]), f["out_amount"], b32(f["out_recipient"]), f["out_chain"]),),
        (Output(b32(f["in_token"]), f["in_amount"], b32(f["in_filler"]), f["in_chain"]),),
        (FillInstruction(f["dest_chain"], b32(f["dest_settler"]), f["origin_data"]),))


def opened(r: ResolvedOrder | None = None, *, chain: int = A, emitter: str = SETTLER,
           order_id: bytes = TERMS.order_id) -> Located:
    return Located(chain, emitter, Open(order_id, r or resolved()), 10, "0x" + "aa" * 32,
                   "0x" + "bb" * 32, 0)


def filled(*, chain: int = B, emitter: str = SETTLER, order_id: bytes = TERMS.order_id,
           filler: str = SOLVER, fill_key: bytes = TERMS.fill_key, recipient: str = RECIPIENT,
           token: str = USDC_B, amount: int = 99_000_000, origin: int = A,
           timestamp: int | None = None) -> Located:
    return Located(chain, emitter, Filled(order_id, filler, fill_key, recipient, token, amount,
                                          origin), 20, block_timestamp=timestamp)


def test_the_settlers_open_and_fill_of_the_signed_order_prove_it():
    assert judge(TERMS, opened()).finding is Finding.PROVES
    v = judge(TERMS, filled(), awarded=99_000_000)
    assert v.proves and v.step is Step.FILL and v.shortfall == 0 and v.amount == 99_000_000


SHADOW_DATA = dataclasses.replace(TERMS.fill_data, fill_deadline=TERMS.fill_deadline + 1).encode()


@pytest.mark.parametrize("change, reason", [
    ({"order_id": b"\x01" * 32}, "resolvedOrder.orderId"),
    ({"user": OTHER}, "user"),
    ({"origin_chain_id": 1}, "originChainId"),
    ({"open_deadline": 1_800_000_001}, "openDeadline"),
    ({"fill_deadline": 1_800_003_601}, "fillDeadline"),
    ({"out_token": OTHER}, "outputToken"),
    ({"out_amount": 1}, "outputAmount (minimum)"),
    ({"out_recipient": OTHER}, "recipient"),
    ({"out_chain": 1}, "destinationChainId"),
    ({"in_token": OTHER}, "inputToken"),
    ({"in_amount": 1}, "inputAmount"),
    ({"in_chain": 1}, "minReceived.chainId"),
    ({"dest_chain": 1}, "fillInstruction.destinationChainId"),
    ({"dest_settler": OTHER}, "destinationSettler"),
    ({"origin_data": SHADOW_DATA}, "originData differs"),
])
def test_an_open_with_one_term_changed_is_a_conflicting_open(change, reason):
    v = judge(TERMS, opened(resolved(**change)))
    assert v.finding is Finding.CONFLICTS and v.conflicting_open, v
    assert len(v.reasons) == 1 and v.reasons[0].startswith(reason), v.reasons


def test_same_nonce_substitution_is_a_conflicting_open_listing_every_difference():
    """Order B: same user and nonce (so same order id), 1 unit in and out."""
    b = GaslessOrder(SETTLER, USER, 7, A, ORDER.open_deadline, ORDER.fill_deadline,
                     dataclasses.replace(ORDER.order, input_amount=1, output_amount=1))
    v = judge(TERMS, opened(resolved(Terms.from_order(b, SETTLER))))
    assert v.conflicting_open
    assert {r.split(" ")[0] for r in v.reasons} == {"outputAmount", "inputAmount"}


def test_the_filler_named_at_open_is_not_a_term():
    assert judge(TERMS, opened(resolved(filler=OTHER))).proves


@pytest.mark.parametrize("where, reason", [
    ({"chain": B}, "on chain 31338, not the origin chain"),
    ({"emitter": OTHER}, "emitted by"),
    ({"order_id": b"\x02" * 32}, "for order"),
])
def test_an_open_elsewhere_is_unrelated(where, reason):
    v = judge(TERMS, opened(**where))
    assert v.finding is Finding.UNRELATED and v.reasons[0].startswith(reason), v


@pytest.mark.parametrize("change, reason", [
    ({"fill_key": FillData.decode(SHADOW_DATA).fill_key}, "fill key"),
    ({"recipient": OTHER}, "recipient"),
    ({"token": OTHER}, "token"),
    ({"amount": 98_999_999}, "amount 98999999 below the minimum"),
    ({"origin": 1}, "originChainId"),
    ({"timestamp": 1_800_003_601}, "filled at 1800003601, after fillDeadline"),
])
def test_a_fill_with_one_term_changed_is_a_foreign_fill(change, reason):
    v = judge(TERMS, filled(**change), awarded=99_000_000)
    assert v.finding is Finding.CONFLICTS and v.foreign_fill, v
    assert len(v.reasons) == 1 and v.reasons[0].startswith(reason), v.reasons


def test_the_shadow_fill_of_the_attack_is_foreign():
    """Issue 10, attack 1: originData' = originData with fillDeadline + 1, to the attacker."""
    shadow = FillData.decode(SHADOW_DATA)
    v = judge(TERMS, filled(filler=OTHER, fill_key=shadow.fill_key, amount=99_000_000))
    assert v.foreign_fill and "other originData" in v.why


@pytest.mark.parametrize("where, reason", [
    ({"chain": A}, "on chain 31337, not the destination chain"),
    ({"emitter": OTHER}, "emitted by"),
    ({"order_id": b"\x03" * 32}, "for order"),
])
def test_a_fill_elsewhere_is_unrelated(where, reason):
    v = judge(TERMS, filled(**where))
    assert v.finding is Finding.UNRELATED and v.reasons[0].startswith(reason), v


@pytest.mark.parametrize("amount, awarded, shortfall", [
    (99_000_000, 0, 0),              # no award (opened on chain): the minimum is the bar
    (99_500_000, 99_500_000, 0),     # exactly the bid
    (100_000_000, 99_500_000, 0),    # more than the bid
    (99_000_000, 99_500_000, 500_000),   # the minimum, below the bid: shortfall
])
def test_a_fill_below_the_winning_bid_is_a_shortfall(amount, awarded, shortfall):
    v = judge(TERMS, filled(amount=amount), awarded=awarded)
    assert v.proves and v.shortfall == shortfall and v.amount == amount
    assert bool(v.reasons) is bool(shortfall)


def test_the_filler_of_a_fill_is_not_a_term_and_a_deadline_fill_counts():
    assert judge(TERMS, filled(filler=OTHER, timestamp=TERMS.fill_deadline)).proves


@pytest.mark.parametrize("event, finding", [
    (Settled(TERMS.order_id, SOLVER, USDC_A, 100_000_000), Finding.PROVES),
    (Settled(TERMS.order_id, SOLVER, USDC_A, 1), Finding.CONFLICTS),
    (Settled(TERMS.order_id, SOLVER, OTHER, 100_000_000), Finding.CONFLICTS),
    (Refunded(TERMS.order_id, USER, USDC_A, 100_000_000), Finding.PROVES),
    (Refunded(TERMS.order_id, OTHER, USDC_A, 100_000_000), Finding.CONFLICTS),
    (Refunded(b"\x04" * 32, USER, USDC_A, 100_000_000), Finding.UNRELATED),
    (NonceInvalidated(USER, 7), Finding.PROVES),
    (NonceInvalidated(USER, 8), Finding.UNRELATED),
    (NonceInvalidated(OTHER, 7), Finding.UNRELATED),
])
def test_settle_refund_and_nonce_invalidation(event, finding):
    assert judge(TERMS, Located(A, SETTLER, event)).finding is finding
    assert judge(TERMS, Located(B, SETTLER, event)).finding is Finding.UNRELATED


def test_an_order_opened_on_chain_has_the_terms_of_its_open():
    onchain = Terms.from_open(opened())
    assert dataclasses.replace(onchain, nonce=7) == TERMS
    assert judge(onchain, opened()).proves and judge(onchain, filled()).proves
    assert judge(onchain, Located(A, SETTLER, NonceInvalidated(USER, 7))) \
        .finding is Finding.UNRELATED   # no nonce known: an invalidation proves nothing


def _escrow(**change) -> Escrow:
    f = dict(status=1, user=USER, fill_deadline=TERMS.fill_deadline, input_token=USDC_A,
             input_amount=100_000_000, filler=SOLVER, fill_key=TERMS.fill_key)
    return Escrow(**(f | change))


@pytest.mark.parametrize("change, reason", [
    ({"user": OTHER}, "user"),
    ({"fill_deadline": 1}, "fillDeadline"),
    ({"input_token": OTHER}, "inputToken"),
    ({"input_amount": 1}, "inputAmount"),
    ({"fill_key": b"\x05" * 32}, "fill key"),
])
def test_an_escrow_with_one_term_changed_does_not_match_the_award(change, reason):
    v = judge_escrow(TERMS, _escrow(**change))
    assert v.finding is Finding.CONFLICTS and v.reasons[0].startswith(reason), v


def test_an_escrow_of_the_award_matches_whoever_opened_it():
    assert judge_escrow(TERMS, _escrow()).proves
    assert judge_escrow(TERMS, _escrow(filler=OTHER)).proves
    assert judge_escrow(TERMS, _escrow(status=2)).finding is Finding.UNRELATED
