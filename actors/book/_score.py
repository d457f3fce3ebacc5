"""Solver reliability and the auction's ranking rule: pure (no clock, no store, no actor).

Why: bids alone let any key hold an intent hostage (bid the most, never open) and let a
fresh key (a Sybil) beat a proven solver by bidding a hair more. So an award weighs each
bid by the bidder's *reliability* over a rolling window:

    reliability = (PRIOR_GOOD + opens) / (PRIOR_GOOD + PRIOR_BAD + opens + sum(weight x mark))

- ``opens``: awards opened on chain while still ASSIGNED (before the exclusivity deadline);
- marks: ``fade`` (exclusivity lapsed unopened) 1, ``decline`` (released with a decline)
  0.5, ``shortfall`` (filled below its bid) 2, ``foreign_fill`` (filled another originData)
  2. ``win`` and ``voided`` (the user opened other terms: not the solver's fault) weigh 0;
- the prior (3 good, 1 bad: a new key is 0.75) is *neutral*, not trusting: a proven solver
  (ten opens, no marks: 13/14 = 0.93) is beaten by a fresh key only with a bid 24 % higher,
  more than the default bid bound over the quote (20 %) admits; a few on-time opens bring
  an honest new solver close to the proven ones.

A bid ranks by ``amount x reliability`` (exact integer arithmetic on a fixed-point score),
ties to the earlier bid. A solver whose reliability falls below ``suspend_below`` with a mark
is suspended for ``cooldown`` seconds (no offers, bids refused), as CoW and UniswapX do;
when the cooldown ends it is admitted again, and its next mark while still below the
threshold suspends it again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

__all__ = ["BidLike", "B", "KINDS", "WEIGHTS", "PRIOR_GOOD", "PRIOR_BAD", "SCALE", "Window", "reliability",
           "rank", "Ranked", "suspension"]

# What can be marked on a solver's window; the weight of each bad mark in the score.
KINDS = ("win", "open", "fade", "decline", "shortfall", "foreign_fill", "voided")
WEIGHTS: Mapping[str, float] = {"fade": 1.0, "decline": 0.5, "shortfall": 2.0,
                                "foreign_fill": 2.0}
PRIOR_GOOD = 3.0
PRIOR_BAD = 1.0
SCALE = 1_000_000   # reliability as an integer fraction of SCALE, for exact ranking


class Window:
    """One solver's marks within the rolling window: ``(at, kind, intent)`` in time order,
    with running counts (adding and expiring are O(1)). A mark is counted once per kind
    and intent (a reorg that replays an Open does not count it twice)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.marks: deque[tuple[float, str, str]] = deque()
        self.counts: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._seen: set[tuple[str, str]] = set()

    def add(self, at: float, kind: str, intent: str) -> bool:
        """Record a mark; False if this kind was already marked for this intent."""
        if kind not in self.counts:
            raise ValueError(f"unknown mark {kind!r}")
        key = (kind, intent)
        if key in self._seen:
            return False
        self._seen.add(key)
        self.marks.append((at, kind, intent))
        self.counts[kind] += 1
        return True

    def expire(self, now: float) -> None:
        cutoff = now - self.seconds
        while self.marks and self.marks[0][0] < cutoff:
            _, kind, intent = self.marks.popleft()
            self.counts[kind] -= 1
            self._seen.discard((kind, intent))

    def reliability(self, now: float) -> float:
        self.expire(now)
        return reliability(self.counts)


def reliability(counts: Mapping[str, int]) -> float:
    """The score in (0, 1] of window counts (module docstring)."""
    good = PRIOR_GOOD + counts.get("open", 0)
    bad = PRIOR_BAD + sum(w * counts.get(k, 0) for k, w in WEIGHTS.items())
    return good / (good + bad)


class BidLike(Protocol):
    """What ranking and the kept rounds read of a bid (the auction's bids and test rows alike)."""

    @property
    def solver(self) -> str: ...
    @property
    def amount(self) -> int: ...
    @property
    def seq(self) -> int: ...


B = TypeVar("B", bound=BidLike)


@dataclass(frozen=True)
class Ranked(Generic[B]):
    bid: B
    reliability: float
    weighted: int        # amount x reliability x SCALE (integer)


def rank(bids: Iterable[B], scores: Mapping[str, float],
         barred: frozenset[str] = frozenset()) -> list[Ranked[B]]:
    """Bids best first: by ``amount x reliability`` (``scores`` by solver; a solver without
    one has the prior), ties to the earlier bid (lower ``seq``). Bids of ``barred`` solvers
    (suspended since they bid) are left out."""
    prior = reliability({})
    out = []
    for b in bids:
        if b.solver in barred:
            continue
        r = scores.get(b.solver, prior)
        out.append(Ranked(b, r, b.amount * round(r * SCALE)))
    out.sort(key=lambda x: (-x.weighted, x.bid.seq))
    return out


def suspension(score: float, kind: str, now: float, suspend_below: float, cooldown: float,
               until: float) -> float | None:
    """The new end of a suspension after a mark of ``kind`` left the solver at ``score``,
    or None (no change). Only a bad mark suspends; a suspension in force is not extended
    (the marks that caused it do not count twice)."""
    if WEIGHTS.get(kind, 0.0) <= 0 or score >= suspend_below or until > now or cooldown <= 0:
        return None
    return now + cooldown
