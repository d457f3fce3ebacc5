"""``intent.filled_at`` / ``settled_at`` (the book's migration 0391) on SQLite and
PostgreSQL: set by the book's writes when an intent reaches FILLED and SETTLED (and cleared
when a reorg takes it back), backfilled from the history for rows written before the
columns existed, and what GetSummary's percentiles read (analytics' 0920 index)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.analytics import MIGRATIONS as ANALYTICS_MIGRATIONS
from actors.book import MIGRATIONS, IntentRow, Status, fill_times
from orbital.v1 import analytics_pb2 as A
from runtime.store import SchemaMigration, Store

from .conftest import DAY, HOUR, S1, T0, USDC, Step, add_intent, fill_steps, write_scenario
from .test_figures import scenario_filter

P, AS, OP, F, S = Status.PENDING, Status.ASSIGNED, Status.OPENED, Status.FILLED, Status.SETTLED


@pytest.mark.parametrize("frm, to, times", [
    (OP, F, {"filled_at": 7.0}),
    (F, S, {"settled_at": 7.0}),
    (OP, S, {"settled_at": 7.0}),                      # a settlement seen before the fill
    (F, F, {}),                                       # a finding: nothing moves
    (F, OP, {"filled_at": None}),                      # the fill reorged away
    (S, OP, {"filled_at": None, "settled_at": None}),  # the fill's evidence went, settled or not
    (S, F, {"settled_at": None}),                     # only the settlement reorged away
    (F, Status.REFUNDED, {}),                         # the fill stands in the history
    (F, Status.FAILED, {}),
    (P, AS, {}), (AS, OP, {}), (P, Status.EXPIRED, {}), (Status.EXPIRED, OP, {}),
])
def test_which_transitions_date_the_fill_and_settlement(frm, to, times):
    assert fill_times(frm, to, 7.0) == times


def scenario_times() -> dict[str, tuple[float | None, float | None]]:
    return {r.id: (r.filled_at, r.settled_at) for r in IntentRow.select()}


EXPECTED = {   # the intents of conftest.write_scenario, by number, plus those written below
    1: (T0 + 160, T0 + 400), 2: (T0 + 290, None), 3: (T0 + HOUR + 130, T0 + HOUR + 230),
    4: (None, None), 5: (None, None), 6: (T0 + HOUR + 445, None), 7: (None, None),
    8: (T0 - 90, T0 - 80),
    20: (None, None),                    # filled, then the fill reorged away
    21: (T0 + 2 * DAY + 60, None),       # settled, then the settlement reorged away
}


def write_more() -> None:
    c = T0 + 2 * DAY
    filled = fill_steps(S1, c, 60, 5)   # the book marks a transition a reorg undid reverted
    add_intent(20, c, USDC, 5, [*filled[:-1], replace(filled[-1], reverted=True),
                                Step(OP, c + 70, {"filler": "", "fill_amount": 0})])
    settled = fill_steps(S1, c, 60, 5, 30)
    add_intent(21, c, USDC, 5, [*settled[:-1], replace(settled[-1], reverted=True),
                                Step(F, c + 100, {})])


def oid(n: int) -> str:
    return "0x" + f"{n:064x}"


@pytest.fixture
def store(database_url, tmp_path):
    s = Store(database_url, state_dir=str(tmp_path), migrations=[*MIGRATIONS, *ANALYTICS_MIGRATIONS])
    s.migrate()
    yield s
    s.close()


def test_set_when_an_intent_is_filled_and_settled(store):
    with store.connection() as db, db.atomic():
        write_scenario(T0 + 3 * DAY)
        write_more()
        assert scenario_times() == {oid(n): times for n, times in EXPECTED.items()}


def test_backfill_dates_rows_written_before_the_columns(store):
    """A database from before 0391: the columns and the migrations' records removed, the
    history kept; migrating again adds the columns and dates every row from its history."""
    with store.connection() as db, db.atomic():
        write_scenario(T0 + 3 * DAY)
        write_more()
    with store.connection() as db:
        db.execute_sql('DROP INDEX "intent_fill_times"')
        for column in ("filled_at", "settled_at"):
            db.execute_sql(f'ALTER TABLE "intent" DROP COLUMN "{column}"')
        SchemaMigration.delete().where(SchemaMigration.id.in_(
            ["0391_intent_fill_times", "0920_analytics_fill_times"])).execute()
    assert store.migrate() == ["0391_intent_fill_times", "0920_analytics_fill_times"]
    with store.connection():
        assert scenario_times() == {oid(n): times for n, times in EXPECTED.items()}
    assert store.migrate() == []


def test_summary_percentiles_read_the_columns(analytics):
    node, stub = analytics

    def durations():
        s = stub.GetSummary(A.GetSummaryRequest(filter=scenario_filter()))
        return ((s.submit_to_fill.count, s.submit_to_fill.p50_seconds, s.submit_to_fill.p90_seconds),
                (s.fill_to_settle.count, s.fill_to_settle.p50_seconds, s.fill_to_settle.p90_seconds))

    # the scenario's numbers (test_figures): submit -> fill 60, 90, 30, 45; fill -> settle 240, 100
    assert durations() == ((4, 45.0, 90.0), (2, 100.0, 240.0))
    # the figures follow the columns, not the history: ten filled intents 1..10 s to fill,
    # the first five settled 10..50 s after
    with node.store.connection() as db, db.atomic():
        IntentRow.update(filled_at=None, settled_at=None).execute()
        for k in range(1, 11):
            created = T0 + DAY + 1000 + k
            add_intent(100 + k, created, USDC, 1, fill_steps(S1, created, k, 1,
                                                             10 * k if k <= 5 else None))
    assert durations() == ((10, 5.0, 9.0), (5, 30.0, 50.0))
