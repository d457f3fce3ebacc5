"""Solver reliability in the book: the rolling windows, suspensions, exclusions, record reads.

A mixin of the Book (same actor, same thread). The rule itself (score, ranking, when to
suspend) is :mod:`._score`; this module keeps its inputs:

- one :class:`._score.Window` per solver, rebuilt at setup from ``solver_mark`` rows within
  ``intents.reliability_window``; a mark is added in memory and written with the counters
  (:mod:`._records`, batched every second), so the hot path never waits on the database;
- suspensions by solver (``solver_record.suspended_until``), told to the solver's session;
- per intent, the solvers barred from its later auctions (they let an award lapse or
  declined it): rebuilt at setup from the intent's history (ASSIGNED -> PENDING entries
  name the solver), so a restart forgets none.
"""

from __future__ import annotations

import logging

from ._messages import RecordOf, SolverRecordView, Suspended
from ._models import IntentTransition, SolverMark, SolverRecord
from ._score import Window, reliability, suspension
from ._state import BookState
from ._views import Status

__all__ = ["ReliabilityMixin"]

log = logging.getLogger("orbital.book")

_LIFETIME = {"open": "opens", "decline": "declines"}   # counted here; the rest by their callers
_CHUNK = 500


class ReliabilityMixin(BookState):
    def setup_reliability(self) -> None:
        self.windows = {}
        self.marks_pending = []
        self.barred = {}
        self.suspensions = {}
        now = self.clock.wall()
        with self.store.connection():
            for m in (SolverMark.select().where(SolverMark.at >= now - self.cfg.reliability_window)
                      .order_by(SolverMark.at, SolverMark.id)):
                self._window(m.solver).add(m.at, m.kind, m.intent)
            for r in SolverRecord.select().where(SolverRecord.suspended_until > now):
                self.suspensions[r.solver] = (r.suspended_until, r.suspension_reason)
            # (an intent never awarded is at version 1; a decline gives its round back, so
            # the auctions count cannot tell)
            ids = [v.id for v in self.active.values()
                   if v.status in (Status.PENDING, Status.ASSIGNED) and v.version > 1]
            for i in range(0, len(ids), _CHUNK):
                q = (IntentTransition.select(IntentTransition.intent, IntentTransition.solver)
                     .where(IntentTransition.intent.in_(ids[i:i + _CHUNK]),
                            IntentTransition.from_status == Status.ASSIGNED.value,
                            IntentTransition.status == Status.PENDING.value,
                            IntentTransition.solver != ""))
                for t in q:
                    self.barred.setdefault(t.intent, set()).add(t.solver)

    # ---- marks and scores ------------------------------------------------------------
    def _window(self, solver: str) -> Window:
        w = self.windows.get(solver)
        if w is None:
            w = self.windows[solver] = Window(self.cfg.reliability_window)
        return w

    def _reliability(self, solver: str) -> float:
        w = self.windows.get(solver)
        return w.reliability(self.clock.wall()) if w is not None else reliability({})

    def _opens(self, solver: str) -> int:
        """Awards ``solver`` opened on time within the window (its probation, _auctioneer)."""
        w = self.windows.get(solver)
        if w is None:
            return 0
        w.expire(self.clock.wall())
        return w.counts["open"]

    def _mark(self, solver: str, kind: str, intent: str) -> None:
        """A mark on ``solver``'s window (once per kind and intent); may suspend it."""
        if not solver:
            return
        now = self.clock.wall()
        if not self._window(solver).add(now, kind, intent):
            return
        self.marks_pending.append({"solver": solver, "kind": kind, "intent": intent, "at": now})
        lifetime = _LIFETIME.get(kind)
        self._stat(solver, **({lifetime: 1} if lifetime else {}))   # also arms the flush
        score = self._reliability(solver)
        until = suspension(score, kind, now, self.cfg.suspend_below, self.cfg.suspend_cooldown,
                           self.suspensions.get(solver, (0.0, ""))[0])
        if until is not None:
            self._suspend(solver, until, score, kind)

    def _suspend(self, solver: str, until: float, score: float, kind: str) -> None:
        c = self._window(solver).counts
        reason = (f"reliability {score:.2f} fell below {self.cfg.suspend_below:g} after a "
                  f"{kind.replace('_', ' ')} (last {self.cfg.reliability_window:g}s: {c['win']} "
                  f"won, {c['open']} opened on time, {c['fade']} let lapse, {c['decline']} "
                  f"declined, {c['shortfall']} short fills, {c['foreign_fill']} foreign "
                  f"fills); no offers for {self.cfg.suspend_cooldown:g}s")
        self.suspensions[solver] = (until, reason)
        rec = self.stats[solver]
        rec.suspended_until, rec.suspension_reason = until, reason
        log.warning("solver suspended", extra={"solver": solver, "until": until, "reason": reason})
        for s in self.sessions.values():
            if s.solver == solver:
                self._tell(s.path, Suspended(until, reason, score))

    def _is_suspended(self, solver: str) -> bool:
        return self.suspensions.get(solver, (0.0, ""))[0] > self.clock.wall()

    def _excluded(self, intent_id: str) -> frozenset[str]:
        """Solvers not offered ``intent_id`` now: those that let an award of it lapse or
        declined it (every later round), and every suspended solver."""
        now = self.clock.wall()
        for solver in [s for s, (until, _) in self.suspensions.items() if until <= now]:
            del self.suspensions[solver]
        return frozenset(self.barred.get(intent_id, ())) | frozenset(self.suspensions)

    def _bar(self, intent_id: str, solver: str) -> frozenset[str]:
        """Bar ``solver`` from every later auction of ``intent_id``; its exclusions now."""
        self.barred.setdefault(intent_id, set()).add(solver)
        return self._excluded(intent_id)

    def _forget(self, intent_id: str) -> None:
        self.barred.pop(intent_id, None)

    # ---- reads -------------------------------------------------------------------------
    def _records(self, solver: str = "", suspended_only: bool = False) -> list[SolverRecordView]:
        with self.store.connection():
            q = SolverRecord.select()
            if solver:
                q = q.where(SolverRecord.solver == solver)
            rows = {r.solver: r for r in q}
        for name, rec in self.stats.items():   # newer than the store (not flushed yet)
            if not solver or name == solver:
                rows[name] = rec
        views = [self._record_view(r) for r in rows.values()]
        if suspended_only:
            views = [v for v in views if v.suspended]
        return sorted(views, key=lambda v: (v.reliability, v.solver))

    def _record_view(self, r: SolverRecord) -> SolverRecordView:
        now = self.clock.wall()
        score = self._reliability(r.solver)
        w = self.windows.get(r.solver)
        counts = dict(w.counts) if w is not None else {}
        until, why = self.suspensions.get(r.solver, (r.suspended_until, r.suspension_reason))
        samples = getattr(r, "samples", None)
        median = _median(samples) if samples is not None else r.median_response_ms
        return SolverRecordView(r.solver, score, until, why if until > now else "",
                                self.cfg.reliability_window, counts, r.offers, r.bids, r.wins,
                                r.fills, r.failures, median, r.last_seen, now)

    def _read_record(self, path: str, solver: str) -> None:
        views = self._records(solver)
        view = views[0] if views else SolverRecordView(
            solver, self._reliability(solver), 0.0, "", self.cfg.reliability_window, {}, 0, 0,
            0, 0, 0, None, 0.0, self.clock.wall())
        self._tell(path, RecordOf(view))


def _median(samples: list[float]) -> float | None:
    import statistics
    return statistics.median(samples) if samples else None
