"""The book's pure rules as tables, in seconds, with no chain and no node: what each chain
event does to an intent in each status (``actors.book.decide``, over the evidence rule),
and the auction's ranking (``actors.book.Auction``)."""

from __future__ import annotations

import dataclasses

import pytest

from actors.book import Auction, AuctionBid, IntentView, Status, decide
from protocol.evidence import Located
from tests.protocol.test_evidence import (OTHER, SHADOW_DATA, SOLVER, TERMS, filled, opened,
                                          resolved)
from protocol import FillData
from protocol.logs import NonceInvalidated, Refunded, Settled

S = Status
A = TERMS.origin_chain_id


def view(status: Status, *, awarded: int = 0, solver: str = "") -> IntentView:
    t = TERMS
    return IntentView(
        id="0x" + t.order_id.hex(), status=status, version=3, user=t.user, nonce=t.nonce,
        origin_chain="a", origin_chain_id=t.origin_chain_id, destination_chain="b",
        destination_chain_id=t.destination_chain_id, origin_settler=t.origin_settler,
        input_token=t.input_token, input_amount=t.input_amount, output_token=t.output_token,
        min_output=t.min_output, recipient=t.recipient, open_deadline=t.open_deadline,
        fill_deadline=t.fill_deadline, source="gasless", created_at=0.0, updated_at=0.0,
        solver=solver, awarded_amount=awarded)


SHADOW = filled(filler=OTHER, fill_key=FillData.decode(SHADOW_DATA).fill_key)
CONFLICT = opened(resolved(in_amount=1, out_amount=1))
SETTLED = Located(A, TERMS.origin_settler, Settled(TERMS.order_id, SOLVER, TERMS.input_token,
                                                   TERMS.input_amount))
REFUNDED = Located(A, TERMS.origin_settler, Refunded(TERMS.order_id, TERMS.user,
                                                     TERMS.input_token, TERMS.input_amount))
NONCE = Located(A, TERMS.origin_settler, NonceInvalidated(TERMS.user, TERMS.nonce))

# (event, status before) -> (status after | None when nothing is recorded, finding)
TABLE = [
    (opened(), S.PENDING, S.OPENED, ""),
    (opened(), S.ASSIGNED, S.OPENED, ""),
    (opened(), S.CANCELLED, S.OPENED, ""),       # the chain is the truth: tokens escrowed
    (opened(), S.EXPIRED, S.OPENED, ""),
    (opened(), S.OPENED, None, ""),
    (opened(), S.SETTLED, None, ""),
    (CONFLICT, S.ASSIGNED, S.OPENED, "conflicting_open"),
    (CONFLICT, S.PENDING, S.OPENED, "conflicting_open"),
    (CONFLICT, S.FILLED, None, ""),
    (opened(chain=TERMS.destination_chain_id), S.PENDING, None, ""),   # unrelated
    (filled(), S.OPENED, S.FILLED, ""),
    (filled(), S.PENDING, None, ""),            # before the Open: judged at the Open
    (filled(), S.FILLED, None, ""),
    (SHADOW, S.OPENED, S.OPENED, "foreign_fill"),
    (SHADOW, S.FILLED, S.FILLED, "foreign_fill"),
    (SHADOW, S.ASSIGNED, None, ""),              # before the Open: judged at the Open
    (SHADOW, S.SETTLED, None, ""),
    (filled(emitter=OTHER), S.OPENED, None, ""),  # another contract: unrelated
    (SETTLED, S.FILLED, S.SETTLED, ""),
    (SETTLED, S.OPENED, S.SETTLED, ""),
    (SETTLED, S.PENDING, None, ""),
    (REFUNDED, S.OPENED, S.REFUNDED, ""),
    (REFUNDED, S.FILLED, S.REFUNDED, ""),
    (REFUNDED, S.SETTLED, None, ""),
    (NONCE, S.PENDING, S.CANCELLED, ""),
    (NONCE, S.ASSIGNED, S.CANCELLED, ""),
    (NONCE, S.OPENED, None, ""),
]


@pytest.mark.parametrize("event, before, after, finding", TABLE,
                         ids=[f"{type(e.event).__name__}-{b.value}-{i}" for i, (e, b, _, _) in
                              enumerate(TABLE)])
def test_what_an_event_does_to_an_intent(event, before, after, finding):
    d = decide(view(before), TERMS, event, "0x" + "cd" * 32, "b", "b")
    assert (d.status, d.finding) == (after, finding), d
    assert bool(d.ignored) is (after is None)


def test_a_conflicting_open_follows_the_chain_voids_the_award_and_names_the_winner():
    d = decide(view(S.ASSIGNED, awarded=99_500_000, solver=SOLVER), TERMS, CONFLICT, "0xab", "a", "b")
    assert d.fields["input_amount"] == 1 and d.fields["min_output"] == 1
    assert (d.fields["solver"], d.fields["awarded_amount"]) == ("", 0) and d.solver == SOLVER
    assert "the award to " + SOLVER + " is void" in d.reason
    assert "inputAmount 1 on chain, 100000000 signed" in d.reason
    gone = decide(view(S.ASSIGNED), TERMS, CONFLICT, "0xab", "a", None)   # destination unknown
    assert gone.status is S.FAILED and gone.finding == "conflicting_open"


def test_a_fill_below_the_bid_is_filled_with_a_shortfall_and_the_fill_recorded():
    d = decide(view(S.OPENED, awarded=99_500_000), TERMS, filled(), "0xfe", "b", None)
    assert (d.status, d.finding) == (S.FILLED, "shortfall")
    assert d.fields == {"filler": SOLVER, "fill_tx": "0xfe", "fill_chain": "b", "fill_block": 20,
                        "fill_amount": 99_000_000, "shortfall": 500_000}
    shadow = decide(view(S.OPENED), TERMS, SHADOW, "0xee", "b", None)
    assert shadow.solver == OTHER and "never settled" in shadow.reason


def _bid(solver: str, amount: int, seq: int, path: str | None = None) -> AuctionBid:
    return AuctionBid(solver, path or f"s/{solver}", amount, seq, float(seq))


def test_the_auction_ranks_by_output_then_by_arrival():
    a = Auction("0x1", min_output=100, opened_at=0.0, closes_at=1.0, round=1,
                offered={"s/x", "s/y", "s/z"}, excluded=frozenset({"w"}))
    assert a.bid(_bid("x", 99, 1)).startswith("output_amount 99 is below the intent's minimum")
    assert a.bid(_bid("w", 500, 2, "s/x")).startswith("this solver is excluded from this intent's auctions")
    assert a.bid(_bid("q", 500, 3)) == "no offer was made to this session for this intent"
    for b in (_bid("x", 120, 4), _bid("y", 130, 5), _bid("z", 130, 6)):
        assert a.bid(b) is None
    assert a.winner().solver == "y"                    # tie at 130: the earlier bid
    assert a.bid(_bid("y", 110, 7)) is None            # a later bid replaces the earlier one
    assert a.winner().solver == "z"
    assert sorted(b.solver for b in a.losers(a.winner())) == ["x", "y"]
    empty = dataclasses.replace(a, bids={})
    assert empty.winner() is None and empty.losers(None) == []
