"""What a closed auction round keeps for ExplainIntent (actors.book.kept_bids, pure): the 10
best bids by output (ties to the earlier bid) plus the winner when it is not among them,
and why each kept bid lost (actors.book.lost_because); the JSON a row stores keeps uint256
amounts exact. The round stored with the award and read back after a book restart is
tested end to end in tests/solvers/test_explain.py."""

from __future__ import annotations

import pytest

from actors.book import KEPT_BIDS, AuctionBid, KeptBid, kept_bids, lost_because
from actors.book._rounds import decode_bids, encode_bids


def bid(n: int, amount: int, seq: int | None = None) -> AuctionBid:
    return AuctionBid(f"0x{n:040x}", f"intents/solvers/session/0x{n:040x}", amount,
                      n if seq is None else seq, 1_800_000_000.0 + n)


def solvers(bids) -> list[int]:
    return [int(b.solver, 16) for b in bids]


MANY = [bid(n, 1000 + n) for n in range(1, 16)]   # 15 bids, solver 15 the highest


@pytest.mark.parametrize("bids, winner, limit, kept", [
    ([], None, 10, []),
    ([bid(1, 5)], bid(1, 5), 10, [1]),
    # best output first; ties to the earlier bid
    ([bid(1, 5), bid(2, 7), bid(3, 7, seq=0)], bid(2, 7), 10, [3, 2, 1]),
    # more than the limit: the 10 best
    (MANY, MANY[-1], 10, list(range(15, 5, -1))),
    # a winner outside the 10 best by output (it won on reliability): kept too, last
    (MANY, MANY[0], 10, [*range(15, 5, -1), 1]),
    # the limit is the caller's
    (MANY, MANY[-1], 3, [15, 14, 13]),
    (MANY, MANY[2], 3, [15, 14, 13, 3]),
    (MANY, MANY[2], 0, [3]),
    # no winner (nothing awarded): the best only
    (MANY, None, 2, [15, 14]),
])
def test_kept_bids(bids, winner, limit, kept):
    assert solvers(kept_bids(bids, winner, limit)) == kept


def test_ten_by_default():
    assert KEPT_BIDS == 10
    assert len(kept_bids(MANY, MANY[0])) == 11 and len(kept_bids(MANY, MANY[-1])) == 10


W = bid(5, 100, seq=5)


@pytest.mark.parametrize("other, suspended, gone, why", [
    (W, False, False, ""),
    (bid(1, 90), False, False, "lower bid"),
    (bid(1, 100, seq=9), False, False, "same bid, later"),
    (bid(1, 100, seq=1), False, False, "lower bid once weighed by reliability"),
    (bid(1, 120), False, False, "lower bid once weighed by reliability"),
    (bid(1, 120), True, False, "suspended"),
    (bid(1, 120), False, True, "session ended before the round closed"),
    (bid(1, 90), True, True, "suspended"),
])
def test_why_a_kept_bid_lost(other, suspended, gone, why):
    assert lost_because(other, W, suspended=suspended, gone=gone) == why


def test_stored_amounts_stay_exact():
    big = 2**256 - 1
    bids = (KeptBid("0x" + "ab" * 20, big, 1.5, ""), KeptBid("0x" + "cd" * 20, 10**30 + 1, 2.0,
                                                             "lower bid"))
    text = encode_bids(bids)
    assert f'"amount":"{big}"' in text
    assert decode_bids(text) == bids
    assert decode_bids("") == ()
