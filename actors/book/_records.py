"""Per-solver records (offers, bids, wins, fills, failures, response times).

A mixin of the Book. Counters live in memory and are written every ``FLUSH`` seconds in
one transaction (and at stop): the hot path (an offer to every session per intent) never
waits on the database, and a crash loses at most a second of counters, never an intent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from ._models import SolverMark, SolverRecord
from ._state import BookState

__all__ = ["RecordsMixin", "FlushStats", "FLUSH"]

log = logging.getLogger("orbital.book")

FLUSH = 1.0
PRUNE = 60.0   # seconds between deletions of marks older than the reliability window


@dataclass(frozen=True)
class FlushStats:
    pass


class RecordsMixin(BookState):
    # ---- solver records -------------------------------------------------------------
    def _stat(self, solver: str, response_ms: float | None = None, **inc: int) -> None:
        """Count in memory; written every ``FLUSH`` seconds (a crash loses at most that)."""
        if not solver:
            return
        rec = self.stats.get(solver)
        if rec is None:
            with self.store.connection():
                rec = SolverRecord.get_or_none(SolverRecord.solver == solver) or SolverRecord(solver=solver)
            rec.samples = json.loads(rec.response_ms)
            self.stats[solver] = rec
        for k, v in inc.items():
            setattr(rec, k, getattr(rec, k) + v)
        if response_ms is not None:
            rec.samples = rec.samples[-100:] + [round(response_ms, 3)]
        rec.last_seen = self.clock.wall()
        self.dirty.add(solver)
        if self.flush_timer is None:
            self.flush_timer = self.tell_later(FLUSH, FlushStats())

    def _flush_stats(self) -> None:
        self.flush_timer = None
        if not self.dirty and not self.marks_pending:
            return
        rows = []
        for solver in sorted(self.dirty):
            r = self.stats[solver]
            rows.append({"solver": solver, "offers": r.offers, "bids": r.bids, "wins": r.wins,
                         "fills": r.fills, "failures": r.failures, "shortfalls": r.shortfalls,
                         "foreign_fills": r.foreign_fills, "voided": r.voided,
                         "response_ms": json.dumps(r.samples), "last_seen": r.last_seen,
                         "opens": r.opens, "declines": r.declines,
                         "suspended_until": r.suspended_until,
                         "suspension_reason": r.suspension_reason})
        self.dirty.clear()
        marks, self.marks_pending = self.marks_pending, []
        now = self.clock.wall()
        prune = now - self.last_prune >= PRUNE
        if prune:
            self.last_prune = now
        with self.singleton.fenced():
            if marks:
                SolverMark.insert_many(marks).on_conflict_ignore().execute()
            if prune:
                SolverMark.delete().where(SolverMark.at < now - self.cfg.reliability_window).execute()
            for row in rows:
                (SolverRecord.insert(**row)
                 .on_conflict(conflict_target=[SolverRecord.solver],
                              update={k: v for k, v in row.items() if k != "solver"}).execute())
