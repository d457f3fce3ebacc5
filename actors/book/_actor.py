"""``intents/book``: the intent lifecycle (SPEC section 3), auctions and announcements.

One actor owns every write to the intent tables, so transitions of one intent are totally
ordered; every transition is committed before it is announced (to watch streams and to
solver sessions). State kept in memory is only a cache of the store plus what cannot be
durable by nature (auctions in progress, connected sessions, subscriptions): ``setup``
rebuilds the cache, catches up on chain events, re-arms exclusivity timers and re-runs
auctions of PENDING intents once solvers reconnect.

Submissions arrive as many concurrent asks; the runtime hands consecutive ones to
:meth:`Book.handle_batch`, so a burst is one transaction (group commit) instead of one
commit per intent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from collections.abc import Callable, Sequence
from typing import Any

import peewee
import pykka

from actors.admission import OrderChecked
from actors.chain_watcher import CHAIN_EVENTS_CHANNEL, ChainEventsCommitted, ChainReorged
from chains.directory import Directory
from actors import SOLVERS_PATH
from runtime import (ActorUnavailable, AlreadyExists, FailedPrecondition, LeaseLost, NotFound,
                     PermissionDenied, RateLimiter, ResourceExhausted, SingletonLease,
                     Unavailable)

from . import _store
from ._admit import AdmitMixin
from ._auctioneer import (AuctioneerMixin, CloseAuction, ExclusivityLapsed, OfferRound,
                          RetryAuction)
from ._chain import CONFLICTING_OPEN, ESCROW_MISMATCH, FOREIGN_FILL
from ._config import IntentsConfig
from ._events import EventsMixin
from ._explain import EXPIRED_REASON, expired_note
from ._metrics import BookMetrics, register_counts
from ._messages import (ExplainLive, LiveBid, LiveState, BidRefused, BookMoved,
                        BookStarted, Cancel, Decline, DeclineRefused, EscrowMismatch,
                        ExpireDue, FillReported,
                        IntentChanged, LostWork, PlaceBid, ReadRecord, ReauctionLapsed,
                        SessionJoined, SessionLeft, SolverRecords, Submit, SubmitBatch, Subscribe,
                        Unsubscribe)
from ._models import BookRequest, IntentRow, SolverRecord
from ._open import OpenIntents
from ._records import FlushStats, RecordsMixin
from ._reliability import ReliabilityMixin
from ._state import Session
from ._subs import Subscriptions
from ._views import PERMIT2_SOURCE, Change, IntentUpdateView, IntentView, Status, TransitionView

__all__ = ["Book", "BookSpec", "CloseAuction", "ExclusivityLapsed", "FollowTick",
           "SettlementFailed"]

log = logging.getLogger("orbital.book")

_TAIL_PAGE = 500   # transitions read at a time by a following book

ACTIVE = (Status.PENDING, Status.ASSIGNED, Status.OPENED, Status.FILLED)


@dataclass(frozen=True)
class BookSpec:
    intents: IntentsConfig
    chains: tuple  # ((name, ChainConfig), ...) sorted: hashable, compared on reload
    admission: bool = False  # check on chain before each auction round (actors.admission)
    admission_ttl: float = 0.0  # admission.head_ttl: how long a submission's verdict holds


@dataclass(frozen=True)
class FollowTick:
    """A following book reads the transitions committed since its cursor (its timer; a
    store notification may send it too)."""


@dataclass(frozen=True)
class DrainRequests:
    """The leading book applies the requests following books stored (a notification)."""


@dataclass(frozen=True)
class SettlementFailed:
    """Told by the attester: settlement of ``intent_id`` is given up; the intent FAILS."""

    intent_id: str
    reason: str


class Book(EventsMixin, AdmitMixin, AuctioneerMixin, ReliabilityMixin, RecordsMixin):
    kind = "book"
    batched = frozenset({Submit})

    # ---- lifecycle ------------------------------------------------------------------
    def setup(self) -> None:
        spec: BookSpec = self.config
        self.cfg = spec.intents
        self.directory = Directory(dict(spec.chains))
        self.store = self.ctx.services.store
        self.book_metrics = BookMetrics(self.ctx.services.metrics, self.directory,
                                        self.store)
        register_counts(self.ctx.services.metrics, self.store,
                        [c.name for c in self.directory.chains])
        self.clock = self.ctx.clock
        self.active: OpenIntents = OpenIntents()
        self.auctions: dict[str, Any] = {}       # intent id -> Auction (in progress)
        self.sessions: dict[str, Session] = {}
        self.subs = Subscriptions()
        self.user_limit = RateLimiter(self.cfg.user_rate.rate, self.cfg.user_rate.burst)
        self.timers: dict[str, Any] = {}
        self.retry_timers: dict[str, Any] = {}
        # intent id -> the quoter's pending answer (a pykka future), then (bound, expected),
        # or None (no quote): bids above the bound are refused (AuctioneerMixin).
        self.references: dict[str, Any] = {}
        self.quotes_due: list[tuple[Any, Any]] = []   # asked this message, sent at its end
        self.bid_seq = 0
        self.rounds: dict[str, int] = {}
        self.stats: dict[str, SolverRecord] = {}
        self.dirty: set[str] = set()
        self.flush_timer: Any = None
        self.pending_offers: dict[str, list[Any]] = {}
        self.round_timer: Any = None
        self.round_due = 0.0
        self.last_round = 0.0   # wall time of the last round that sent offers
        self.flush_due = False  # a round is due at the end of the current message
        self.last_prune = 0.0
        self.admission = spec.admission
        self.admission_ttl = spec.admission_ttl
        self.checking: dict[str, float] = {}
        self.admitted: dict[str, int] = {}
        self.not_executable: dict[str, tuple[str, ...]] = {}
        self.offered_to: dict[str, set[str]] = {}
        self.covered_by: dict[str, int] = {}
        self.led_since = float("inf")   # not leading yet: every intent predates it
        # The book works on the store message after message: it keeps its connection
        # (no reconnect, and on SQLite no WAL checkpoint, per batch). Released at the end.
        self.store.hold()
        self.resources.callback(self.store.release)
        # One book per database leads (lease ``book``); the others follow it. Taken before
        # the callbacks below, so it is released after the last flush (resources unwind
        # last-in first-out).
        self.leading = False
        self.follow_timer: Any = None
        self.windows, self.marks_pending, self.barred, self.suspensions = {}, [], {}, {}
        self.event_cursor = 0
        self.solana_cursor = 0
        with self.store.connection():
            self.tail_cursor = _store.last_transition_id()
        if self.store.is_postgres:   # other nodes' books may lead: be woken by their commits
            self.store.listen(TRANSITIONS_CHANNEL, self._woken)
            self.resources.callback(self.store.unlisten, TRANSITIONS_CHANNEL, self._woken)
            self.store.listen(REQUESTS_CHANNEL, self._requested)
            self.resources.callback(self.store.unlisten, REQUESTS_CHANNEL, self._requested)
            # the watchers of every node: the chain events the leader applies
            self.store.listen(CHAIN_EVENTS_CHANNEL, self._chain_woken)
            self.resources.callback(self.store.unlisten, CHAIN_EVENTS_CHANNEL, self._chain_woken)
        self.singleton = self.hold_lease("book")
        self.resources.callback(self._cancel_timers)
        self.resources.callback(self._last_flush)
        self.resources.callback(self.subs.close_all)
        # Sessions outlive a book restarted on its own (operator, reload): they join again.
        for path in self.ctx.registry.paths(SOLVERS_PATH + "/session/"):
            self._tell(path, BookStarted(self.actor_ref))
        if self.singleton.held:
            try:
                self._lead()
            except LeaseLost:
                pass   # lost as soon as taken: following (the lease is retried)
        else:
            self._follow()

    # ---- leading and following (lease ``book``) --------------------------------------
    def lease_changed(self, lease: SingletonLease) -> None:
        if lease.held:
            self._lead()
        else:
            self._follow()

    def _lead(self) -> None:
        """Become the book: announce what the previous holder committed (the take-over
        came after its last commit), then rebuild from the store what a start rebuilds
        (active intents, solver reliability, chain events since the cursor, exclusivity
        timers) and auction the PENDING intents for the sessions here."""
        self._stop_following()
        if self.leading:   # a new epoch without a gap seen: another node may have led between
            self._drop_work()
        try:
            self._rebuild()
        except Exception:
            # Half rebuilt: give the lease back (taken again at the next try, by this node
            # or another) and follow meanwhile, rather than lead on a partial state.
            self.singleton.release()
            self._follow()
            raise

    def _rebuild(self) -> None:
        self._tail()
        self.leading = True
        self.led_since = self.clock.wall()   # offers are counted from here (offered_to)
        self.stats.clear()
        self.dirty.clear()
        with self.store.connection():
            rows = list(IntentRow.select().where(IntentRow.status.in_([s.value for s in ACTIVE])))
        self.active = OpenIntents((r.id, _store.row_view(r)) for r in rows)
        self.rounds = {r.id: r.auctions for r in rows}
        self.setup_reliability()
        self.setup_events()
        for view in list(self.active.values()):
            if view.status is Status.ASSIGNED:
                self._arm_exclusivity(view)
            elif view.status is Status.PENDING and self.sessions:
                self._start_auction(view, self._excluded(view.id))
        self.ask_references()   # for auctions a catch-up above may have started
        self._drain_requests()  # stored by following books while no book led
        log.info("leading the book", extra={"epoch": self.singleton.epoch,
                                             "active": len(self.active)})

    def _follow(self) -> None:
        """Stand by: another node's book leads. Drop the work in progress (auctions,
        timers, counters not written: the holder rebuilds them from the store) and tail
        the committed transitions for this node's watch streams and sessions."""
        was = self.leading
        self._drop_work()
        if was:
            log.warning("following the book: another node leads it")
        for path in list(self.sessions):   # their bids must reach the leader's auctions
            self._tell(path, BookMoved(_MOVED))
        self.sessions.clear()
        self._arm_follow()

    def _drop_work(self) -> None:
        self.leading = False
        self._cancel_timers()
        self.flush_timer = self.round_timer = self.follow_timer = None
        self.auctions.clear()
        self.timers.clear()
        self.retry_timers.clear()
        self.references.clear()
        self.pending_offers.clear()
        self.flush_due = False
        self.checking.clear()
        self.admitted.clear()
        self.not_executable.clear()
        self.offered_to.clear()
        self.covered_by.clear()
        self.active = OpenIntents()
        self.stats.clear()
        self.dirty.clear()
        self.marks_pending = []

    def _require_lead(self) -> None:
        if not self.leading:
            raise LeaseLost("this node does not hold the book; the node that does takes "
                            "submissions and cancellations")

    def _arm_follow(self) -> None:
        if self.follow_timer is None:
            self.follow_timer = self.tell_later(self.cfg.follow_interval, FollowTick())

    def _stop_following(self) -> None:
        if self.follow_timer is not None:
            self.follow_timer.cancel()
            self.follow_timer = None

    # ---- requests for the leader, from nodes whose book follows -------------------------
    def _request_leader(self, kind: str, intent_id: str, reason: str) -> None:
        """Persist a request the leading book (another node's) applies: this node's
        attester told its book, which follows. Written, then a notification wakes the
        leader; a leader that misses it applies the request at its next take-over or
        wake-up (the row stays until applied)."""
        with self.store.atomic():
            BookRequest.insert(kind=kind, intent=intent_id, reason=reason,
                               at=self.clock.wall()).execute()
            self.store.notify(REQUESTS_CHANNEL)
        log.info("request stored for the leading book", extra={"kind": kind, "intent": intent_id})

    def _chain_woken(self, payload: str) -> None:
        """The listener thread: a watcher (on any node) committed chain events, or rolled a
        reorg back; after a reconnect (payload "") a reorg may have been missed: check."""
        try:
            if payload == "events":
                self.actor_ref.tell(ChainEventsCommitted("", 0, 0, 0))
            else:
                self.actor_ref.tell(ChainReorged("", 0, 0))
        except pykka.ActorDeadError:
            pass

    def _requested(self, payload: str) -> None:
        """The listener thread: a following node stored a request (or the listener
        reconnected)."""
        try:
            self.actor_ref.tell(DrainRequests())
        except pykka.ActorDeadError:
            pass

    def _drain_requests(self) -> int:
        """Apply the requests stored by following books, and delete them, in one fenced
        transaction (a request whose intent moved on is dropped: a FAILED report for an
        intent no longer FILLED changes nothing, as when told directly)."""
        with self.store.connection():
            rows = list(BookRequest.select().order_by(BookRequest.id).limit(_REQUESTS_PAGE))
        if not rows:
            return 0
        changes: list[Change] = []
        for r in rows:
            view = self._view(r.intent)
            if r.kind == "settlement_failed" and view is not None \
                    and view.status is Status.FILLED and all(c.view.id != view.id for c in changes):
                changes.append(Change(view, Status.FAILED, f"settlement failed: {r.reason}"))
        ids = [r.id for r in rows]
        self._commit(changes, also=lambda: BookRequest.delete().where(
            BookRequest.id.in_(ids)).execute())
        return len(rows)

    def _wake_followers(self) -> None:
        """In the leader's commit: the books of the other nodes read now, not at their next
        timer (a wake-up only: delivered at commit, lost if the database drops it, and
        the followers' timers read what a lost one would have). On SQLite there are no
        other nodes."""
        if self.store.is_postgres:
            self.store.notify(TRANSITIONS_CHANNEL)

    def _woken(self, payload: str) -> None:
        """The listener thread: a leader committed transitions (or the listener reconnected)."""
        try:
            self.actor_ref.tell(FollowTick())
        except pykka.ActorDeadError:
            pass

    def _on_follow_tick(self) -> None:
        if self.follow_timer is not None:   # woken before the timer: one timer at a time
            self.follow_timer.cancel()
        self.follow_timer = None
        if self.leading:
            return
        try:
            self._tail()
        finally:
            self._arm_follow()

    def _tail(self) -> int:
        """Announce the transitions committed after :attr:`tail_cursor` (by the book that
        leads, on another node) to this node's watch streams and sessions, in commit
        order; the one read a wake-up (a timer, a notification) triggers. The count."""
        n = 0
        while True:
            with self.store.connection():
                page = _store.transitions_after(self.tail_cursor, _TAIL_PAGE)
            for tid, update in page:
                self.tail_cursor = tid
                assert update.transition is not None, "a tailed update is a transition"
                self._announce(update.intent, update.transition)
            n += len(page)
            if len(page) < _TAIL_PAGE:
                return n

    def _last_flush(self) -> None:
        if self.dirty and self.singleton.held:
            try:
                self._flush_stats()
            except Exception:  # noqa: BLE001 - counters only; never block a stop
                log.exception("could not write solver records")

    def _cancel_timers(self) -> None:
        for t in [self.flush_timer, self.round_timer, self.follow_timer, *self.timers.values(),
                  *self.retry_timers.values(),
                  *(a.timer for a in self.auctions.values())]:
            if t is not None:
                t.cancel()

    def _reload_active(self) -> None:
        """Another writer (a second node on the database) moved intents: re-read them."""
        with self.store.connection():
            rows = list(IntentRow.select().where(IntentRow.status.in_([s.value for s in ACTIVE])))
        self.active = OpenIntents((r.id, _store.row_view(r)) for r in rows)
        self.rounds = {r.id: r.auctions for r in rows}

    # ---- dispatch -------------------------------------------------------------------
    def handle(self, message: Any) -> Any:
        if type(message) is FollowTick:
            return self._on_follow_tick()
        if not self.leading:
            return self._standby(message)
        try:
            return self._dispatch(message)
        except LeaseLost:
            self._follow()   # a fenced write found the lease gone: nothing was written
            raise
        except _store.Conflict as exc:
            self._reload_active()
            raise Unavailable(f"intent {exc} was changed by another node; retry") from None
        finally:
            if self.quotes_due:   # before the offers: the quote is on its way when they bid
                self.ask_references()
            if self.flush_due:
                self.flush_offers()   # the round is due now (see AuctioneerMixin._offer)

    def _explain_live(self, intent_id: str) -> LiveState:
        """What ExplainIntent cannot read from the store: a snapshot, nothing changed."""
        now = self.clock.wall()
        auction = self.auctions.get(intent_id)
        view = self.active.get(intent_id)
        bids: tuple[LiveBid, ...] = ()
        if auction is not None:
            bids = tuple(LiveBid(b.solver, b.amount, b.at, self._is_suspended(b.solver))
                         for b in sorted(auction.bids.values(), key=lambda b: (-b.amount, b.seq)))
        covering = sum(1 for s in self.sessions.values()
                       if view is not None and s.capabilities.covers(view))
        return LiveState(auction.round if auction else 0, auction.closes_at if auction else 0.0,
                         len(auction.offered) if auction else 0, bids,
                         tuple(sorted(auction.excluded)) if auction else (),
                         len(self.sessions), covering,
                         tuple(self.not_executable.get(intent_id, ())), now)

    def _standby(self, message: Any) -> Any:
        """A message to a following book: what needs the lead (submissions, cancellations,
        the keeper's sweeps) is refused with :class:`LeaseLost`; watch streams and sessions
        are served here (they hear of transitions from :meth:`_tail`); auction and timer
        messages left from the lead are dropped."""
        kind = type(message)
        if kind is SettlementFailed:   # from this node's attester: for the leader to apply
            return self._request_leader("settlement_failed", message.intent_id, message.reason)
        if kind is DrainRequests:
            return None
        if kind in (Submit, SubmitBatch, Cancel, ExpireDue, ReauctionLapsed, EscrowMismatch):
            self._require_lead()
        if kind is SessionJoined:   # it must reach the leader's auctions: relayed there
            self._tell(message.path, BookMoved(_MOVED))
            return None
        if kind is PlaceBid:
            self._tell(message.path, BidRefused(message.intent_id,
                                                "no auction is open for this intent on this "
                                                "node: another node holds the book"))
            return None
        if kind is Decline:
            self._tell(message.path, DeclineRefused(message.intent_id,
                                                    "another node holds the book"))
            return None
        if kind in (SessionLeft, Subscribe, Unsubscribe, ReadRecord, SolverRecords, FillReported):
            return self._dispatch(message)
        if kind is ExplainLive:   # no auctions here: the leader's book holds them
            self._require_lead()
        if kind in (OfferRound, CloseAuction, ExclusivityLapsed, RetryAuction, FlushStats,
                    ChainEventsCommitted, ChainReorged, OrderChecked):
            return None
        return super().handle(message)

    def _dispatch(self, message: Any) -> Any:
        kind = type(message)
        if kind is PlaceBid:
            return self._bid(message)
        if kind is OfferRound:
            return self.run_round()
        if kind is SubmitBatch:   # one group commit, as consecutive Submits get
            return self._submit_all(list(message.submits))
        if kind is CloseAuction:
            return self._close_auction(message)
        if kind is SessionJoined:
            return self._join(message)
        if kind is SessionLeft:
            self.sessions.pop(message.path, None)
            return None
        if kind is Subscribe:
            self.subs.add(message.key, message.ids, message.user, message.sink)
            return None
        if kind is Unsubscribe:
            self.subs.remove(message.key)
            return None
        if kind is Cancel:
            return self._cancel(message)
        if kind is ExclusivityLapsed:
            return self._lapse(message)
        if kind in (ChainEventsCommitted, ChainReorged):
            return self.catch_up(reorg=kind is ChainReorged)
        if kind is FillReported:
            log.info("fill reported", extra={"solver": message.solver, "intent": message.intent_id,
                                             "chain": message.chain, "tx": message.tx_hash,
                                             "kind": message.kind})
            return None
        if kind is EscrowMismatch:
            return self._escrow_mismatch(message)
        if kind is Decline:
            return self._decline(message)
        if kind is ReadRecord:
            return self._read_record(message.path, message.solver)
        if kind is SolverRecords:
            return self._records(message.solver, message.suspended_only)
        if kind is ExpireDue:
            return self._expire_due()
        if kind is DrainRequests:
            return self._drain_requests()
        if kind is ReauctionLapsed:
            return self._reauction_lapsed()
        if kind is SettlementFailed:
            view = self._view(message.intent_id)
            if view is not None and view.status is Status.FILLED:
                self._commit([Change(view, Status.FAILED, f"settlement failed: {message.reason}")])
            return None
        if kind is ExplainLive:
            return self._explain_live(message.intent_id)
        if kind is OrderChecked:
            return self._checked(message)
        if kind is FlushStats:
            return self._flush_stats()
        if kind is RetryAuction:
            self.retry_timers.pop(message.intent_id, None)
            view = self.active.get(message.intent_id)
            if view is not None and view.status is Status.PENDING:
                self._start_auction(view, self._excluded(view.id))
            return None
        return super().handle(message)

    # ---- submissions (batched) ------------------------------------------------------
    def handle_batch(self, messages: list[Submit]) -> list[Any]:
        self._require_lead()
        try:
            return self._submit_all(messages)
        except LeaseLost:
            self._follow()
            raise
        finally:
            if self.quotes_due:
                self.ask_references()
            if self.flush_due:
                self.flush_offers()

    def _submit_all(self, messages: list[Submit]) -> list[Any]:
        """Commit the new intents among ``messages`` in one transaction; one result each."""
        now = self.clock.wall()
        results: list[Any] = [None] * len(messages)
        fresh: dict[str, int] = {}
        opening: dict[str, int] = {}     # user -> intents of this batch accepted so far
        cap = self.cfg.max_open_per_user
        for i, m in enumerate(messages):
            oid = m.intent_id or "0x" + m.order.order_id.hex()
            user = m.order.user
            if oid in fresh or oid in self.active:
                results[i] = AlreadyExists(f"intent {oid} was already submitted (same user and nonce)",
                                           field="typed_data.message.nonce")
            elif self.active.open_of(user) + opening.get(user, 0) >= cap:
                results[i] = ResourceExhausted(
                    f"{user} has {cap} open intents, the limit (intents.max_open_per_user); "
                    "submit again when one is settled, cancelled or expired")
            elif not self.user_limit.allow(m.order.user, self.clock.now()):
                wait = self.user_limit.retry_after(m.order.user, self.clock.now())
                results[i] = ResourceExhausted(
                    f"too many submissions from {m.order.user}; retry in {wait:.1f}s")
            else:
                fresh[oid] = i
                opening[user] = opening.get(user, 0) + 1
        items = [self._new_intent(oid, messages[i], now) for oid, i in fresh.items()]
        if items:
            # One INSERT per table, no read first: an id or nonce already in the store (a
            # replay of a finished intent, another node) is rare, so it costs the rollback
            # and the careful path below instead of a SELECT on every batch.
            try:
                self._insert([(f, t, None) for f, t, _ in items])
            except peewee.IntegrityError:
                return self._insert_one_by_one(messages, results, fresh, items)
        for (_, first, view), i in zip(items, fresh.values()):
            results[i] = view
            self._accepted(view, first, messages[i])
        return results

    def _insert_one_by_one(self, messages, results, fresh, items) -> list[Any]:
        with self.store.connection():
            taken = {r.id for r in IntentRow.select(IntentRow.id).where(IntentRow.id.in_(list(fresh)))}
        for (fields, first, view), (oid, i) in zip(items, fresh.items()):
            if oid not in taken:
                try:
                    self._insert([(fields, first, None)])
                except peewee.IntegrityError:
                    taken.add(oid)   # the same user and nonce under another id? (never) or a race
            if oid in taken:
                results[i] = AlreadyExists(f"intent {oid} was already submitted (same user and nonce)",
                                           field="typed_data.message.nonce")
                continue
            results[i] = view
            self._accepted(view, first, messages[i])
        return results

    def _insert(self, items: list[tuple[dict[str, Any], TransitionView, int | None]]) -> None:
        """New intents in one fenced transaction (a LeaseLost inserts nothing)."""
        with self.singleton.fenced():
            _store.insert_intents(items)
            self.tail_cursor = _store.last_transition_id()
            self._wake_followers()

    def _new_intent(self, oid: str, m: Submit, now: float
                    ) -> tuple[dict[str, Any], TransitionView, IntentView]:
        o = m.order
        origin = self.directory.chain_by_id(o.origin_chain_id)
        dest = self.directory.chain_by_id(o.order.destination_chain_id)
        fields: dict[str, Any] = {"id": oid, "status": Status.PENDING.value, "version": 1, "user": o.user,
                  "nonce": o.nonce, "origin_chain": origin.name, "origin_chain_id": o.origin_chain_id,
                  "destination_chain": dest.name, "destination_chain_id": dest.chain_id,
                  "origin_settler": o.origin_settler, "input_token": o.order.input_token,
                  "input_amount": o.order.input_amount, "output_token": o.order.output_token,
                  "min_output": o.order.output_amount, "recipient": o.order.recipient,
                  "open_deadline": o.open_deadline, "fill_deadline": o.fill_deadline,
                  "source": PERMIT2_SOURCE if o.permit2 else "gasless", "typed_data": m.typed_data, "signature": m.signature,
                  "wallet_digest": m.wallet_digest or None, "created_at": now, "updated_at": now}
        first = TransitionView(1, None, Status.PENDING, now, "accepted")
        view = IntentView(**{k: v for k, v in fields.items()
                             if k not in ("typed_data", "signature", "wallet_digest")}
                          | {"status": Status.PENDING}, history=(first,),
                          wallet_digest=m.wallet_digest,
                          wallet_signature=m.signature if m.wallet_digest else "")
        return fields, first, view

    def _accepted(self, view: IntentView, first: TransitionView, m: Submit) -> None:
        self.active[view.id] = replace(view, history=())
        self.book_metrics.accepted(view)
        self.subs.publish(IntentUpdateView(view, first))
        self._start_auction(self.active[view.id], self._excluded(view.id),
                            self._fresh(m.verdict, m.checked_at))

    # ---- transitions ----------------------------------------------------------------
    def _view(self, intent_id: str) -> IntentView | None:
        view = self.active.get(intent_id)
        if view is None:
            with self.store.connection():
                view = _store.load_view(intent_id, history=False)
        return view

    def _commit(self, changes: list[Change], cursor: dict[str, Any] | None = None,
                also: Callable[[], None] | None = None,
                created: Sequence[tuple[IntentView, TransitionView]] = ()) -> list[IntentView]:
        """Persist transitions in one transaction, then announce them (in order).

        ``also`` runs first in the same transaction (e.g. inserting ``created`` intents,
        which are announced first).
        """
        now = self.clock.wall()
        done: list[tuple[IntentView, TransitionView]] = []
        with self.singleton.fenced():
            self._wake_followers()
            if also is not None:
                also()
            for c in changes:
                view, ev = c.view, c.event
                t = TransitionView(view.version + 1, view.status, c.status, now, c.reason,
                                   c.solver,
                                   *((ev.chain, ev.block_number, ev.block_hash, ev.tx_hash,
                                      ev.log_index) if ev is not None else ("", 0, "", "", 0)),
                                   finding=c.finding)
                _store.write_transition(view.id, view.version, t, c.fields,
                                        ev.id if ev is not None else None)
                new = replace(view, status=c.status, version=t.version, updated_at=now,
                              **{k: v for k, v in c.fields.items() if k in _VIEW_FIELDS})
                done.append((new, t))
                self._count_evidence(new, t, c.fields)
            if cursor:
                self.save_cursor(**cursor)
            self.tail_cursor = _store.last_transition_id()   # announced below, not tailed
        for view, first in created:
            self.active[view.id] = view
            self.book_metrics.accepted(view)
            self._announce(view, first)
        for new, t in done:
            self.book_metrics.committed(new, t)
            if new.status not in (Status.PENDING, Status.ASSIGNED):
                self.references.pop(new.id, None)
                self.not_executable.pop(new.id, None)
            if new.status in ACTIVE:
                self.active[new.id] = new
            else:
                self.active.pop(new.id, None)
                self._forget(new.id)
                self.offered_to.pop(new.id, None)
                self.covered_by.pop(new.id, None)
                self._end_auction(new.id, "intent is " + new.status.value.lower())
            self._announce(new, t)
        return [n for n, _ in done]

    def _count_evidence(self, new: IntentView, t: TransitionView, fields: dict) -> None:
        """Per-solver records of what the evidence showed (written with the counters)."""
        if t.status is Status.OPENED and t.from_status is Status.ASSIGNED and not t.finding:
            self._mark(new.solver, "open", new.id)    # opened while its award stood: on time
        if t.status is Status.FILLED and t.from_status is not Status.FILLED:
            self._stat(fields.get("filler") or new.solver, fills=1)
            if fields.get("shortfall"):
                self._stat(fields["filler"], shortfalls=1)
                self._mark(fields["filler"], "shortfall", new.id)
        elif t.finding == FOREIGN_FILL:
            self._stat(t.solver, foreign_fills=1)
            self._mark(t.solver, "foreign_fill", new.id)
        elif t.finding == CONFLICTING_OPEN and t.solver:
            self._stat(t.solver, voided=1)
            self._mark(t.solver, "voided", new.id)

    def _announce(self, view: IntentView, t: TransitionView) -> None:
        update = IntentUpdateView(view, t)
        self.subs.publish(update)
        # The intent's solver, and the solver a transition is about (one whose exclusivity
        # just lapsed is no longer the intent's solver, yet it must hear of it).
        if view.solver or t.solver:
            for s in self.sessions.values():
                if s.solver == view.solver or s.solver == t.solver:
                    self._tell(s.path, IntentChanged(update))

    def _tell(self, path: str, message: Any) -> None:
        try:
            self.ctx.registry.tell(path, message)
        except ActorUnavailable:
            self.sessions.pop(path, None)

    def _escrow_mismatch(self, m: EscrowMismatch) -> None:
        """A history entry (status unchanged) from a solver that was awarded the intent and
        found the escrow on chain not matching its award; once per solver and intent."""
        view = self._view(m.intent_id)
        if view is None or view.terminal:
            return
        with self.store.connection():
            history = _store.history_of([view.id]).get(view.id, [])
        if not any(t.status is Status.ASSIGNED and t.solver == m.solver for t in history) or \
                any(t.finding == ESCROW_MISMATCH and t.solver == m.solver for t in history):
            log.info("escrow mismatch report ignored", extra={"intent": view.id, "solver": m.solver})
            return
        self._commit([Change(view, view.status, f"solver {m.solver} did not fill: the escrow on "
                             f"{m.chain} does not match its award ({m.reason})",
                             solver=m.solver, finding=ESCROW_MISMATCH)])

    # ---- cancel / expiry ------------------------------------------------------------
    def _cancel(self, m: Cancel) -> IntentView:
        view = self._view(m.intent_id)
        if view is None:
            raise NotFound(f"no intent {m.intent_id}", field="id")
        if m.signer != view.user:
            raise PermissionDenied(f"only the intent's user {view.user} may cancel it")
        if view.status not in (Status.PENDING, Status.ASSIGNED):
            raise FailedPrecondition(f"intent {view.id} is {view.status.value}; only PENDING or "
                                     "ASSIGNED intents can be cancelled")
        was = view.solver if view.status is Status.ASSIGNED else ""
        new = self._commit([Change(view, Status.CANCELLED, "cancelled by the user")])[0]
        if was:
            for s in self.sessions.values():
                if s.solver == was:
                    self._tell(s.path, LostWork(view.id, 0, "cancelled by the user"))
        return new

    def _expire_due(self) -> int:
        now = self.clock.wall()
        due = [v for v in self.active.values()
               if v.status in (Status.PENDING, Status.ASSIGNED) and v.open_deadline < now]
        if due:
            self._commit([self._expiry(v) for v in due])
        return len(due)

    def _expiry(self, view: IntentView) -> Change:
        """The EXPIRED entry of ``view``: for an intent no solver was ever awarded (none
        barred from it, no round held), why: offered and no bids, or no session covered its
        route (docs/intents.md, "Why hasn't my order filled?")."""
        if view.status is not Status.PENDING or self._round(view) or self.barred.get(view.id):
            return Change(view, Status.EXPIRED, EXPIRED_REASON)
        note, finding = expired_note(f"{view.origin_chain} -> {view.destination_chain}",
                                     len(self.offered_to.get(view.id, ())),
                                     self.covered_by.get(view.id, 0),
                                     view.created_at >= self.led_since)
        return Change(view, Status.EXPIRED, EXPIRED_REASON + note, finding=finding)


TRANSITIONS_CHANNEL = "orbital_transitions"   # Store.notify: the leader committed transitions
REQUESTS_CHANNEL = "orbital_book_requests"    # Store.notify: a follower stored a BookRequest
_REQUESTS_PAGE = 500
_MOVED = ("another node leads the intent book now; reconnect (this node relays the session "
          "to it)")

_VIEW_FIELDS = frozenset(IntentView.__dataclass_fields__) - {"id", "status", "version",
                                                               "updated_at", "history"}
