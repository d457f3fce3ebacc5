"""The auction side of the book: offers, bids, awards, exclusivity and re-auctions.

A mixin of :class:`actors.book._actor.Book` (same actor, same thread): the rules of one
auction are :class:`._auction.Auction`; this module wires them to sessions and timers.
Auctions run in rounds (:meth:`AuctioneerMixin.run_round`, one timer for the book): a round
sends each session the offers queued for it as one message and closes the auctions whose
window has ended. Timers never touch state: they tell the actor a message (OfferRound,
ExclusivityLapsed, RetryAuction) and the actor checks the intent is still in the state the
timer was for.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import pykka
from google.protobuf.timestamp_pb2 import Timestamp

from actors import QUOTER_PATH
from orbital.v1 import solver_pb2
from runtime import ActorUnavailable
from runtime.grpc import push_all

from actors.admission import Verdict
from actors.quoter import GetQuote, ReferenceOutputs

from ._auction import Auction, AuctionBid
from ._messages import (AwardWork, BidRefused, Decline, DeclineRefused, LostWork, OfferWork,
                        PlaceBid, SessionJoined, Suspended)
from ._models import AuctionRoundRow, IntentRow
from ._rounds import KeptBid, encode_bids, kept_bids, lost_because
from ._proto import intent_pb
from ._score import rank
from ._state import BookState, Session
from ._views import Change, IntentView, Status

__all__ = ["AuctioneerMixin", "CloseAuction", "ExclusivityLapsed", "OfferRound", "RetryAuction"]

log = logging.getLogger("orbital.book")


@dataclass(frozen=True)
class CloseAuction:
    intent_id: str
    round: int


@dataclass(frozen=True)
class ExclusivityLapsed:
    intent_id: str
    version: int


@dataclass(frozen=True)
class RetryAuction:
    intent_id: str


@dataclass(frozen=True)
class OfferRound:
    """The book's one round timer: offer what auctions opened since the last round, and
    close the auctions whose window has ended."""


_EPS = 1e-6   # float slack when comparing a window's end with the clock


class AuctioneerMixin(BookState):
    # ---- auction --------------------------------------------------------------------
    def _start_auction(self, view: IntentView, excluded: frozenset[str] = frozenset(),
                       verdict: Verdict | None = None) -> None:
        """``verdict``: the origin chain's, fresh (the submission's), used instead of
        asking admission again (._admit)."""
        if view.id in self.auctions or view.open_deadline <= self.clock.wall():
            return
        covering = [s for s in self.sessions.values() if s.capabilities.covers(view)]
        self.covered_by[view.id] = max(self.covered_by.get(view.id, 0), len(covering))
        eligible = [s for s in covering if s.solver not in excluded]
        if not eligible:
            return  # offered when a covering solver joins
        if not self._admitted(view, excluded, verdict):
            return  # started when intents/admission answers that it can be opened (._admit)
        now = self.clock.wall()
        self._ask_reference(view)
        auction = Auction(view.id, view.min_output, now, now + self.cfg.auction_window,
                          round=self._round(view) + 1, excluded=excluded)
        self.auctions[view.id] = auction
        self._arm_round(auction.closes_at)   # the round at or after the window's end closes it
        self._offer(auction, _offer_pb(view, auction.closes_at), eligible)

    def _round(self, view: IntentView) -> int:
        return self.rounds.get(view.id, 0)

    # ---- offer rounds -------------------------------------------------------------------
    def _offer(self, auction: Auction, offer: solver_pb2.Offer, sessions: list[Session]) -> None:
        """Queue ``offer`` for the next round of each of ``sessions`` (:meth:`flush_offers`,
        which counts them in the solvers' records: once per solver and round, not per
        offer)."""
        pending = self.pending_offers
        offered_to = self.offered_to.get(auction.intent_id)
        if offered_to is None:
            offered_to = self.offered_to[auction.intent_id] = set()
        for s in sessions:
            auction.offered.add(s.path)
            offered_to.add(s.path)
            queued = pending.get(s.path)
            if queued is None:
                pending[s.path] = [offer]
            else:
                queued.append(offer)
        due = self.last_round + self.cfg.round_interval
        if due <= self.clock.wall():
            self.flush_due = True          # quiet: this message's end is the round
        else:
            self._arm_round(due)           # busy: the next round, one cadence after the last

    def _arm_round(self, due: float) -> None:
        """Hold a round at wall time ``due`` at the latest: ONE timer for the whole book
        (not one per auction), moved earlier when something is due sooner."""
        if self.round_timer is not None:
            if self.round_due <= due:
                return
            self.round_timer.cancel()
        self.round_due = due
        self.round_timer = self.tell_later(max(0.0, due - self.clock.wall()), OfferRound())

    def run_round(self) -> None:
        """A round: the offers queued since the last one go out, the auctions whose window
        has ended close (highest output wins), and the next round is armed while any
        auction is open (at its window's end, not sooner than one cadence away)."""
        self.round_timer = None
        self.flush_offers()
        now = self.clock.wall()
        for a in [a for a in self.auctions.values() if a.closes_at <= now + _EPS]:
            self._close_auction(CloseAuction(a.intent_id, a.round))
        if self.auctions:
            due = min(a.closes_at for a in self.auctions.values())
            self._arm_round(max(due, now + self.cfg.round_interval))

    def flush_offers(self) -> None:
        """The round: every session gets what was queued for it as ONE stream message.

        A stream message costs grpc.aio about as much to write as a unary call, so N offers
        to a solver in one message instead of N is what keeps a busy book off the ceiling.
        Sessions queued the same offers share one built message (the common case: solvers
        that cover every route); all pushes go out with one loop wake-up."""
        self.flush_due = False
        if not self.pending_offers:
            return
        self.last_round = self.clock.wall()
        built: dict[tuple[int, ...], Any] = {}
        direct: list[tuple[Any, Any]] = []
        for path, offers in self.pending_offers.items():
            s = self.sessions.get(path)
            if s is None:
                continue   # it left before the round: the auctions go on without it
            self._stat(s.solver, offers=len(offers))
            key = tuple(id(o) for o in offers)
            message = built.get(key)
            if message is None:
                message = built[key] = solver_pb2.ServerMessage(
                    offers=solver_pb2.Offers(offers=offers))
            if s.outbox is not None:
                direct.append((s.outbox, message))
            else:
                self._tell(path, OfferWork(message))
        self.pending_offers.clear()
        if direct:
            push_all(direct)

    def _join(self, m: SessionJoined) -> None:
        s = Session(m.path, m.solver, m.capabilities, m.outbox)
        self.sessions[m.path] = s
        if self._is_suspended(m.solver):   # told again on each (re)connect; no offers
            until, why = self.suspensions[m.solver]
            self._tell(m.path, Suspended(until, why, self._reliability(m.solver)))
            return
        for intent_id, auction in self.auctions.items():
            view = self.active.get(intent_id)
            if view is not None and m.capabilities.covers(view) and m.solver not in auction.excluded:
                self._offer(auction, _offer_pb(view, auction.closes_at), [s])
        for view in list(self.active.values()):
            if view.status is Status.PENDING and view.id not in self.auctions:
                self._start_auction(view, self._excluded(view.id))

    def _bid(self, m: PlaceBid) -> None:
        auction = self.auctions.get(m.intent_id)
        if auction is None:
            self._tell(m.path, BidRefused(m.intent_id, "no auction is open for this intent"))
            return
        if self._is_suspended(m.solver):
            until, why = self.suspensions[m.solver]
            self._tell(m.path, BidRefused(m.intent_id, f"this solver is suspended until "
                                          f"{_utc(until)}: {why}"))
            return
        self.bid_seq += 1
        now = self.clock.wall()
        bound = self._bid_bound(m.intent_id)
        reason = (_over(m.amount, bound, self.cfg.max_bid_over_quote_bps) if bound else None) \
            or auction.bid(AuctionBid(m.solver, m.path, m.amount, self.bid_seq, now))
        if reason:
            self._tell(m.path, BidRefused(m.intent_id, reason))
            return
        self._stat(m.solver, bids=1, response_ms=(now - auction.opened_at) * 1000)

    def _close_auction(self, m: CloseAuction) -> None:
        auction = self.auctions.get(m.intent_id)
        if auction is None or auction.round != m.round:
            return
        del self.auctions[m.intent_id]
        view = self.active.get(m.intent_id)
        bound = self._bid_bound(m.intent_id)
        if bound:   # the quote arrived after some bids: those over the bound do not count
            for solver, b in list(auction.bids.items()):
                why = _over(b.amount, bound, self.cfg.max_bid_over_quote_bps)
                if why:
                    del auction.bids[solver]
                    self._tell(b.path, BidRefused(m.intent_id, why))
        # Bids rank by output x the bidder's reliability (_score); a solver suspended since
        # it bid is left out (its bid is refused below).
        suspended = frozenset(b.solver for b in auction.bids.values() if self._is_suspended(b.solver))
        ranked = rank(auction.bids.values(), {s: self._reliability(s) for s in auction.bids},
                      barred=suspended)
        winner = next((r.bid for r in ranked if r.bid.path in self.sessions), None)
        if view is None or view.status is not Status.PENDING:
            return
        self.book_metrics.auction_closed(len(auction.bids))
        for solver in suspended:
            self._tell(auction.bids[solver].path,
                       BidRefused(view.id, "this solver was suspended before the auction closed"))
        if winner is None:
            self.retry_timers[view.id] = self.tell_later(self.cfg.retry_interval, RetryAuction(view.id))
            return
        now = self.clock.wall()
        deadline = min(now + self._exclusivity(winner.solver), float(view.open_deadline))
        # The round as Explain shows it once closed (auction_round, in the award's commit):
        # the best bids and the winner, and why each other one lost.
        kept = [KeptBid(b.solver, b.amount, b.at,
                        lost_because(b, winner, suspended=b.solver in suspended,
                                     gone=b.path not in self.sessions))
                for b in kept_bids(auction.bids.values(), winner)]
        closed = {"intent": view.id, "version": view.version + 1, "round": auction.round,
                  "bids_received": len(auction.bids), "bids": encode_bids(kept),
                  "closed_at": now}
        new = self._commit([Change(view, Status.ASSIGNED,
                                   f"won the auction with output {winner.amount} "
                                   f"({len(auction.bids)} bid(s))",
                                   {"solver": winner.solver, "awarded_amount": winner.amount,
                                    "exclusivity_deadline": deadline, "auctions": auction.round},
                                   winner.solver)],
                           also=lambda: AuctionRoundRow.insert(**closed).execute())[0]
        self.rounds[view.id] = auction.round
        self._stat(winner.solver, wins=1)
        self._mark(winner.solver, "win", view.id)
        # Armed before anyone hears of the award: the clock (a FakeClock in tests) may move
        # as soon as the winner has its award.
        self._arm_exclusivity(new)
        with self.store.connection():
            row = IntentRow.get_by_id(view.id)
        self._tell(winner.path, AwardWork(new, winner.amount, deadline, row.typed_data, row.signature))
        for loser in auction.losers(winner):
            if loser.solver not in suspended:
                self._tell(loser.path, LostWork(view.id, winner.amount, "outbid"))

    # ---- bids bind: the bound over the quote --------------------------------------------
    def _ask_reference(self, view: IntentView) -> None:
        """Ask the quoter, without waiting, for the output it expects for ``view`` (once per
        intent): bids more than ``max_bid_over_quote_bps`` above it are refused. No quoter,
        or one that cannot price the swap: no bound (logged). Queued here; the asks of one
        message go as one :class:`ReferenceOutputs` at its end (:meth:`ask_references`)."""
        if self.cfg.max_bid_over_quote_bps is None or view.id in self.references:
            return
        q = GetQuote(view.origin_chain, view.destination_chain, view.input_token,
                     view.output_token, str(view.input_amount), view.user, view.recipient)
        asked = self.references[view.id] = _Asked()
        self.quotes_due.append((asked, q))

    def ask_references(self) -> None:
        """Send the reference asks queued by this message, as one ask."""
        due, self.quotes_due = self.quotes_due, []
        if not due:
            return
        try:
            future = self.ctx.registry.future(QUOTER_PATH,
                                              ReferenceOutputs(tuple(q for _, q in due)))
        except ActorUnavailable:
            return   # no quoter: the asked stay unanswered, so no bound
        for index, (asked, _) in enumerate(due):
            asked.future, asked.index = future, index

    def _bid_bound(self, intent_id: str) -> tuple[int, int] | None:
        """(highest bid admitted, the reference it is computed from), once the quoter
        answered. The reference is the quoter's expected output, or the signed minimum when
        that is higher (a user may ask for more than the quote: a bid at the minimum is then
        no overbid)."""
        ref = self.references.get(intent_id)
        if ref is None or isinstance(ref, tuple):
            return ref
        if ref.future is None:
            self.references[intent_id] = None   # never sent (no quoter): no bound
            return None
        try:
            answer = ref.future.get(timeout=0)[ref.index]
        except pykka.Timeout:
            return None
        except Exception as exc:  # noqa: BLE001 - the quoter failed the whole ask: no bound
            answer = exc
        if isinstance(answer, Exception):   # the quoter cannot price it: no bound
            log.debug("no quote to bound bids by", extra={"intent": intent_id,
                                                          "error": str(answer)[:200]})
            self.references[intent_id] = None
            return None
        expected = int(answer)
        view = self.active.get(intent_id)
        expected = max(expected, view.min_output if view is not None else 0)
        over = self.cfg.max_bid_over_quote_bps
        assert over is not None, "no reference is asked for without a bound"
        bound = (expected * (10_000 + over) // 10_000, expected)
        self.references[intent_id] = bound
        return bound

    def _end_auction(self, intent_id: str, reason: str) -> None:
        auction = self.auctions.pop(intent_id, None)
        if auction is None:
            return
        if auction.timer is not None:
            auction.timer.cancel()
        for b in auction.bids.values():
            self._tell(b.path, LostWork(intent_id, 0, reason))

    def _exclusivity(self, solver: str) -> float:
        """Seconds ``solver`` has to open its award: ``exclusivity``, or the shorter
        ``probation_exclusivity`` while it has fewer than ``probation_opens`` on-time opens
        in its window. Why: fresh keys cost nothing, and ranking cannot tell a fresh
        honest solver from a Sybil; a Sybil that wins and never opens then holds the
        intent for the probation window only, so two of them hold it for less than one
        full window (docs/solvers.md, "Probation")."""
        if self._opens(solver) < self.cfg.probation_opens:
            return min(self.cfg.exclusivity, self.cfg.probation_exclusivity)
        return self.cfg.exclusivity

    def _arm_exclusivity(self, view: IntentView) -> None:
        old = self.timers.pop(view.id, None)
        if old is not None:
            old.cancel()
        delay = max(0.0, view.exclusivity_deadline - self.clock.wall())
        self.timers[view.id] = self.tell_later(delay, ExclusivityLapsed(view.id, view.version))

    def _lapse(self, m: ExclusivityLapsed) -> None:
        self.timers.pop(m.intent_id, None)
        view = self.active.get(m.intent_id)
        if view is None or view.status is not Status.ASSIGNED or view.version != m.version:
            return  # opened (or cancelled) in time
        self._reassign(view)

    def _reassign(self, view: IntentView, declined: str | None = None) -> None:
        """Back to PENDING without its solver, barred from every later round of the intent:
        its exclusivity lapsed (a fade), or it released the award (``declined``: the reason,
        a lighter mark); re-auctioned at once while rounds remain."""
        failed = view.solver
        if declined is None:
            self._stat(failed, failures=1)
            self._mark(failed, "fade", view.id)
            loss, reason = ("exclusivity lapsed: not opened in time",
                            f"exclusivity lapsed: {failed} did not open in time")
        else:
            self._mark(failed, "decline", view.id)
            loss = "declined: the award is released"
            reason = f"declined by {failed}" + (f": {declined}" if declined else "")
        for s in self.sessions.values():
            if s.solver == failed:
                self._tell(s.path, LostWork(view.id, 0, loss))
        excluded = self._bar(view.id, failed)
        fields: dict = {"solver": "", "awarded_amount": 0, "exclusivity_deadline": 0.0}
        if declined is not None:
            # A decline gives the auction back: it does not count toward max_auctions (the
            # decliner is barred from the intent, so each decline costs a key; counted, a few
            # keys that win and decline would leave the intent unauctioned until it expires).
            fields["auctions"] = max(0, self._round(view) - 1)
        new = self._commit([Change(view, Status.PENDING, reason, fields, failed)])[0]
        if declined is not None:
            self.rounds[view.id] = fields["auctions"]
        old = self.timers.pop(view.id, None)
        if old is not None:
            old.cancel()
        if self._round(new) < self.cfg.max_auctions:
            self._start_auction(new, excluded=excluded)

    def _decline(self, m: Decline) -> None:
        """Only the awarded solver of an ASSIGNED intent may release it; anything else is
        refused with the reason and changes nothing."""
        view = self.active.get(m.intent_id)
        why = None
        if view is None:
            why = "no active intent with this id"
        elif view.status is not Status.ASSIGNED:
            why = f"the intent is {view.status.value}; only an ASSIGNED intent can be declined"
        elif view.solver != m.solver:
            why = "the intent is not awarded to this solver"
        if why is not None:
            self._tell(m.path, DeclineRefused(m.intent_id, why))
            return
        assert view is not None
        self._reassign(view, declined=m.reason)

    def _reauction_lapsed(self) -> int:
        now = self.clock.wall()
        lapsed = [v for v in self.active.values()
                  if v.status is Status.ASSIGNED and v.exclusivity_deadline < now]
        for v in lapsed:
            self._reassign(v)
        return len(lapsed)


class _Asked:
    """A reference asked for one intent: the batch's future (None until the batch is
    sent) and the intent's place in its answer."""

    __slots__ = ("future", "index")

    def __init__(self) -> None:
        self.future: pykka.Future[Any] | None = None
        self.index = 0


def _offer_pb(view: IntentView, closes_at: float) -> solver_pb2.Offer:
    """The offer of one auction, built once for every session it goes to (the Intent proto
    is the costly part)."""
    closes = Timestamp()
    closes.FromNanoseconds(int(round(closes_at * 1e9)))
    return solver_pb2.Offer(intent=intent_pb(view), auction_closes_at=closes)


def _over(amount: int, bound: tuple[int, int], bps: int | None) -> str | None:
    """The refusal of a bid above the bound, or None."""
    limit, expected = bound
    if amount <= limit:
        return None
    return (f"output_amount {amount} is more than {(bps or 0) / 100:g}% above this intent's "
            f"reference output {expected} (the quote, or the signed minimum if higher): the "
            f"winning bid binds (a fill below it is a shortfall, not repaid until an operator "
            f"decides); bid at most {limit}")


def _utc(seconds: float) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
