"""The analytics figures as SQL over the book's tables: pure (a database and a scope in,
plain values out), the same answers on SQLite and PostgreSQL.

Why SQL and not Python loops: at 100,000 intents a Python pass over the rows costs a few
hundred milliseconds; grouped in the database it is one index range scan. Two things
differ between the databases and are handled here, in one place:

- **exact sums.** uint256 amounts are ``NUMERIC(78,0)`` on PostgreSQL (``SUM`` is exact)
  but decimal *text* on SQLite, where ``SUM`` would turn them into 64-bit floats. On SQLite
  each amount is cut into 12-digit pieces from the right (``substr``), each piece summed as
  a 64-bit integer, and the pieces put back together in Python: exact for up to 9.2
  million rows per group (9.2e18 / 1e12), and SQLite raises "integer overflow" rather
  than round if that is ever passed.
- **percentiles.** PostgreSQL computes them (``percentile_disc``); SQLite returns the
  durations sorted and the nearest-rank sample is picked here. Both are nearest-rank (the
  smallest sample with at least p of the samples at or below it), so the answers agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import peewee

from actors.book import SolverRecord

__all__ = ["Scope", "TokenSum", "Durations", "SummaryFigures", "VolumeRow", "SolverFigures", "nearest_rank",
           "summary", "volume", "leaderboard", "FILLED", "UNFILLED", "count_intents"]

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
    q = _Sql(db)
    where, params = q.scope(s)
    by_status = {status: int(n) for status, n in q.rows(
        f"SELECT i.status, COUNT(*) FROM intent i WHERE {where} GROUP BY i.status", params)}
    volume_in = _token_sums(q, "origin_chain", "input_token", "input_amount", where, params)
    volume_out = _token_sums(q, "destination_chain", "output_token", "fill_amount", where, params)
    first_hour = math.floor(s.start / 3600) * 3600
    submissions = {code: int(n) for code, n in q.rows(
        f"SELECT code, SUM(count) FROM submission_count WHERE hour >= {q.ph} AND hour < {q.ph} "
        "GROUP BY code", (first_hour, s.end))}
    fill = _first_fill(q)
    to_fill = _durations(q, f"SELECT f.at - i.created_at AS d FROM intent i JOIN {fill} f "
                            f"ON f.intent = i.id WHERE {where}", params)
    to_settle = _durations(
        q, f"SELECT st.at - f.at AS d FROM intent i JOIN {fill} f ON f.intent = i.id "
           "JOIN intent_transition st ON st.intent = i.id AND st.status = 'SETTLED' "
           f"AND st.reverted = {_false(q)} WHERE {where}", params)
    return SummaryFigures(by_status, submissions, volume_in, volume_out, to_fill, to_settle)


def _false(q: _Sql) -> str:
    return "FALSE" if q.pg else "0"


def _first_fill(q: _Sql) -> str:
    """The FILLED entry of each intent whose evidence stands (one per intent: a reorg
    marks the one it removed ``reverted``, and a FILLED -> FILLED entry records a finding,
    not the fill). A subquery joined by intent id."""
    return ("(SELECT intent, MIN(at) AS at FROM intent_transition WHERE status = 'FILLED' "
            f"AND from_status <> 'FILLED' AND reverted = {_false(q)} GROUP BY intent)")


def _token_sums(q: _Sql, chain: str, token: str, amount: str, where: str,
                params: list[Any]) -> list[TokenSum]:
    rows = q.rows(f"SELECT i.{chain}, i.{token}, COUNT(*), {q.sums('i.' + amount)} FROM intent i "
                  f"WHERE {where} AND i.status IN {_in(FILLED)} GROUP BY i.{chain}, i.{token} "
                  f"ORDER BY i.{chain}, i.{token}", params)
    return [TokenSum(r[0], r[1], q.total(r[3:]), int(r[2])) for r in rows]


def _durations(q: _Sql, inner: str, params: list[Any]) -> Durations:
    if q.pg:
        n, p50, p90 = q.rows(
            "SELECT COUNT(*), percentile_disc(0.5) WITHIN GROUP (ORDER BY d), "
            f"percentile_disc(0.9) WITHIN GROUP (ORDER BY d) FROM ({inner}) AS x", params)[0]
        return Durations(int(n), float(p50 or 0.0), float(p90 or 0.0))
    samples = [r[0] for r in q.rows(f"{inner} ORDER BY d", params)]
    return Durations(len(samples), nearest_rank(samples, 0.5), nearest_rank(samples, 0.9))


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
        f"WHERE t.reverted = {'TRUE' if q.pg else '1'} AND t.status IN ('OPENED', 'FILLED') "
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
