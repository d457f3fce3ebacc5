"""What the book's parts share: its state, declared once, and the seams between them.

The book is one actor assembled from mixins (:mod:`._auctioneer`, :mod:`._events`,
:mod:`._records`) over :class:`BookState`. The actor builds the state in ``setup``; this
class declares it, with types, so each mixin is checked against the same state, and names
the methods one part calls on another (defined by the part that owns them).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chains.directory import Directory
from runtime import Actor, Clock, RateLimiter, SingletonLease, Timer
from runtime.store import Store

from ._config import IntentsConfig
from ._metrics import BookMetrics
from ._models import SolverRecord
from ._open import OpenIntents
from ._subs import Subscriptions
from ._views import Change, IntentView, TransitionView

if TYPE_CHECKING:
    from actors.admission import Verdict

    from ._auction import Auction
    from ._score import Window

__all__ = ["BookState", "Session"]


@dataclass(frozen=True)
class Session:
    """A solver session the book offers work to (from :class:`SessionJoined`)."""

    path: str
    solver: str
    capabilities: Any
    outbox: Any = None   # offers go straight into the session's stream (SessionJoined.outbox)


class BookState(Actor):
    cfg: IntentsConfig
    directory: Directory
    store: Store
    book_metrics: BookMetrics                # business metrics observed at commits (_metrics)
    clock: Clock
    active: OpenIntents                      # intents not terminal, by id (counted per user)
    auctions: dict[str, Auction]             # intent id -> auction in progress
    sessions: dict[str, Session]             # session path -> session
    subs: Subscriptions
    user_limit: RateLimiter
    timers: dict[str, Timer]                 # intent id -> exclusivity deadline
    retry_timers: dict[str, Timer]           # intent id -> next auction attempt
    # intent id -> the quoter's pending answer (an _Asked: a batch's future and a place in
    # it), then (bound, expected), or None (no quote): bids above the bound are refused;
    # the asks of the current message, sent as one at its end (AuctioneerMixin.ask_references)
    references: dict[str, Any]
    quotes_due: list[tuple[Any, Any]]
    bid_seq: int
    rounds: dict[str, int]                   # intent id -> auctions held
    stats: dict[str, SolverRecord]           # solver -> its record, counters not flushed
    dirty: set[str]                          # solvers whose record changed
    flush_timer: Timer | None
    pending_offers: dict[str, list[Any]]     # session path -> offers for the next round
    round_timer: Timer | None                # the next round, when one is due
    round_due: float                         # its wall time
    last_round: float                        # wall time of the last round that sent offers
    flush_due: bool                          # a round is due at the end of this message
    last_prune: float                        # when old marks were last deleted
    # reliability (._reliability): per-solver windows, marks not written yet, per intent
    # the solvers barred from its later auctions, suspensions (solver -> (until, reason))
    windows: dict[str, Window]
    marks_pending: list[dict[str, Any]]
    barred: dict[str, set[str]]
    suspensions: dict[str, tuple[float, str]]
    # admission before each round (._admit): on or off (the admission section), intents
    # whose check is in flight (since, clock.now()), the version a check passed for (consumed by the round),
    # the failed checks last recorded in an intent's history
    admission: bool
    admission_ttl: float
    checking: dict[str, float]
    admitted: dict[str, int]
    not_executable: dict[str, tuple[str, ...]]
    # why an intent nobody won expires (._auctioneer, the EXPIRED entry's reason): per
    # intent the sessions it was offered to, and the most connected sessions that covered
    # its route at one auction attempt; in memory only, so counted since ``led_since`` (the
    # wall time this book began leading): an intent older than that gets neutral wording
    offered_to: dict[str, set[str]]
    covered_by: dict[str, int]
    led_since: float
    # across nodes (._actor): the ``book`` lease, whether this book leads (else it follows
    # the holder), the last transition announced here, the follower's timer
    singleton: SingletonLease
    leading: bool
    tail_cursor: int
    follow_timer: Timer | None
    event_cursor: int
    solana_cursor: int

    if TYPE_CHECKING:   # one part calls another: defined by the part named
        # the actor (._actor)
        def _commit(self, changes: list[Change], cursor: dict[str, Any] | None = None,
                    also: Callable[[], None] | None = None,
                    created: Sequence[tuple[IntentView, TransitionView]] = ()
                    ) -> list[IntentView]: ...
        def _view(self, intent_id: str) -> IntentView | None: ...
        def _tell(self, path: str, message: Any) -> None: ...
        def _reload_active(self) -> None: ...
        # the auctioneer (._auctioneer)
        def _start_auction(self, view: IntentView, excluded: frozenset[str] = frozenset(),
                           verdict: Verdict | None = None) -> None: ...
        def _arm_exclusivity(self, view: IntentView) -> None: ...
        def _end_auction(self, intent_id: str, reason: str) -> None: ...
        # the check before a round (._admit)
        def _admitted(self, view: IntentView, excluded: frozenset[str],
                      verdict: Verdict | None = None) -> bool: ...
        # the solver records (._records)
        def _stat(self, solver: str, response_ms: float | None = None, **inc: int) -> None: ...
        # reliability (._reliability)
        def _mark(self, solver: str, kind: str, intent: str) -> None: ...
        def _reliability(self, solver: str) -> float: ...
        def _opens(self, solver: str) -> int: ...
        def _is_suspended(self, solver: str) -> bool: ...
        def _excluded(self, intent_id: str) -> frozenset[str]: ...
        def _bar(self, intent_id: str, solver: str) -> frozenset[str]: ...
        def _forget(self, intent_id: str) -> None: ...
        # chain events (._events)
        def save_cursor(self, last_event_id: int) -> None: ...
