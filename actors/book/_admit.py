"""The check before each auction round: can the order still be opened on its origin chain?

A mixin of :class:`actors.book._actor.Book`. The chain reads run in ``intents/admission``
(actors.admission), never on the book's thread: the book tells it a ``CheckOrder`` with
``reply_to`` = the book and holds the round until :class:`OrderChecked` comes back. Then:

A submission's own check (the intent service asked admission before accepting it) stands
for the check of the first round while it is younger than ``admission.head_ttl``: asking
again would be answered from admission's cache for the same head.

- executable, counting what the user's other orders of the same token hold (in an
  auction, or awarded and not yet opened: their openFor pulls first): the round starts
  (``_start_auction`` with the check consumed);
A contract wallet's order (``IntentView.wallet_digest``: the wallet approved its signature
at submission) has the wallet asked again with each check (``SIGNATURE``: an owner rotated,
a module revoked); an order signed by a key is not.

- not executable (the balance or the allowance went short, the nonce was burnt, the
  wallet no longer accepts the signature): no
  round; a history entry (status unchanged, finding ``not_executable``, the reason with
  the numbers and the fix) when the set of failed checks changes, so that a watcher learns
  why; the intent stays PENDING and is checked again every ``intents.retry_interval``
  (the user may still fund or approve) until its openDeadline expires it;
- the chain cannot be read (or admission is restarting): no round, checked again after
  ``retry_interval`` (logged, no history entry: nothing is known about the order).
"""

from __future__ import annotations

import logging

from actors import ADMISSION_PATH
from actors.admission import CheckOrder, OrderChecked, Verdict, decide
from protocol import PERMIT2_ADDRESS
from runtime import ActorUnavailable

from ._auctioneer import RetryAuction
from ._chain import NOT_EXECUTABLE
from ._state import BookState
from ._views import PERMIT2_SOURCE, Change, IntentView, Status

__all__ = ["AdmitMixin"]

log = logging.getLogger("orbital.book")


class AdmitMixin(BookState):
    def _fresh(self, verdict: Verdict | None, checked_at: float) -> Verdict | None:
        """``verdict`` if it may stand for a check now: read less than ``admission.head_ttl``
        ago, the staleness admission itself allows a cached read (it would answer a new
        check from the same head and the same cache)."""
        if verdict is None or self.clock.now() - checked_at >= self.admission_ttl:
            return None
        return verdict

    def _admitted(self, view: IntentView, excluded: frozenset[str],
                  verdict: Verdict | None = None) -> bool:
        """True when a round for ``view`` may start now; otherwise a check is on its way
        (or will be retried) and the round starts when it answers. ``verdict``: a fresh
        one (the submission's, :meth:`_fresh`), decided on here without asking again."""
        if not self.admission:
            return True
        if self.admitted.pop(view.id, None) == view.version:
            return True
        if view.nonce is None:
            return True    # opened on chain (no nonce known): nothing to check
        if verdict is not None and view.id not in self.checking:
            return self._decide_round(view, verdict)
        sent = self.checking.get(view.id)
        if sent is not None and self.clock.now() - sent < self.cfg.retry_interval:
            return False   # answered soon; an older check whose answer was lost is sent again
        check = CheckOrder(view.origin_chain, view.user, view.input_token, view.origin_settler,
                           view.input_amount, view.nonce, reply_to=self.path,
                           tag=(view.id, view.version, excluded), permit2=view.source == PERMIT2_SOURCE,
                           wallet_digest=view.wallet_digest, signature=view.wallet_signature)
        try:
            self.ctx.registry.tell(ADMISSION_PATH, check)
        except ActorUnavailable:
            log.info("admission is not running; auction held", extra={"intent": view.id})
            self._check_later(view.id)
            return False
        self.checking[view.id] = self.clock.now()
        self._check_later(view.id)   # a watchdog: admission may restart before it answers
        return False

    def _checked(self, m: OrderChecked) -> None:
        intent_id, version, excluded = m.tag
        self.checking.pop(intent_id, None)
        view = self.active.get(intent_id)
        if view is None or view.status is not Status.PENDING or view.version != version \
                or intent_id in self.auctions:
            return   # moved on meanwhile (cancelled, opened, another check)
        if m.verdict is None:
            log.info("origin chain unreadable; auction held",
                     extra={"intent": intent_id, "error": m.error[:200]})
            self._check_later(intent_id)
            return
        if self._decide_round(view, m.verdict):
            self.admitted[intent_id] = view.version
            self._start_auction(view, excluded)

    def _decide_round(self, view: IntentView, verdict: Verdict) -> bool:
        """The verdict of a check, counting what the user's other orders hold: True, the
        round may start; False, the intent is not executable (recorded once per set of
        failed checks) and is checked again after ``retry_interval``."""
        intent_id = view.id
        verdict = self._with_reserved(view, verdict)
        if verdict.ok:
            watchdog = self.retry_timers.pop(intent_id, None)
            if watchdog is not None:
                watchdog.cancel()
            self.not_executable.pop(intent_id, None)
            return True
        failed = tuple(v.type for v in verdict.violations)
        if self.not_executable.get(intent_id) != failed:
            self._commit([Change(view, view.status, verdict.reason() + "; not auctioned",
                                 finding=NOT_EXECUTABLE)])
            self.not_executable[intent_id] = failed
        self._check_later(intent_id)
        return False

    def _with_reserved(self, view: IntentView, verdict: Verdict) -> Verdict:
        """The verdict again, counting what the user's other orders of the same token hold
        now (in an auction, or awarded and not opened): decided here, when the answer is
        handled, so two checks in flight cannot both count on the same balance."""
        if verdict.reading is None:
            return verdict
        # candidates: auctions in flight and awards with an exclusivity timer (every
        # ASSIGNED intent has one), not every active intent: this runs once per round
        held = (self.active.get(i) for i in {*self.auctions, *self.timers} - {view.id})
        others = [v for v in held if v is not None and v.user == view.user
                  and v.origin_chain == view.origin_chain and v.input_token == view.input_token
                  and (v.id in self.auctions or v.status is Status.ASSIGNED)]
        if not others:
            return verdict
        return decide(verdict.chain, verdict.reading, user=view.user, token=view.input_token,
                      settler=view.origin_settler, amount=view.input_amount,
                      nonce=view.nonce or 0, reserved=sum(v.input_amount for v in others),
                      others=len(others),
                      permit2=PERMIT2_ADDRESS if view.source == PERMIT2_SOURCE else "")

    def _check_later(self, intent_id: str) -> None:
        old = self.retry_timers.pop(intent_id, None)
        if old is not None:
            old.cancel()
        self.retry_timers[intent_id] = self.tell_later(self.cfg.retry_interval,
                                                       RetryAuction(intent_id))
