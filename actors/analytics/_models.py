"""The analytics' migrations (``0910_analytics_indexes``, ``0920_analytics_fill_times``):
indexes, no tables of its own.

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
  rows, instead of every transition of every intent in range (before 0920; kept for
  readers of the history);
- ``intent (status, created_at, ...) WHERE filled_at IS NOT NULL AND status IN (FILLED,
  SETTLED)`` (0920): the percentiles read ``intent.filled_at`` / ``settled_at`` (the
  book's 0391) of the filled intents in range, and this partial index holds every column
  they need (route, times), so they are read from the index alone, without the table or
  the history. ``status`` leads so that SQLite's planner prefers it to the book's
  ``(status, created_at)`` index (same constraints, and covering); on PostgreSQL the
  columns after ``created_at`` are ``INCLUDE``d (not keys).
"""

from __future__ import annotations

import peewee

from actors.book import FILL_ENTRY, SETTLE_ENTRY
from runtime.store import Migration

__all__ = ["MIGRATION", "MIGRATION_0920", "MIGRATIONS", "FILLED_ROW"]

# The predicate of 0920's partial index, which actors.analytics._query repeats word for word
# (a partial index is used only for a query whose WHERE contains its predicate).
FILLED_ROW = "filled_at IS NOT NULL AND status IN ('FILLED', 'SETTLED')"
_FILL_TIME_COLUMNS = ("filled_at", "settled_at", "origin_chain", "destination_chain",
                      "input_token", "output_token")


def _migrate_0910(db: peewee.Database) -> None:
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_created_at" ON "intent" ("created_at")')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_transition_reverted" '
                   'ON "intent_transition" ("intent") WHERE reverted')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_transition_fill" '
                   f'ON "intent_transition" ("intent", "at") WHERE {FILL_ENTRY}')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "intent_transition_settle" '
                   f'ON "intent_transition" ("intent", "at") WHERE {SETTLE_ENTRY}')


def _migrate_0920(db: peewee.Database) -> None:
    columns = ", ".join(f'"{c}"' for c in _FILL_TIME_COLUMNS)
    if isinstance(db, peewee.PostgresqlDatabase):
        on = f'("status", "created_at") INCLUDE ({columns})'
    else:
        on = f'("status", "created_at", {columns})'
    db.execute_sql(f'CREATE INDEX IF NOT EXISTS "intent_fill_times" ON "intent" {on} '
                   f"WHERE {FILLED_ROW}")


MIGRATION = Migration("0910_analytics_indexes", _migrate_0910)
MIGRATION_0920 = Migration("0920_analytics_fill_times", _migrate_0920)
MIGRATIONS = [MIGRATION, MIGRATION_0920]
