"""Limits a solver stream enforces on the gRPC loop, before a message reaches its session
actor: session caps (node-wide and per peer IP), per-kind message rates, and backpressure.

An honest solver sends a heartbeat every few seconds and one or two reports per award;
a stream far above that is a flood, and it is disconnected with RESOURCE_EXHAUSTED naming
the limit, instead of filling the session actor's mailbox (and the book's behind it).
Bids keep their own softer rule in the session actor (``solver_bid_rate``: refused bids,
the session stays unless it goes on). Backpressure: while the session actor has
``intents.solver_backlog`` messages queued, the reader stops reading, so HTTP/2 flow
control makes the solver wait instead of the node buffering without bound.
"""

from __future__ import annotations

import asyncio
from typing import Any

from actors.book import IntentsConfig, RateLimit
from runtime import RateLimiter, ResourceExhausted

__all__ = ["SessionCaps", "MessageLimits", "backpressure"]

_POLL = 0.005   # seconds between looks at a backed-up session actor's mailbox


class SessionCaps:
    """Open sessions per peer IP and in all; used only on the gRPC loop (no lock)."""

    def __init__(self) -> None:
        self.total = 0
        self.per_peer: dict[str, int] = {}

    def enter(self, peer: str, cfg: IntentsConfig) -> None:
        if self.per_peer.get(peer, 0) >= cfg.max_solver_sessions_per_peer:
            raise ResourceExhausted(
                f"{peer} has {cfg.max_solver_sessions_per_peer} solver sessions open, the "
                "limit per peer (intents.max_solver_sessions_per_peer); close one first")
        if self.total >= cfg.max_solver_sessions:
            raise ResourceExhausted(
                f"the node has {cfg.max_solver_sessions} solver sessions open, its limit "
                "(intents.max_solver_sessions); retry later or connect to another node")
        self.total += 1
        self.per_peer[peer] = self.per_peer.get(peer, 0) + 1

    def leave(self, peer: str) -> None:
        self.total -= 1
        n = self.per_peer.get(peer, 0) - 1
        if n > 0:
            self.per_peer[peer] = n
        else:
            self.per_peer.pop(peer, None)


class MessageLimits:
    """One stream's buckets per message kind; :meth:`check` raises when one is exceeded."""

    def __init__(self, cfg: IntentsConfig, clock: Any) -> None:
        self.clock = clock
        reports = _Bucket("fill reports and escrow mismatch reports",
                          "intents.solver_report_rate", cfg.solver_report_rate)
        self.buckets = {"heartbeat": _Bucket("heartbeats", "intents.solver_heartbeat_rate",
                                             cfg.solver_heartbeat_rate),
                        "fill_report": reports, "escrow_mismatch": reports}

    def check(self, kind: str | None) -> None:
        bucket = self.buckets.get(kind or "")
        if bucket is not None and not bucket.limiter.allow("", self.clock.now()):
            raise ResourceExhausted(
                f"solver session flooded: more {bucket.what} than {bucket.rate.rate:g}/s "
                f"(burst {bucket.rate.burst}, {bucket.key}); session closed")


class _Bucket:
    def __init__(self, what: str, key: str, rate: RateLimit) -> None:
        self.what, self.key, self.rate = what, key, rate
        self.limiter = RateLimiter(rate.rate, rate.burst)


async def backpressure(ref: Any, limit: int) -> None:
    """Wait while the session actor has ``limit`` or more messages queued."""
    inbox = getattr(ref, "actor_inbox", None)
    while inbox is not None and inbox.qsize() >= limit:
        await asyncio.sleep(_POLL)
