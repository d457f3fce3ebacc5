"""The ``intents:`` config section: auction, exclusivity, limits, solver admission.

Validated once at load (runtime.config); the book, the intent service and the solver
service read the same frozen object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from runtime.config import opt

__all__ = ["IntentsConfig", "RateLimit"]


@dataclass(frozen=True)
class RateLimit:
    """Token bucket: ``rate`` per second sustained, ``burst`` at once."""

    rate: float = opt(10.0, min=0.001, max=1_000_000)
    burst: int = opt(50, min=1, max=10_000_000)


@dataclass(frozen=True)
class IntentsConfig:
    auction_window: float = opt(0.25, min=0.0, max=60, doc="seconds bids are taken")
    round_interval: float = opt(0.02, min=0.0, max=5.0,
                                doc="offer rounds run at most this often, one stream message "
                                    "per solver each (a quiet book offers at once); 0 = every "
                                    "book message is a round")
    exclusivity: float = opt(30.0, min=0.1, max=86_400,
                             doc="seconds the winner has to open before a re-auction")
    probation_exclusivity: float = opt(
        10.0, min=0.1, max=86_400,
        doc="seconds a winner on probation (fewer than probation_opens on-time opens in its "
            "reliability window) has to open, if less than exclusivity: fresh keys that win "
            "and never open hold an intent only this long each")
    probation_opens: int = opt(3, min=0, max=1000,
                               doc="on-time opens that end a solver's probation; 0 = none")
    retry_interval: float = opt(2.0, min=0.01, max=3600,
                                doc="seconds before an auction without bids runs again")
    max_auctions: int = opt(4, min=1, max=100, doc="auctions per intent before it stays PENDING")
    min_open_window: float = opt(10.0, min=0.0, max=86_400,
                                 doc="openDeadline must be at least this far ahead")
    max_fill_window: float = opt(7 * 86_400.0, min=60, max=365 * 86_400,
                                 doc="fillDeadline at most this far ahead")
    max_typed_data_bytes: int = opt(16_384, min=1024, max=1 << 20)
    user_rate: RateLimit = opt(factory=lambda: RateLimit(5.0, 50))
    # Checked on the gRPC loop before any signature work, so a flood of orders from fresh
    # keys (free to make) costs a dictionary lookup each: per calling IP, then node-wide.
    submit_peer_rate: RateLimit = opt(factory=lambda: RateLimit(100.0, 500),
                                      doc="SubmitIntent calls per peer IP")
    submit_rate: RateLimit = opt(factory=lambda: RateLimit(2000.0, 5000),
                                 doc="SubmitIntent calls per node, all peers")
    max_open_per_user: int = opt(100, min=1, max=10_000_000,
                                 doc="intents of one user not yet terminal")
    max_solver_sessions: int = opt(1000, min=1, max=1_000_000, doc="sessions per node")
    max_solver_sessions_per_peer: int = opt(20, min=1, max=1_000_000,
                                            doc="sessions per peer IP")
    solver_report_rate: RateLimit = opt(factory=lambda: RateLimit(20.0, 100),
                                        doc="fill reports and escrow mismatch reports per session")
    solver_heartbeat_rate: RateLimit = opt(factory=lambda: RateLimit(10.0, 50),
                                           doc="heartbeats per session")
    solver_backlog: int = opt(1000, min=1, max=1_000_000,
                              doc="solver messages queued for a session actor before the "
                                  "stream's reader stops reading")
    solver_bid_rate: RateLimit = opt(factory=lambda: RateLimit(200.0, 1000))
    stream_buffer: int = opt(512, min=8, max=1_000_000,
                             doc="messages queued per stream before its reader is dropped")
    heartbeat_interval: float = opt(5.0, min=0.05, max=600)
    heartbeat_timeout: float = opt(20.0, min=0.1, max=3600)
    challenge_ttl: float = opt(60.0, min=1, max=3600)
    allowed_solvers: tuple[str, ...] = opt(factory=tuple, pattern=r"0x[0-9a-fA-F]{40}",
                                           doc="solver addresses admitted; empty = any")
    max_watch_ids: int = opt(100, min=1, max=10_000)
    max_batch: int = opt(100, min=1, max=1000,
                         doc="signed orders per IntentService/SubmitIntents call")
    max_bid_over_quote_bps: Optional[int] = opt(
        2000, min=0, max=1_000_000,
        doc="a bid more than this above the quoter's expected output for the intent is "
            "refused (the winning bid binds: a fill below it is a shortfall); null = no bound")
    reliability_window: float = opt(
        7 * 86_400.0, min=60, max=365 * 86_400,
        doc="seconds of marks (opens, fades, declines, ...) a solver's reliability is scored "
            "over; bids rank by output x reliability (docs/solvers.md)")
    suspend_below: float = opt(
        0.5, min=0.0, max=1.0,
        doc="a solver whose reliability falls below this with a mark is suspended; 0 = never")
    suspend_cooldown: float = opt(3600.0, min=1, max=30 * 86_400,
                                  doc="seconds a suspension lasts (no offers, bids refused)")
    follow_interval: float = opt(0.5, min=0.005, max=5.0,
                                 doc="seconds between reads of new transitions by a book that "
                                     "does not hold the book lease (it follows the holder "
                                     "for its node's watch streams), besides the reads each "
                                     "of the holder's commits wakes (LISTEN/NOTIFY): the "
                                     "bound on a lost wake-up's delay")

    def check(self) -> None:
        if self.heartbeat_timeout <= self.heartbeat_interval:
            raise ValueError("heartbeat_timeout must be greater than heartbeat_interval")
