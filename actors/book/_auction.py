"""One sealed-bid auction per intent: bids until the window closes, highest output wins.

Pure state (no clock, no actor) so the rules are tested on their own: a bid below the
intent's minimum is refused; a solver's later bid replaces its earlier one (and takes a
new place in time); the best bid is the highest output, ties go to the earlier bid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from runtime import Timer

__all__ = ["Auction", "AuctionBid"]


@dataclass(frozen=True)
class AuctionBid:
    solver: str
    path: str
    amount: int
    seq: int             # arrival order in the book (ties: lower wins)
    at: float            # unix seconds


@dataclass
class Auction:
    intent_id: str
    min_output: int
    opened_at: float
    closes_at: float
    round: int                                   # 1 for the first auction of the intent
    offered: set[str] = field(default_factory=set)          # session paths
    excluded: frozenset[str] = frozenset()   # barred from this intent (lapsed, declined) or suspended
    bids: dict[str, AuctionBid] = field(default_factory=dict)  # by solver
    timer: Timer | None = None

    def bid(self, bid: AuctionBid) -> str | None:
        """Record ``bid``; returns a refusal reason, or None when it is accepted."""
        if bid.solver in self.excluded:
            return ("this solver is excluded from this intent's auctions (it let an award of "
                    "it lapse or declined it, or it is suspended)")
        if bid.path not in self.offered:
            return "no offer was made to this session for this intent"
        if bid.amount < self.min_output:
            return f"output_amount {bid.amount} is below the intent's minimum {self.min_output}"
        self.bids[bid.solver] = bid
        return None

    def winner(self) -> AuctionBid | None:
        """The best bid by amount alone (the book ranks by amount x reliability: _score.rank)."""
        if not self.bids:
            return None
        return max(self.bids.values(), key=lambda b: (b.amount, -b.seq))

    def losers(self, winner: AuctionBid | None) -> list[AuctionBid]:
        return [b for b in self.bids.values() if winner is None or b.solver != winner.solver]
