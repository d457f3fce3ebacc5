"""Messages to and from ``intents/book``.

Who sends what:
- intent service -> book: :class:`Submit` (ask, batched: one commit for many), :class:`Cancel`
  (ask), :class:`Subscribe` / :class:`Unsubscribe` (watch streams);
- solver session -> book: :class:`SessionJoined`, :class:`SessionLeft`, :class:`PlaceBid`,
  :class:`FillReported`, :class:`EscrowMismatch`, :class:`Decline`, :class:`ReadRecord`
  (all tells);
- book -> solver session (tells to the session's path): :class:`OfferWork`,
  :class:`AwardWork`, :class:`LostWork`, :class:`BidRefused`, :class:`IntentChanged`,
  :class:`DeclineRefused`, :class:`RecordOf`, :class:`Suspended`;
- admin -> book: :class:`SolverRecords` (ask, returns solver records);
- chain watchers -> book: ``ChainEventsCommitted`` / ``ChainReorged`` (actors.chain_watcher);
- keeper -> book: :class:`ExpireDue`, :class:`ReauctionLapsed` (ask, returns a count).

A sink is a callable the book calls on its own thread for each update; it must not block
(the gRPC side queues with ``loop.call_soon_threadsafe`` and drops a reader that lags).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.admission import Verdict
from protocol.erc7683 import GaslessOrder

from ._views import IntentUpdateView, IntentView

__all__ = ["Submit", "SubmitBatch", "Cancel", "Subscribe", "Unsubscribe", "SessionJoined", "SessionLeft", "BookStarted",
           "PlaceBid", "FillReported", "OfferWork", "AwardWork", "LostWork", "BidRefused",
           "IntentChanged", "ExpireDue", "ReauctionLapsed", "Capabilities", "EscrowMismatch",
           "Decline", "DeclineRefused", "ReadRecord", "RecordOf", "SolverRecords", "Suspended",
           "SolverRecordView", "ExplainLive", "LiveBid", "LiveState"]


# ---- intent service -> book -------------------------------------------------------------
@dataclass(frozen=True)
class Submit:
    """Ask: store a verified order; the reply (an IntentView) means it is committed."""

    order: GaslessOrder
    typed_data: str      # the JSON the user signed, as received
    signature: str       # 0x hex, 65 bytes, verified by the service
    intent_id: str = ""  # "0x" + order.order_id.hex() when the sender computed it already
    # The origin chain's verdict at submission (admission on) and when it came (the node
    # clock's ``now``): the first round uses it while younger than ``admission.head_ttl``
    # instead of asking admission again for what it would answer from its cache (._admit).
    verdict: Verdict | None = None
    checked_at: float = 0.0
    # The EIP-712 digest a contract wallet approved (ERC-1271, 0x hex) when the signature is
    # the wallet's, not a key's: stored, and put to the wallet again before each round.
    wallet_digest: str = ""


@dataclass(frozen=True)
class SubmitBatch:
    """Ask: store several verified orders in one transaction (``IntentService/SubmitIntents``).

    The reply is one result per submit, in order: an IntentView (committed) or the typed
    error that order alone would have got (already submitted, user over its rate)."""

    submits: tuple[Submit, ...]


@dataclass(frozen=True)
class Cancel:
    """Ask: cancel an intent; ``signer`` was recovered from the CancelOrder signature."""

    intent_id: str
    signer: str


@dataclass(frozen=True)
class Subscribe:
    """Ask: send every committed transition of ``ids`` (or of ``user``) to ``sink``."""

    key: str
    ids: frozenset[str]
    user: str
    sink: Callable[[IntentUpdateView], None]


@dataclass(frozen=True)
class Unsubscribe:
    key: str


# ---- solver sessions <-> book -----------------------------------------------------------
@dataclass(frozen=True)
class Capabilities:
    """What a solver serves: chain ids, and output tokens as (chain id, checksum address);
    ``tokens`` None means every configured token of those chains."""

    chains: frozenset[int]
    tokens: frozenset[tuple[int, str]] | None = None

    def covers(self, intent: IntentView) -> bool:
        if intent.origin_chain_id not in self.chains or intent.destination_chain_id not in self.chains:
            return False
        return self.tokens is None or (intent.destination_chain_id, intent.output_token) in self.tokens


@dataclass(frozen=True)
class SessionJoined:
    path: str            # registry path of the session actor
    solver: str          # checksum address
    capabilities: Capabilities
    # The session stream's runtime.grpc Outbox, when the session takes offers straight
    # from the book: the book pushes OfferWork.message into it (no hop through the session
    # actor; one loop wake-up per offer round for all sessions). The session pushes its
    # Welcome before it joins, so it still comes first. None: offers are told.
    outbox: Any = None


@dataclass(frozen=True)
class SessionLeft:
    path: str


@dataclass(frozen=True)
class BookStarted:
    """Told by a (re)started book to every live session: it knows no sessions yet, so each
    joins again (``SessionJoined`` to ``book``, queued behind the book's setup)."""

    book: Any   # the new book's pykka ActorRef


@dataclass(frozen=True)
class BookMoved:
    """Told by a book that follows (another node leads) to a session on its node: the
    session ends UNAVAILABLE with ``reason``, so its solver reconnects and is relayed to
    the leader's node, where the auctions run (docs/cluster.md, "Sessions")."""

    reason: str


@dataclass(frozen=True)
class PlaceBid:
    path: str
    solver: str
    intent_id: str
    amount: int


@dataclass(frozen=True)
class FillReported:
    solver: str
    intent_id: str
    chain: str
    tx_hash: str
    kind: str            # "open" | "fill"


@dataclass(frozen=True)
class EscrowMismatch:
    """A solver checked the escrow opened on chain for an intent it was awarded against its
    award (protocol.evidence.judge_escrow), found it different, and does not fill. The book
    records it in the intent's history (once per solver and intent, and only from a solver
    that was awarded the intent)."""

    solver: str
    intent_id: str
    chain: str           # config name of the origin chain
    reason: str          # what differs, as the solver saw it (bounded by the service)


@dataclass(frozen=True)
class OfferWork:
    """A round's offers to one session: a ``ServerMessage(offers=...)`` built by the book,
    pushed as is (shared, read-only, by every session offered the same auctions)."""

    message: Any


@dataclass(frozen=True)
class AwardWork:
    intent: IntentView
    amount: int
    deadline: float      # unix seconds: open by then
    typed_data: str
    signature: str


@dataclass(frozen=True)
class LostWork:
    intent_id: str
    winning_amount: int  # 0 when there was no winner
    reason: str


@dataclass(frozen=True)
class BidRefused:
    intent_id: str
    reason: str


@dataclass(frozen=True)
class IntentChanged:
    update: IntentUpdateView


# ---- keeper -> book ---------------------------------------------------------------------
@dataclass(frozen=True)
class ExpireDue:
    """Ask: expire PENDING/ASSIGNED intents whose openDeadline has passed; returns a count."""


@dataclass(frozen=True)
class ReauctionLapsed:
    """Ask: re-auction ASSIGNED intents whose exclusivity has lapsed; returns a count."""


# ---- reliability (docs/solvers.md "Reliability") -----------------------------------------
@dataclass(frozen=True)
class Decline:
    """The session's solver releases its award of ``intent_id`` (it cannot execute it)."""

    path: str
    solver: str
    intent_id: str
    reason: str          # bounded by the service


@dataclass(frozen=True)
class DeclineRefused:
    intent_id: str
    reason: str


@dataclass(frozen=True)
class ReadRecord:
    """Tell: the session at ``path`` asks for its solver's record (answered with RecordOf)."""

    path: str
    solver: str


@dataclass(frozen=True)
class SolverRecordView:
    """A solver's record as of now: reliability over the window, suspension, counters."""

    solver: str
    reliability: float
    suspended_until: float       # 0 or in the past: not suspended
    suspension_reason: str
    window_seconds: float
    window: dict[str, int]       # mark kind -> count within the window (_score.KINDS)
    offers: int
    bids: int
    wins: int
    fills: int
    fades: int
    median_bid_ms: float | None
    last_seen: float
    now: float

    @property
    def suspended(self) -> bool:
        return self.suspended_until > self.now


@dataclass(frozen=True)
class RecordOf:
    record: SolverRecordView


@dataclass(frozen=True)
class SolverRecords:
    """Ask: the records of ``solver`` (one, or none), or of every solver the book knows
    (``solver`` empty), lowest reliability first."""

    solver: str = ""
    suspended_only: bool = False


@dataclass(frozen=True)
class Suspended:
    """Told to a suspended solver's session: why, and until when (unix seconds)."""

    until: float
    reason: str
    reliability: float


# ---- intent service -> book: ExplainIntent ----------------------------------------------
@dataclass(frozen=True)
class ExplainLive:
    """Ask: what only the book knows of ``intent_id`` now (its open round's bids, the
    sessions that cover its route, a failed admission check); returns a :class:`LiveState`.
    The store has the rest (ExplainIntent reads it there)."""

    intent_id: str


@dataclass(frozen=True)
class LiveBid:
    solver: str
    amount: int
    at: float            # unix seconds
    suspended: bool      # the solver is suspended now: its bid will not be ranked


@dataclass(frozen=True)
class LiveState:
    round: int                   # the open round's number; 0: no round open
    closes_at: float             # unix seconds (0 without a round)
    offered: int                 # sessions offered the open round
    bids: tuple[LiveBid, ...]    # best first
    excluded: tuple[str, ...]    # solvers barred from this intent (lapsed, declined, suspended)
    sessions: int                # connected solver sessions
    covering: int                # of them, those whose capabilities cover the route
    not_executable: tuple[str, ...]   # the admission checks failing (BALANCE, ALLOWANCE, NONCE,
                                      # SIGNATURE)
    now: float
