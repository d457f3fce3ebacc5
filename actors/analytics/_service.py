"""``orbital.v1.AnalyticsService``: the figures of :mod:`._query` as protobuf.

Requests are checked on the loop (:mod:`._request`: no store needed), the queries run on
the server's ``reads`` pool inside one store unit of work, and errors go through the
runtime's one mapping (``runtime.grpc.unary``). Read-only: every node answers from the
database it shares, whichever node's book leads.
"""

from __future__ import annotations

from typing import Any

from chains.directory import Directory, intent_chains_of
from orbital.v1 import analytics_pb2, analytics_pb2_grpc
from runtime.grpc import decode_token, encode_token, filters_digest, timestamp, unary

from actors.book import IntentsConfig, Status, reliability, status_pb

from . import _query
from ._request import bucket_of, page_size_of, scope_of, window_of

__all__ = ["AnalyticsServicer", "analytics_service"]

A = analytics_pb2
_STATUSES = tuple(Status)
_BOARD = filters_digest("leaderboard")   # the board has no filters; tokens name it


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    def __init__(self, node: Any) -> None:
        self.node = node
        self.metrics = node.metrics
        self._dir: tuple[object, Directory] | None = None

    def _directory(self) -> Directory:
        config = self.node.config
        if self._dir is None or self._dir[0] is not config:
            self._dir = (config, Directory(intent_chains_of(config)))
        return self._dir[1]

    def _symbols(self) -> dict[tuple[str, str], str]:
        return {(t.chain, t.address): t.symbol for c in self._directory().chains for t in c.tokens}

    def _first(self, db: Any) -> float:
        """The start of PERIOD_ALL: the first intent's acceptance (now when there is none)."""
        first = _query.first_accepted(db)
        return self.node.clock.wall() if first is None else first

    # ---- GetSummary ------------------------------------------------------------------------
    def _summary(self, request: A.GetSummaryRequest) -> A.Summary:
        window = window_of(request.filter, self.node.clock.wall())
        directory = self._directory()
        with self.node.store.connection() as db:
            scope = scope_of(request.filter, window, self._first(db) if window.start is None
                             else window.start, directory)
            f = _query.summary(db, scope)
        symbols = self._symbols()
        submitted = sum(f.submissions.values())
        return A.Summary(
            start_time=timestamp(scope.start), end_time=timestamp(scope.end), intents=f.intents,
            by_status=[A.StatusCount(status=status_pb(s), count=f.by_status.get(s.value, 0))
                       for s in _STATUSES],
            submitted=submitted, refused=submitted - f.submissions.get("OK", 0),
            submissions_by_code=[A.CodeCount(code=c, count=n)
                                 for c, n in sorted(f.submissions.items())],
            volume_in=[_amount(t, symbols) for t in f.volume_in],
            volume_out=[_amount(t, symbols) for t in f.volume_out],
            filled=f.filled, unfilled=f.unfilled,
            fill_rate=f.filled / (f.filled + f.unfilled) if f.filled + f.unfilled else 0.0,
            submit_to_fill=_durations(f.submit_to_fill), fill_to_settle=_durations(f.fill_to_settle))

    @unary("AnalyticsService/GetSummary")
    async def GetSummary(self, request, context):
        return await self.node.grpc.call(self._summary, request)

    # ---- GetVolume -------------------------------------------------------------------------
    def _volume(self, request: A.GetVolumeRequest) -> A.GetVolumeResponse:
        window = window_of(request.filter, self.node.clock.wall())
        if window.start is not None:   # refused before any query
            bucket_of(request.bucket, window.start, window.end)
        directory = self._directory()
        with self.node.store.connection() as db:
            scope = scope_of(request.filter, window, self._first(db) if window.start is None
                             else window.start, directory)
            seconds = bucket_of(request.bucket, scope.start, scope.end)
            rows = _query.volume(db, scope, seconds)
        symbols = self._symbols()
        return A.GetVolumeResponse(
            start_time=timestamp(scope.start), end_time=timestamp(scope.end),
            bucket=A.BUCKET_DAY if seconds == 86400 else A.BUCKET_HOUR,
            buckets=[A.VolumeBucket(
                start=timestamp(r.start), origin_chain=r.origin_chain, input_token=r.input_token,
                input_symbol=symbols.get((r.origin_chain, r.input_token), ""),
                destination_chain=r.destination_chain, output_token=r.output_token,
                output_symbol=symbols.get((r.destination_chain, r.output_token), ""),
                intents=r.intents, filled=r.filled, volume_in=str(r.volume_in),
                volume_out=str(r.volume_out)) for r in rows])

    @unary("AnalyticsService/GetVolume")
    async def GetVolume(self, request, context):
        return await self.node.grpc.call(self._volume, request)

    # ---- GetSolverLeaderboard --------------------------------------------------------------
    def _leaderboard(self, request: A.GetSolverLeaderboardRequest) -> A.GetSolverLeaderboardResponse:
        size = page_size_of(request.page_size)
        after = decode_token(request.page_token, _BOARD, "GetSolverLeaderboard", _position) \
            if request.page_token else None
        now = self.node.clock.wall()
        window = self.node.config.section("intents", IntentsConfig).reliability_window
        with self.node.store.connection() as db:
            solvers = _query.leaderboard(db, now, window)
        ranked = sorted(((s, reliability(s.marks)) for s in solvers),
                        key=lambda x: _key(x[0].fills, x[1], x[0].solver))
        start = 0
        if after is not None:
            mark = _key(*after)
            start = next((i for i, (s, r) in enumerate(ranked)
                          if _key(s.fills, r, s.solver) > mark), len(ranked))
        page = ranked[start:start + size]
        symbols = self._symbols()
        entries = [A.LeaderboardEntry(
            rank=start + i + 1, solver=s.solver, offers=s.offers, bids=s.bids, wins=s.wins,
            fills=s.fills, fades=s.fades, declines=s.declines, reverts=s.reverts,
            shortfalls=s.shortfalls, volume=[_amount(t, symbols) for t in s.volume],
            median_bid_latency_ms=s.median_bid_ms, reliability=r,
            suspended=s.suspended_until > now) for i, (s, r) in enumerate(page)]
        token = ""
        if start + size < len(ranked):
            last, score = page[-1]
            token = encode_token([last.fills, score, last.solver], _BOARD)
        return A.GetSolverLeaderboardResponse(entries=entries, next_page_token=token,
                                              total=len(ranked))

    @unary("AnalyticsService/GetSolverLeaderboard")
    async def GetSolverLeaderboard(self, request, context):
        return await self.node.grpc.call(self._leaderboard, request)


def _key(fills: int, score: float, solver: str) -> tuple[int, float, str]:
    """Best first: most fills, then most reliable, then address."""
    return (-fills, -score, solver)


def _position(value: Any) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], int)
            and not isinstance(value[0], bool) and value[0] >= 0
            and isinstance(value[1], (int, float)) and not isinstance(value[1], bool)
            and 0 <= value[1] <= 1 and isinstance(value[2], str) and len(value[2]) <= 64)


def _amount(t: _query.TokenSum, symbols: dict[tuple[str, str], str]) -> A.TokenAmount:
    return A.TokenAmount(chain=t.chain, token=t.token, symbol=symbols.get((t.chain, t.token), ""),
                         amount=str(t.amount), intents=t.intents)


def _durations(d: _query.Durations) -> A.Durations:
    return A.Durations(count=d.count, p50_seconds=d.p50, p90_seconds=d.p90)


def analytics_service(node: Any):
    name = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name
    return (name, analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server,
            AnalyticsServicer(node))

