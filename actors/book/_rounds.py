"""What a closed auction round keeps for ExplainIntent (table ``auction_round``).

Pure: the round's bids and its winner in, the bids kept and why each lost out. A round
may have hundreds of bids; Explain shows the best few and the winner, so a row stays
small whatever the number of solvers: the ``limit`` best by output (ties to the earlier
bid), plus the winner when it is not among them (the book ranks by output x reliability,
so a winner may have bid less than ten others). ``bids_received`` keeps the count.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ._score import B, BidLike

__all__ = ["KEPT_BIDS", "kept_bids", "lost_because", "KeptBid", "StoredRound", "encode_bids",
           "decode_bids"]

KEPT_BIDS = 10   # bids kept per closed round besides the winner


@dataclass(frozen=True)
class KeptBid:
    solver: str
    amount: int
    at: float             # unix seconds
    lost_because: str     # "" for the winner


@dataclass(frozen=True)
class StoredRound:
    """One ``auction_round`` row as Explain reads it."""

    round: int
    bids_received: int
    bids: tuple[KeptBid, ...]   # best output first


def kept_bids(bids: Iterable[B], winner: B | None, limit: int = KEPT_BIDS) -> list[B]:
    """The ``limit`` best bids by output (ties to the earlier bid), plus ``winner`` if it is
    not among them; best first."""
    ordered = sorted(bids, key=lambda b: (-b.amount, b.seq))
    kept = ordered[:max(0, limit)]
    if winner is not None and all(b.solver != winner.solver for b in kept):
        kept.append(winner)
    return kept


def lost_because(bid: BidLike, winner: BidLike, *, suspended: bool = False, gone: bool = False) -> str:
    """Why ``bid`` lost the round ``winner`` won ("" for the winner itself): the bidder was
    suspended before the close, its session had ended, or its output (weighed by its
    reliability) was lower, or equal and later."""
    if bid.solver == winner.solver:
        return ""
    if suspended:
        return "suspended"
    if gone:
        return "session ended before the round closed"
    if bid.amount > winner.amount:
        return "lower bid once weighed by reliability"
    if bid.amount == winner.amount:
        return "same bid, later" if bid.seq > winner.seq else "lower bid once weighed by reliability"
    return "lower bid"


def encode_bids(bids: Sequence[KeptBid]) -> str:
    """The row's JSON list; amounts as exact decimal strings (uint256 does not fit a float)."""
    return json.dumps([{"solver": b.solver, "amount": str(b.amount), "at": b.at,
                        "lost_because": b.lost_because} for b in bids], separators=(",", ":"))


def decode_bids(text: str) -> tuple[KeptBid, ...]:
    return tuple(KeptBid(d["solver"], int(d["amount"]), float(d["at"]), d.get("lost_because", ""))
                 for d in json.loads(text or "[]"))
