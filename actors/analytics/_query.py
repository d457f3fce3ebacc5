"""The analytics figures as SQL over the book's tables: pure (a database and a scope in,
plain values out), the same answers on SQLite and PostgreSQL.

Why SQL and not Python loops: grouping, counting and summing in the database is one pass
in C over the rows in range, and only the groups (a few dozen) come back to Python; a
Python pass would first fetch every row. Two things differ between the databases and are
handled here, in one place:

- **exact sums.** uint256 amounts are ``NUMERIC(78,0)`` on PostgreSQL (``SUM`` is exact)
  but decimal *text* on SQLite, where ``SUM`` would turn them into 64-bit floats. On SQLite
  each amount is cut into 12-digit pieces from the right (``substr``), each piece summed as
  a 64-bit integer, and the pieces put back together in Python: exact for up to 9.2
  million rows per group (9.2e18 / 1e12), and SQLite raises "integer overflow" rather
  than round if that is ever passed.
- **percentiles.** PostgreSQL computes them (``percentile_disc``); from SQLite the
  durations are fetched, sorted and the nearest-rank sample picked here. Both are nearest-rank (the
  smallest sample with at least p of the samples at or below it), so the answers agree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from actors.book import SolverRecord

from ._models import FILLED_ROW

__all__ = ["Scope", "TokenSum", "Durations", "SummaryFigures", "VolumeRow", "SolverFigures", "nearest_rank",
           "summary", "volume", "leaderboard", "FILLED", "UNFILLED", "count_intents",
           "first_accepted"]

FILLED = ("FILLED", "SETTLED")
UNFILLED = ("CANCELLED", "EXPIRED", "REFUNDED", "FAILED")
_PIECE = 12            # digits per piece of an exact sum on SQLite
_PIECES = 7            # 84 digits >= 78 (uint256)


@dataclass(frozen=True)
class Scope:
    """Intents accepted in [start, end) (unix seconds), optionally on these chains (config
    names) and tokens (checksummed addresses); an empty tuple: any."""

    start: float
    end: float
    origin_chains: tuple[str, ...] = ()
    destination_chains: tuple[str, ...] = ()
    input_tokens: tuple[str, ...] = ()
    output_tokens: tuple[str, ...] = ()


@dataclass(frozen=True)
class TokenSum:
    chain: str
    token: str
    amount: int
    intents: int


@dataclass(frozen=True)
class Durations:
    count: int
    p50: float
    p90: float


@dataclass(frozen=True)
class SummaryFigures:
    by_status: dict[str, int]
    submissions: dict[str, int]          # gRPC code -> orders
    volume_in: list[TokenSum]
    volume_out: list[TokenSum]
    submit_to_fill: Durations
    fill_to_settle: Durations

    @property
    def intents(self) -> int:
        return sum(self.by_status.values())

    @property
    def filled(self) -> int:
        return sum(self.by_status.get(s, 0) for s in FILLED)

    @property
    def unfilled(self) -> int:
        return sum(self.by_status.get(s, 0) for s in UNFILLED)


@dataclass(frozen=True)
class VolumeRow:
    start: int
    origin_chain: str
    input_token: str
    destination_chain: str
    output_token: str
    intents: int
    filled: int
    volume_in: int
    volume_out: int


@dataclass(frozen=True)
class SolverFigures:
    solver: str
    offers: int
    bids: int
    wins: int
    fills: int
    fades: int
    declines: int
    reverts: int
    shortfalls: int
    median_bid_ms: float | None
    marks: dict[str, int]                          # window counts by kind
    suspended_until: float
    volume: list[TokenSum] = field(default_factory=list)


# ---- SQL building ------------------------------------------------------------------------
class _Sql:
    """Dialect bits: placeholders, exact sums, time buckets."""

    def __init__(self, db: peewee.Database) -> None:
        self.db = db
        self.pg = isinstance(db, peewee.PostgresqlDatabase)
        self.ph = "%s" if self.pg else "?"

    def sums(self, expr: str) -> str:
        """Select-list items whose values :meth:`total` turns into the exact sum of ``expr``
        (a uint256 column, or a CASE yielding it or NULL)."""
        if self.pg:
            return f"SUM({expr})"
        parts = [f"SUM(CAST(substr({expr}, -{_PIECE}) AS INTEGER))"]
        parts += [f"SUM(CAST(substr({expr}, -{_PIECE * (k + 1)}, {_PIECE}) AS INTEGER))"
                  for k in range(1, _PIECES)]
        return ", ".join(parts)

    @property
    def width(self) -> int:
        """How many select-list items one :meth:`sums` is."""
        return 1 if self.pg else _PIECES

    def total(self, values: Sequence[Any]) -> int:
        if self.pg:
            return int(values[0] or 0)
        return sum(int(v or 0) * 10 ** (_PIECE * k) for k, v in enumerate(values))

    def bucket(self, column: str, seconds: int) -> str:
        if self.pg:
            return f"CAST(FLOOR({column} / {seconds}) AS BIGINT) * {seconds}"
        return f"CAST({column} / {seconds} AS INTEGER) * {seconds}"

    def rows(self, sql: str, params: Iterable[Any]) -> list[tuple[Any, ...]]:
        return list(self.db.execute_sql(sql, tuple(params)).fetchall())

    def scope(self, s: Scope, alias: str = "i") -> tuple[str, list[Any]]:
        """WHERE terms for the intents of ``s``."""
        terms = [f"{alias}.created_at >= {self.ph}", f"{alias}.created_at < {self.ph}"]
        params: list[Any] = [s.start, s.end]
        for column, values in (("origin_chain", s.origin_chains),
                               ("destination_chain", s.destination_chains),
                               ("input_token", s.input_tokens),
                               ("output_token", s.output_tokens)):
            if values:
                terms.append(f"{alias}.{column} IN ({', '.join([self.ph] * len(values))})")
                params += list(values)
        return " AND ".join(terms), params


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"   # constants of this module only


# ---- GetSummary ----------------------------------------------------------------------------
def summary(db: peewee.Database, s: Scope) -> SummaryFigures:
    """Two passes over the intents in range (the groups; the durations of the filled ones)
    and one over the hourly submission counts."""
    q = _Sql(db)
    where, params = q.scope(s)
    by_status: dict[str, int] = {}
    ins: dict[tuple[str, str], list[int]] = {}
    outs: dict[tuple[str, str], list[int]] = {}
    w = q.width
    for r in q.rows(
            f"SELECT i.status, i.origin_chain, i.input_token, i.destination_chain, i.output_token, "
            f"COUNT(*), {q.sums('i.input_amount')}, {q.sums('i.fill_amount')} FROM intent i "
            f"WHERE {where} GROUP BY 1, 2, 3, 4, 5", params):
        status, n = r[0], int(r[5])
        by_status[status] = by_status.get(status, 0) + n
        if status in FILLED:
            for into, key, amount in ((ins, (r[1], r[2]), q.total(r[6:6 + w])),
                                      (outs, (r[3], r[4]), q.total(r[6 + w:6 + 2 * w]))):
                acc = into.setdefault(key, [0, 0])
                acc[0] += amount
                acc[1] += n
    first_hour = math.floor(s.start / 3600) * 3600
    submissions = {code: int(n) for code, n in q.rows(
        f"SELECT code, SUM(count) FROM submission_count WHERE hour >= {q.ph} AND hour < {q.ph} "
        "GROUP BY code", (first_hour, s.end))}
    to_fill, to_settle = _durations(q, where, params)
    return SummaryFigures(by_status, submissions, _sums(ins), _sums(outs), to_fill, to_settle)


def _sums(acc: dict[tuple[str, str], list[int]]) -> list[TokenSum]:
    return [TokenSum(chain, token, amount, n) for (chain, token), (amount, n) in sorted(acc.items())]


def _aliased(predicate: str, alias: str) -> str:
    """A partial index's predicate on the columns of ``alias``."""
    return re.sub(r"\b(status|filled_at)\b", alias + r".\1", predicate)


def _durations(q: _Sql, where: str, params: list[Any]) -> tuple[Durations, Durations]:
    """Submit -> fill and fill -> settle of the intents in range that were filled, from
    ``intent.filled_at`` / ``settled_at`` (the times of the history's standing fill entry
    and settle entry, kept by the book: actors.book FILL_ENTRY, SETTLE_ENTRY): one read of
    0920's partial index, no join to the history."""
    inner = (
        "SELECT i.filled_at - i.created_at AS d1, i.settled_at - i.filled_at AS d2 "
        f"FROM intent i WHERE {where} AND {_aliased(FILLED_ROW, 'i')}")
    if q.pg:
        n1, a, b, n2, c, d = q.rows(
            "SELECT COUNT(d1), percentile_disc(0.5) WITHIN GROUP (ORDER BY d1), "
            "percentile_disc(0.9) WITHIN GROUP (ORDER BY d1), COUNT(d2), "
            "percentile_disc(0.5) WITHIN GROUP (ORDER BY d2), "
            f"percentile_disc(0.9) WITHIN GROUP (ORDER BY d2) FROM ({inner}) AS x", params)[0]
        return (Durations(int(n1), float(a or 0.0), float(b or 0.0)),
                Durations(int(n2), float(c or 0.0), float(d or 0.0)))
    rows = q.rows(inner, params)
    fills = sorted(r[0] for r in rows)
    settles = sorted(r[1] for r in rows if r[1] is not None)
    return (Durations(len(fills), nearest_rank(fills, 0.5), nearest_rank(fills, 0.9)),
            Durations(len(settles), nearest_rank(settles, 0.5), nearest_rank(settles, 0.9)))


def nearest_rank(ordered: Sequence[float], p: float) -> float:
    """The smallest sample with at least ``p`` of the samples at or below it (as
    PostgreSQL's percentile_disc); 0.0 for no samples."""
    if not ordered:
        return 0.0
    return float(ordered[max(0, math.ceil(p * len(ordered)) - 1)])


# ---- GetVolume ------------------------------------------------------------------------------
def volume(db: peewee.Database, s: Scope, bucket_seconds: int) -> list[VolumeRow]:
    q = _Sql(db)
    where, params = q.scope(s)
    filled = f"i.status IN {_in(FILLED)}"
    b = q.bucket("i.created_at", bucket_seconds)
    rows = q.rows(
        f"SELECT {b} AS b, i.origin_chain, i.input_token, i.destination_chain, i.output_token, "
        f"COUNT(*), SUM(CASE WHEN {filled} THEN 1 ELSE 0 END), "
        f"{q.sums(f'CASE WHEN {filled} THEN i.input_amount END')}, "
        f"{q.sums(f'CASE WHEN {filled} THEN i.fill_amount END')} "
        f"FROM intent i WHERE {where} GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5", params)
    w = q.width
    return [VolumeRow(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), int(r[6] or 0),
                      q.total(r[7:7 + w]), q.total(r[7 + w:7 + 2 * w])) for r in rows]


def count_intents(db: peewee.Database) -> int:
    """``SELECT count(*)`` of the intent table: the benchmark's floor."""
    return int(_Sql(db).rows("SELECT COUNT(*) FROM intent", ())[0][0])


def first_accepted(db: peewee.Database) -> float | None:
    """When the first intent was accepted (the start of PERIOD_ALL); None: no intent."""
    value = _Sql(db).rows("SELECT MIN(created_at) FROM intent", ())[0][0]
    return None if value is None else float(value)


# ---- GetSolverLeaderboard --------------------------------------------------------------------
def leaderboard(db: peewee.Database, now: float, window: float) -> list[SolverFigures]:
    """Every solver with a record: lifetime counters, window marks (``now - window``), the
    reorg-reverted evidence attributed to it, and the volume it delivered. Unsorted."""
    q = _Sql(db)
    marks: dict[str, dict[str, int]] = {}
    for solver, kind, n in q.rows(f"SELECT solver, kind, COUNT(*) FROM solver_mark WHERE at >= {q.ph} "
                                  "GROUP BY solver, kind", (now - window,)):
        marks.setdefault(solver, {})[kind] = int(n)
    reverts = {s: int(n) for s, n in q.rows(
        "SELECT COALESCE(NULLIF(t.solver, ''), NULLIF(i.filler, ''), i.solver) AS s, COUNT(*) "
        "FROM intent_transition t JOIN intent i ON i.id = t.intent "
        "WHERE t.reverted AND t.status IN ('OPENED', 'FILLED') "
        "GROUP BY 1", ())}
    volumes: dict[str, list[TokenSum]] = {}
    for r in q.rows(f"SELECT i.filler, i.destination_chain, i.output_token, COUNT(*), "
                    f"{q.sums('i.fill_amount')} FROM intent i WHERE i.status IN {_in(FILLED)} "
                    "AND i.filler <> '' GROUP BY 1, 2, 3 ORDER BY 1, 2, 3", ()):
        volumes.setdefault(r[0], []).append(TokenSum(r[1], r[2], q.total(r[4:]), int(r[3])))
    out = []
    rec: SolverRecord
    for rec in SolverRecord.select():
        out.append(SolverFigures(
            rec.solver, rec.offers, rec.bids, rec.wins, rec.fills, rec.failures, rec.declines,
            reverts.get(rec.solver, 0), rec.shortfalls, rec.median_response_ms,
            marks.get(rec.solver, {}), rec.suspended_until or 0.0, volumes.get(rec.solver, [])))
    return out
