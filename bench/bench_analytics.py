"""AnalyticsService latency at 100,000 intents, on SQLite and PostgreSQL.

A fresh database per engine is seeded in bulk (multi-row INSERTs: 100,000 intents
accepted in time order over the last 29 days on four routes, each with the history its
status implies, about 410,000 transitions; 50 solvers with records and reliability marks; hourly submission
counts), then a real node serving only AnalyticsService answers, over gRPC on loopback:

- GetSummary of the last 30 days (every intent: statuses, exact sums, two percentiles),
  and of the last day (a dashboard's usual range: about 3,400 intents);
- GetVolume of the last 30 days per hour (720 buckets x 4 routes);
- GetSolverLeaderboard, first page of 50.

PostgreSQL gets a ``VACUUM ANALYZE`` after seeding and the 0391 backfill (autovacuum's job
on a table that grew like this and whose rows the backfill rewrote; without statistics
the planner picks nested loops and the summary doubles).
Each figure's ceiling is a plain ``SELECT count(*) FROM intent`` on the same database in
the same run (what any answer over the whole table costs at least); calls are
interleaved, TRIALS each, and the medians compared. Target: every call within
``TARGET_MS`` (the median), so a dashboard refreshing every few seconds stays cheap.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from ._pg import PgDatabase
from ._table import Row, interleaved

INTENTS = 100_000
SOLVERS = 50
TRIALS = 7
TARGET_MS = 1000.0
SCRAPE_TARGET_MS = 50.0   # a cached scrape: the page without a query
DAY = 86_400
# status -> (share, statuses walked after PENDING)
_PATHS = {
    "SETTLED": (0.60, ("ASSIGNED", "OPENED", "FILLED", "SETTLED")),
    "FILLED": (0.10, ("ASSIGNED", "OPENED", "FILLED")),
    "OPENED": (0.05, ("ASSIGNED", "OPENED")),
    "EXPIRED": (0.10, ("EXPIRED",)),
    "REFUNDED": (0.05, ("ASSIGNED", "OPENED", "REFUNDED")),
    "CANCELLED": (0.05, ("CANCELLED",)),
    "PENDING": (0.05, ()),
}
_TOKENS = ("0x5FbDB2315678afecb367f032d93F642f64180aa3", "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512")


def _rows(now: float) -> tuple[list[tuple], list[tuple]]:
    """(intent rows, transition rows) as column tuples: deterministic."""
    rng = random.Random(15)
    statuses, weights = zip(*((s, share) for s, (share, _) in _PATHS.items()))
    solvers = [f"0x{n:040x}" for n in range(1, SOLVERS + 1)]
    intents, transitions = [], []
    for n in range(INTENTS):
        oid = f"0x{n:064x}"
        # accepted in time order, as a book inserts them, over the last 29 days (a minute back:
        # inside PERIOD_MONTH however long seeding takes)
        created = now - 60 - (INTENTS - n) / INTENTS * 29 * DAY
        status = rng.choices(statuses, weights)[0]
        path = _PATHS[status][1]
        origin, dest = ("devnet-a", "devnet-b") if n % 2 else ("devnet-b", "devnet-a")
        token = _TOKENS[(n // 2) % 2]
        amount = rng.randrange(10**6, 10**24)
        solver = solvers[rng.randrange(SOLVERS)] if path and path[0] == "ASSIGNED" else ""
        filled = "FILLED" in path
        fill = amount - rng.randrange(0, 10**5) if filled else 0
        at, prev, hist = created, "", []
        for version, st in enumerate(("PENDING", *path), start=1):
            at += 0 if version == 1 else rng.uniform(2, 120)
            hist.append((oid, version, prev, st, at, "bench", solver if st == "ASSIGNED" else "",
                         "", 0, "", "", 0, None, False, ""))
            prev = st
        transitions += hist
        intents.append((oid, status, len(hist), "0x" + "ab" * 20, n, origin, 31337, dest, 31338,
                        "0x" + "cd" * 20, token, str(amount), token, str(amount // 2),
                        "0x" + "ab" * 20, int(created) + 600, int(created) + 3600, "gasless", "",
                        "", solver, str(amount), 0.0, 1, "", "", 0, solver if filled else "",
                        str(fill), "0", created, at))
    return intents, transitions


_INTENT_COLUMNS = ("id", "status", "version", "user", "nonce", "origin_chain", "origin_chain_id",
                   "destination_chain", "destination_chain_id", "origin_settler", "input_token",
                   "input_amount", "output_token", "min_output", "recipient", "open_deadline",
                   "fill_deadline", "source", "typed_data", "signature", "solver",
                   "awarded_amount", "exclusivity_deadline", "auctions", "fill_tx", "fill_chain",
                   "fill_block", "filler", "fill_amount", "shortfall", "created_at", "updated_at")
_TRANSITION_COLUMNS = ("intent", "version", "from_status", "status", "at", "reason", "solver",
                       "chain", "block_number", "block_hash", "tx_hash", "log_index", "event_id",
                       "reverted", "finding")


def _bulk(db: Any, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
    """Multi-row INSERTs: executemany on SQLite (one prepared statement), execute_values
    on PostgreSQL (1,000 rows a statement)."""
    import peewee
    names = ", ".join(f'"{c}"' for c in columns)
    cursor = db.cursor()
    if isinstance(db, peewee.PostgresqlDatabase):
        from psycopg2.extras import execute_values
        execute_values(cursor, f'INSERT INTO "{table}" ({names}) VALUES %s', rows, page_size=1000)
    else:
        cursor.executemany(f'INSERT INTO "{table}" ({names}) VALUES '
                           f'({", ".join("?" * len(columns))})', rows)


def _seed(url: str, tmp: Path, now: float) -> tuple[float, float, float]:
    """Seed the database; (seconds seeding, seconds of the book's 0391 backfill, seconds of
    analytics' 0920 index). The rows are written as on a database from before 0391 (no
    filled_at/settled_at, no 0920 index), then upgraded in the order a node does it (by
    migration id): 0391's backfill dates them from their history, then 0920 indexes them,
    each timed: what upgrading a database of this size costs."""
    from actors.analytics import MIGRATIONS as ANALYTICS_MIGRATIONS
    from actors.book import MIGRATIONS, SolverMark, SolverRecord, SubmissionCount
    from runtime.store import SchemaMigration, Store
    intents, transitions = _rows(now)
    upgrades = ("0391_intent_fill_times", "0920_analytics_fill_times")
    store = Store(url, state_dir=str(tmp), migrations=[
        m for m in [*MIGRATIONS, *ANALYTICS_MIGRATIONS] if m.id not in upgrades])
    store.migrate()
    began = time.perf_counter()
    rng = random.Random(16)
    with store.connection() as db, db.atomic():
        _bulk(db, "intent", _INTENT_COLUMNS, intents)
        _bulk(db, "intent_transition", _TRANSITION_COLUMNS, transitions)
        solvers = [f"0x{n:040x}" for n in range(1, SOLVERS + 1)]
        SolverRecord.insert_many([
            {"solver": s, "offers": 100_000, "bids": rng.randrange(50_000), "wins": 1000,
             "fills": rng.randrange(1000), "failures": rng.randrange(50),
             "response_ms": str([round(rng.uniform(5, 50), 3) for _ in range(101)])}
            for s in solvers]).execute()
        SolverMark.insert_many([
            {"solver": s, "kind": rng.choice(("open", "fade", "decline", "win")),
             "intent": f"m{s}{k}", "at": now - rng.uniform(0, 6 * DAY)}
            for s in solvers for k in range(200)]).execute()
        SubmissionCount.insert_many([
            {"hour": int(now) // 3600 * 3600 - h * 3600, "code": code, "count": 100}
            for h in range(30 * 24) for code in ("OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED")
        ]).execute()
    seconds = time.perf_counter() - began
    store.close()
    store = Store(url, state_dir=str(tmp), migrations=[*MIGRATIONS, *ANALYTICS_MIGRATIONS])
    took = {}
    for m in sorted((m for m in [*MIGRATIONS, *ANALYTICS_MIGRATIONS] if m.id in upgrades),
                    key=lambda m: m.id):
        began = time.perf_counter()
        with store.connection() as db, db.atomic():
            m.apply(db)
            SchemaMigration.create(id=m.id, applied_at=time.time(), applied_by="bench")
        took[m.id] = time.perf_counter() - began
    with store.connection() as db:
        filled = db.execute_sql(
            "SELECT COUNT(*) FROM intent WHERE filled_at IS NOT NULL").fetchone()[0]
    assert filled == sum(1 for i in intents if i[1] in ("FILLED", "SETTLED")), filled
    if "postgresql" in url:   # what autovacuum does to a table that grew this much
        with store.connection() as db:
            db.execute_sql("VACUUM ANALYZE")
    store.close()
    return seconds, took[upgrades[0]], took[upgrades[1]]


def _node(url: str, tmp: Path) -> Any:
    import actors.analytics
    from node import new_app
    from runtime.node import Node
    cfg = tmp / "supervisor.yaml"
    cfg.write_text(f"""node:
  grpc_listen: 127.0.0.1:0
  metrics_listen: 127.0.0.1:0
  metrics_cache: 0
  state_dir: {tmp / 'var'}
database:
  url: '{url}'
""")
    app = new_app()
    actors.analytics.install(app)
    return Node(str(cfg), app).start()


def _measure(url: str, tmp: Path) -> dict[str, Any]:
    import grpc
    from orbital.v1 import analytics_pb2 as A
    from orbital.v1 import analytics_pb2_grpc
    from runtime.store import Store

    from actors.analytics import count_intents
    from actors.book import register_counts
    tmp.mkdir(parents=True, exist_ok=True)
    now = time.time()
    seeded, backfilled, indexed = _seed(url, tmp, now)
    node = _node(url, tmp)
    counter = Store(url, state_dir=str(tmp))
    channel = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
    month = A.Filter(period=A.PERIOD_MONTH)
    day = A.Filter(period=A.PERIOD_DAY)

    def timed(fn) -> float:
        began = time.perf_counter()
        fn()
        return (time.perf_counter() - began) * 1000

    def count() -> None:
        with counter.connection() as db:
            assert count_intents(db) == INTENTS

    # /metrics as a book registers it (intents by status, attester backlog), scraped over HTTP
    register_counts(node.metrics, node.store, ("devnet-a", "devnet-b"))
    page = f"http://127.0.0.1:{node.metrics_port}/metrics"

    def scrape() -> None:
        with urllib.request.urlopen(page, timeout=60) as reply:
            assert b'orbital_intents{status="SETTLED"}' in reply.read()

    try:
        summary = stub.GetSummary(A.GetSummaryRequest(filter=month), timeout=60)
        assert summary.intents == INTENTS, summary.intents
        volume = stub.GetVolume(A.GetVolumeRequest(filter=month, bucket=A.BUCKET_HOUR), timeout=60)
        board = stub.GetSolverLeaderboard(A.GetSolverLeaderboardRequest(), timeout=60)
        assert len(board.entries) == SOLVERS
        runs = interleaved(
            TRIALS, count=lambda: timed(count),
            summary=lambda: timed(lambda: stub.GetSummary(A.GetSummaryRequest(filter=month),
                                                          timeout=60)),
            summary_day=lambda: timed(lambda: stub.GetSummary(A.GetSummaryRequest(filter=day),
                                                              timeout=60)),
            volume=lambda: timed(lambda: stub.GetVolume(
                A.GetVolumeRequest(filter=month, bucket=A.BUCKET_HOUR), timeout=60)),
            board=lambda: timed(lambda: stub.GetSolverLeaderboard(
                A.GetSolverLeaderboardRequest(), timeout=60)),
            scrape=lambda: timed(scrape))
        node.metrics.cache_for(60)    # as a node runs (node.metrics_cache): one computation
        scrape()
        cached = statistics.median(timed(scrape) for _ in range(TRIALS))
    finally:
        channel.close()
        counter.close()
        node.shutdown()
    out: dict[str, Any] = {k: statistics.median(v) for k, v in runs.items()}
    out |= {"seed": seeded, "buckets": len(volume.buckets), "scrape_cached": cached,
            "backfill": backfilled * 1000, "index": indexed * 1000}
    return out


def run() -> list[Row]:
    import logging
    logging.getLogger("orbital").setLevel(logging.WARNING)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="orbital-bench-analytics-") as d:
        tmp = Path(d)
        results = {"SQLite": _measure(f"sqlite:///{tmp}/analytics.db", tmp / "sqlite")}
        with PgDatabase() as url:
            results["PostgreSQL"] = _measure(url, tmp / "pg")
    for engine, r in results.items():
        for key, name in (("summary", "GetSummary, last 30 days"),
                          ("summary_day", "GetSummary, last day"),
                          ("volume", f"GetVolume hourly, last 30 days ({r['buckets']} rows)"),
                          ("board", f"GetSolverLeaderboard, {SOLVERS} solvers")):
            rows.append(Row(f"{name}, {INTENTS:,} intents ({engine})", r[key], "ms", r["count"],
                            f"median <= {TARGET_MS:g} ms", r[key] <= TARGET_MS,
                            f"ceiling = SELECT count(*) FROM intent, same database and run; "
                            f"median of {TRIALS} interleaved calls over gRPC on loopback; "
                            f"seeded in {r['seed']:.1f} s"))
        rows.append(Row(f"migration 0391 backfill (filled_at, settled_at), {INTENTS:,} intents "
                        f"({engine})", r["backfill"], "ms", None, "informational", None,
                        "the migration on a database seeded as before it: the columns added, "
                        "one UPDATE ... FROM one grouped pass over the history"))
        rows.append(Row(f"migration 0920 index (intent_fill_times), {INTENTS:,} intents "
                        f"({engine})", r["index"], "ms", None, "informational", None,
                        "CREATE INDEX after 0391, as a node applies them (by id)"))
        rows.append(Row(f"GET /metrics (store counts, no cache), {INTENTS:,} intents "
                        f"({engine})", r["scrape"], "ms", r["count"], "informational", None,
                        "the whole page over HTTP on loopback, node.metrics_cache: 0 (the "
                        "book's GROUP BY status, origin_chain at every scrape); "
                        "ceiling = SELECT count(*); what node.metrics_cache saves"))
        rows.append(Row(f"GET /metrics (store counts cached), {INTENTS:,} intents ({engine})",
                        r["scrape_cached"], "ms", r["count"],
                        f"median <= {SCRAPE_TARGET_MS:g} ms",
                        r["scrape_cached"] <= SCRAPE_TARGET_MS,
                        "scrapes within node.metrics_cache (default 5 s) reuse the counts: "
                        "the page without a query"))
    return rows
