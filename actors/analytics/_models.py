"""The analytics' migration (``0910_analytics_indexes``): indexes, no tables of its own.

Every figure reads the book's tables (``intent``, ``intent_transition``, ``solver_record``,
``solver_mark``) and the intent service's ``submission_count``; what makes them fast at
100,000 intents is two indexes (docs/analytics.md has the measured latencies):

- ``intent (created_at)``: every figure counts the intents accepted in a time range; the
  book's indexes lead with ``user`` or ``status``, so without it each call scans the table;
- ``intent_transition (intent) WHERE reverted``: partial, so it costs nothing for the
  transitions that stand (nearly all), and the leaderboard's count of reorged evidence
  reads only the few that were undone;
- ``intent_transition (intent, at)`` for the fill entries and for the settle entries, both
  partial (one entry per filled or settled intent, none for the other transitions): the
  durations (submit -> fill, fill -> settle) read them without touching the transitions'
  rows, instead of every transition of every intent in range.
"""

from __future__ import annotations

import peewee

from runtime.store import Migration

__all__ = ["MIGRATION", "FILL_ENTRY", "SETTLE_ENTRY"]


# The predicates the queries of actors.analytics._query repeat word for word (a partial
# index is used only for a query whose WHERE contains its predicate).
FILL_ENTRY = "status = 'FILLED' AND from_status <> 'FILLED' AND NOT reverted"
SETTLE_ENTRY = "status = 'SETTLED' AND NOT reverted"


def _migrate_0910(db: peewee.Database) -> None:
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_created_at" ON "intent" ("created_at")')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_transition_reverted" '
                   'ON "intent_transition" ("intent") WHERE reverted')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_transition_fill" '
                   f'ON "intent_transition" ("intent", "at") WHERE {FILL_ENTRY}')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_transition_settle" '
                   f'ON "intent_transition" ("intent", "at") WHERE {SETTLE_ENTRY}')


MIGRATION = Migration("0910_analytics_indexes", _migrate_0910)
