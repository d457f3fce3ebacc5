"""The analytics' migration (``0910_analytics_indexes``): indexes, no tables of its own.

Every figure reads the book's tables (``intent``, ``intent_transition``, ``solver_record``,
``solver_mark``) and the intent service's ``submission_count``; what makes them fast at
100,000 intents is two indexes (docs/analytics.md has the measured latencies):

- ``intent (created_at)``: every figure counts the intents accepted in a time range; the
  book's indexes lead with ``user`` or ``status``, so without it each call scans the table;
- ``intent_transition (intent) WHERE reverted``: partial, so it costs nothing for the
  transitions that stand (nearly all), and the leaderboard's count of reorged evidence
  reads only the few that were undone.

The durations (submit -> fill, fill -> settle) join the transitions by intent through the
book's unique ``(intent, version)`` index.
"""

from __future__ import annotations

import peewee

from runtime.store import Migration

__all__ = ["MIGRATION"]


def _migrate_0910(db: peewee.Database) -> None:
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_created_at" ON "intent" ("created_at")')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_transition_reverted" '
                   'ON "intent_transition" ("intent") WHERE "reverted"')


MIGRATION = Migration("0910_analytics_indexes", _migrate_0910)
