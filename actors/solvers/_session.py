"""The solver session actor: one per connected solver, a dynamic child of ``intents/solvers``.

The gRPC side (:mod:`._service`) authenticates the hello and starts this actor
as ``intents/solvers/session/<lowercase address>`` (restart TEMPORARY: a session is never
restarted; the solver reconnects). The actor is the session's state and its only writer:

- to the book (``intents/book``): :class:`SessionJoined` at start, :class:`SessionLeft` at
  stop, :class:`PlaceBid` per accepted bid, :class:`FillReported` per fill report,
  :class:`EscrowMismatch` per accepted escrow mismatch report, :class:`Decline` per
  decline, :class:`ReadRecord` per record read (each for a token of the bid bucket);
- from the book (tells to this actor's path): awards, losses, refusals and intent updates,
  declines refused, records and suspensions, each turned into one ``ServerMessage`` pushed
  into the stream's outbox. Offers, the bulk
  of the traffic, skip this actor: ``SessionJoined`` carries the outbox and the book pushes
  one prebuilt ``ServerMessage`` per auction into every eligible session's outbox (an
  ``OfferWork`` told here, from a book that does not push, is still pushed as is);
- from the stream's reader task: :class:`SolverBid`, :class:`SolverFill`,
  :class:`SolverMismatch`, :class:`SolverHeartbeat` (already checked for shape by the
  service).

Liveness: any message from the solver counts; a clock timer tells the actor
:class:`_LivenessCheck` and silence for ``heartbeat_timeout`` ends the session with
DEADLINE_EXCEEDED. Bid rate: a token bucket (``solver_bid_rate``: rate/s, burst) per
session; a bid over the bucket gets ``BidRejected("rate limited ...")`` and the session
stays, but more than ``burst`` rate-limited bids *in a row* (no accepted bid between them)
is sustained abuse and ends the session with RESOURCE_EXHAUSTED. An escrow mismatch report
costs a token of the same bucket, like a bid (the book does a history read for each, and
records at most one per solver and intent): one over the bucket is dropped (logged; nothing
goes back, the report is advisory) and counts towards the same abuse limit.

Ending a session (timeout, abuse): the actor closes the outbox with the reason (the
stream ends with that status) and stops itself; the supervisor drops the TEMPORARY child.
The stream ending first: the service tells :class:`StreamEnded` to this very actor (by
reference, so a stale end never stops a newer session of the same solver) and it stops
quietly. A stop from outside (node shutdown, the ``intents`` group or ``intents/solvers``
restarting, an operator's StopActor) closes the outbox with UNAVAILABLE: reconnect.

The book restarted on its own (RestartActor, a reload that changed it) knows no sessions:
the session compares the book's registered ref on every solver message and on each
liveness check, and joins a new book again. While no book is registered a bid gets
``BidRejected`` and the session stays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pykka

from google.protobuf.timestamp_pb2 import Timestamp

from actors import BOOK_PATH
from actors.book import (AwardWork, BidRefused, BookMoved, BookStarted, Capabilities, Decline,
                         DeclineRefused, EscrowMismatch, FillReported, IntentChanged,
                         IntentsConfig, LostWork, OfferWork, PlaceBid, ReadRecord, RecordOf,
                         SessionJoined, SessionLeft, Suspended, intent_pb, solver_record_pb,
                         update_pb)
from orbital.v1 import solver_pb2
from runtime import (Actor, ActorUnavailable, ChildSpec, DeadlineExceeded, InvalidArgument,
                     OrbitalError, RateLimiter, ResourceExhausted, Restart, Unavailable)
from runtime.grpc import timestamp
from chains import fields

__all__ = ["SolverSession", "SessionSpec", "SolverBid", "SolverFill", "SolverHeartbeat", "SolverMessage", "SolverMismatch",
           "SolverDecline", "SolverGetRecord", "StreamEnded", "session_id_of", "session_spec"]

log = logging.getLogger("orbital.solver")



# ---- the session's config and the messages from the stream's reader -----------------------
@dataclass(frozen=True)
class SessionSpec:
    solver: str                    # checksum address, authenticated
    capabilities: Capabilities
    outbox: Any                    # runtime.grpc Outbox: push(msg), close(err); thread-safe
    config: IntentsConfig
    session_id: str


@dataclass(frozen=True)
class SolverBid:
    intent_id: str
    output_amount: str             # as sent: parsed here, refused with a reason


@dataclass(frozen=True)
class SolverFill:
    intent_id: str
    chain: str                     # config name, resolved by the service
    tx_hash: str
    kind: str                      # "open" | "fill"


@dataclass(frozen=True)
class SolverMismatch:
    """The solver found the escrow of an intent it was awarded holding other terms."""

    intent_id: str
    chain: str                     # config name of the origin chain, resolved by the service
    reason: str                    # bounded by the service


@dataclass(frozen=True)
class SolverHeartbeat:
    seq: int


@dataclass(frozen=True)
class SolverDecline:
    """The solver releases its award of ``intent_id`` (the book checks it is the winner)."""

    intent_id: str                 # lowercase, shape checked by the service
    reason: str                    # bounded by the service


@dataclass(frozen=True)
class SolverGetRecord:
    """The solver asks for its own record (answered with ``record``)."""


# What the service hands the session from a solver's stream, checked for shape.
SolverMessage = (SolverBid | SolverFill | SolverMismatch | SolverHeartbeat | SolverDecline
                 | SolverGetRecord)


@dataclass(frozen=True)
class StreamEnded:
    """From the service, by reference: the stream is over (either side); stop quietly."""


@dataclass(frozen=True)
class _LivenessCheck:
    pass


def session_id_of(solver: str) -> str:
    """Child id under ``intents/solvers``: one session per solver address."""
    return f"session/{solver.lower()}"


def session_spec(spec: SessionSpec) -> ChildSpec:
    return ChildSpec(session_id_of(spec.solver), SolverSession, spec, restart=Restart.TEMPORARY)


def _ts(seconds: float) -> Timestamp | None:
    """0 means unset (no deadline, not yet)."""
    return timestamp(seconds or None)


def _parse_amount(text: str) -> int | str:
    """The amount, or the reason it is refused (a bad bid is refused, the session stays)."""
    try:
        return fields.amount(text, "output_amount")
    except InvalidArgument as exc:
        return exc.message


def _valid_id(intent_id: str) -> bool:
    try:
        fields.order_id(intent_id, "intent_id")
    except InvalidArgument:
        return False
    return True


class SolverSession(Actor):
    kind = "solver_session"

    def setup(self) -> None:
        spec: SessionSpec = self.config
        self.spec, self.cfg, self.outbox = spec, spec.config, spec.outbox
        self.solver = spec.solver
        self.ended, self.joined, self.timer = True, False, None   # until joined
        self.resources.callback(self._leave)
        clock = self.ctx.clock
        self.last_seen = clock.now()
        rate = self.cfg.solver_bid_rate
        self.bid_limit = RateLimiter(rate.rate, rate.burst)
        self.limited_in_row = 0
        # Raises ActorUnavailable when the book is not running: the start fails and the
        # service answers UNAVAILABLE (retryable) instead of a session that gets no work.
        # Welcome is pushed before the book hears of the session: the book pushes offers
        # into the outbox directly, and what the book tells queues behind this setup.
        self.book: pykka.ActorRef[Any] | None = None
        book = self.ctx.registry.lookup(BOOK_PATH)
        self.outbox.push(solver_pb2.ServerMessage(welcome=solver_pb2.Welcome(
            session_id=spec.session_id,
            heartbeat_interval_seconds=self.cfg.heartbeat_interval,
            heartbeat_timeout_seconds=self.cfg.heartbeat_timeout)))
        self._join_book(book)
        self.joined, self.ended = True, False
        self._arm(self.cfg.heartbeat_timeout)

    def _leave(self) -> None:
        """The session's last act (stop or crash): leave the book, end the stream."""
        if self.timer is not None:
            self.timer.cancel()
        if self.joined:
            try:
                self.ctx.registry.tell(BOOK_PATH, SessionLeft(self.path))
            except ActorUnavailable:
                pass  # the book is gone (restarting or stopped): it forgets sessions anyway
        if not self.ended:
            self.ended = True
            self._close(Unavailable("solver session stopped by the node (stream ended, "
                                    "shutdown or restart of the intents group); reconnect"))

    # ---- messages ------------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if self.ended:
            return None
        kind = type(message)
        if kind is OfferWork:   # a round's offers, built once by the book
            self.outbox.push(message.message)
            return None
        if kind is AwardWork:
            return self._push(award=solver_pb2.Award(
                intent_id=message.intent.id, output_amount=str(message.amount),
                exclusivity_deadline=_ts(message.deadline), typed_data=message.typed_data,
                signature=message.signature, intent=intent_pb(message.intent)))
        if kind is LostWork:
            return self._push(loss=solver_pb2.Loss(
                intent_id=message.intent_id,
                winning_output_amount=str(message.winning_amount) if message.winning_amount else "",
                reason=message.reason))
        if kind is BidRefused:
            return self._push(bid_rejected=solver_pb2.BidRejected(
                intent_id=message.intent_id, reason=message.reason))
        if kind is IntentChanged:
            return self._push(update=update_pb(message.update))
        if kind is DeclineRefused:
            return self._push(decline_rejected=solver_pb2.DeclineRejected(
                intent_id=message.intent_id, reason=message.reason))
        if kind is RecordOf:
            return self._push(record=solver_record_pb(message.record))
        if kind is Suspended:
            return self._push(suspended=solver_pb2.Suspended(
                until=timestamp(message.until), reason=message.reason,
                reliability=message.reliability))
        if kind is SolverHeartbeat:
            self._seen()
            return self._push(heartbeat_ack=solver_pb2.HeartbeatAck(seq=message.seq))
        if kind is SolverBid:
            self._seen()
            return self._bid(message)
        if kind is SolverFill:
            self._seen()
            tx = message.tx_hash   # a 0x hash in lower case; a base58 signature as it is
            self._to_book(FillReported(self.solver, message.intent_id.lower(), message.chain,
                                       tx.lower() if tx.startswith("0x") else tx, message.kind))
            return None
        if kind is SolverMismatch:
            self._seen()
            return self._mismatch(message)
        if kind is SolverDecline:
            self._seen()
            return self._ask_book(message.intent_id, Decline(
                self.path, self.solver, message.intent_id, message.reason), "decline_rejected")
        if kind is SolverGetRecord:
            self._seen()
            return self._ask_book("", ReadRecord(self.path, self.solver), "")
        if kind is _LivenessCheck:
            return self._check_liveness()
        if kind is BookStarted:
            self._join_book(message.book)
            return None
        if kind is BookMoved:
            self._end(Unavailable(message.reason))
            return None
        if kind is StreamEnded:
            self.ended = True   # nobody reads the outbox any more: nothing to close
            self.actor_ref.stop(block=False)
            return None
        return super().handle(message)

    # ---- bids ----------------------------------------------------------------------------
    def _bid(self, bid: SolverBid) -> None:
        if not _valid_id(bid.intent_id):
            return self._reject(bid.intent_id, "intent_id must be 0x followed by 64 hex digits")
        amount = _parse_amount(bid.output_amount)
        if isinstance(amount, str):
            return self._reject(bid.intent_id, amount)
        limited = self._spend_token()
        if limited is not None:
            return None if self.ended else self._reject(bid.intent_id, limited)
        if not self._to_book(PlaceBid(self.path, self.solver, bid.intent_id.lower(), amount)):
            return self._reject(bid.intent_id, "the intent book is restarting; bid again "
                                               "when the intent is offered again")
        return None

    def _spend_token(self) -> str | None:
        """One token of the session's bucket (bids and escrow mismatch reports): None if it
        had one, else the refusal. More than ``burst`` refusals in a row end the session."""
        if self.bid_limit.allow(self.solver, self.ctx.clock.now()):
            self.limited_in_row = 0
            return None
        self.limited_in_row += 1
        rate = self.cfg.solver_bid_rate
        if self.limited_in_row > rate.burst:
            self._end(ResourceExhausted(
                f"bid rate exceeded: {self.limited_in_row} bids in a row over the limit of "
                f"{rate.rate:g}/s (burst {rate.burst}); session closed"))
        return f"rate limited: at most {rate.rate:g} bids/s (burst {rate.burst})"

    def _reject(self, intent_id: str, reason: str) -> None:
        self._push(bid_rejected=solver_pb2.BidRejected(intent_id=intent_id, reason=reason))

    # ---- escrow mismatch reports ---------------------------------------------------------
    def _mismatch(self, report: SolverMismatch) -> None:
        """To the book, which records it if this solver was awarded the intent (once)."""
        limited = self._spend_token()
        if limited is not None:
            log.info("escrow mismatch report dropped", extra={"path": self.path, "solver": self.solver,
                                                              "intent": report.intent_id, "reason": limited})
            return None
        self._to_book(EscrowMismatch(self.solver, report.intent_id.lower(), report.chain, report.reason))
        return None

    # ---- declines and record reads --------------------------------------------------------
    def _ask_book(self, intent_id: str, message: Any, refusal: str) -> None:
        """A decline or a record read, to the book, for a token of the bid bucket (each
        costs the book work). Over the bucket or no book: a decline gets
        ``decline_rejected`` with the reason; a record read is dropped (logged)."""
        why = self._spend_token()
        if why is None and not self._to_book(message):
            why = "the intent book is restarting; send it again in a moment"
        if why is None or self.ended:
            return None
        if refusal:
            self._push(decline_rejected=solver_pb2.DeclineRejected(intent_id=intent_id,
                                                                   reason=why))
        else:
            log.info("record read dropped", extra={"path": self.path, "reason": why})
        return None

    # ---- liveness ------------------------------------------------------------------------
    def _seen(self) -> None:
        self.last_seen = self.ctx.clock.now()

    # ---- the book ------------------------------------------------------------------------
    def _join_book(self, ref) -> None:
        ref.tell(SessionJoined(self.path, self.solver, self.spec.capabilities, self.outbox))
        self.book = ref

    def _arm(self, delay: float) -> None:
        self.timer = self.tell_later(delay, _LivenessCheck())

    def _check_liveness(self) -> None:
        silent = self.ctx.clock.now() - self.last_seen
        timeout = self.cfg.heartbeat_timeout
        if silent >= timeout:
            return self._end(DeadlineExceeded(
                f"no heartbeat for {silent:.1f}s (timeout {timeout:g}s, send one every "
                f"{self.cfg.heartbeat_interval:g}s); session closed"))
        self._arm(timeout - silent)
        return None

    # ---- plumbing ------------------------------------------------------------------------
    def _to_book(self, message: Any) -> bool:
        """Tell the book ``message``; False while it is restarting (it tells the
        session ``BookStarted`` once it is back, and the session joins it then)."""
        if self.book is None:
            return False
        try:
            self.book.tell(message)
            return True
        except Exception:  # noqa: BLE001 - pykka.ActorDeadError: stopping or restarting
            return False

    def _push(self, **kind: Any) -> None:
        self.outbox.push(solver_pb2.ServerMessage(**kind))

    def _close(self, error: OrbitalError | None) -> None:
        try:
            self.outbox.close(error)
        except RuntimeError:
            pass  # the gRPC loop is closed (node stopped): nobody to tell

    def _end(self, error: OrbitalError) -> None:
        """End the session from inside: the stream gets ``error``, the actor stops."""
        if self.ended:
            return
        self.ended = True
        log.info("solver session ended", extra={"path": self.path, "solver": self.solver,
                                                "reason": error.message})
        self._close(error)
        self.actor_ref.stop(block=False)

