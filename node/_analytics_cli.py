"""``orbital summary | volume | leaderboard``: the AnalyticsService as tables (or ``--json``).

Public calls (no admin token), like ``orbital chains``. Times are unix seconds or ISO 8601
(UTC when no offset is given); chains by config name or chain id; tokens by symbol or
address. A refusal prints its gRPC code, message and the field at fault on one line, and
exits 1; a bad option exits 2 (:mod:`._cli_util`). Amounts are base units, exact, with the token's symbol.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from clients import open_channel
from clients import table_lines
from clients.cli import tls_options
from orbital.v1 import analytics_pb2 as A
from orbital.v1 import analytics_pb2_grpc
from orbital.v1 import intents_pb2

from ._cli_util import UsageError, add_target_arguments, as_dict, guarded

__all__ = ["add_analytics_commands"]

_PERIODS = {"hour": A.PERIOD_HOUR, "day": A.PERIOD_DAY, "week": A.PERIOD_WEEK,
            "month": A.PERIOD_MONTH, "all": A.PERIOD_ALL}
_BUCKETS = {"hour": A.BUCKET_HOUR, "day": A.BUCKET_DAY}


def _time(text: str, option: str) -> Timestamp:
    try:
        if text.replace(".", "", 1).isdigit():
            when = datetime.fromtimestamp(float(text), UTC)
        else:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        ts = Timestamp()
        ts.FromDatetime(when)
        return ts
    except (ValueError, OverflowError, OSError):
        raise UsageError(f"{option}: {text!r} is neither unix seconds nor an ISO 8601 time") from None


def _filter(args: argparse.Namespace) -> A.Filter:
    f = A.Filter(origin_chain=args.from_chain or "", destination_chain=args.to_chain or "",
                 input_token=args.input or "", output_token=args.output or "")
    if args.period:
        f.period = _PERIODS[args.period]
    if args.since:
        f.start_time.CopyFrom(_time(args.since, "--since"))
    if args.until:
        f.end_time.CopyFrom(_time(args.until, "--until"))
    return f


def _stub(args: argparse.Namespace) -> tuple[grpc.Channel, Any]:
    channel = open_channel(args.address, tls_options(args))
    return channel, analytics_pb2_grpc.AnalyticsServiceStub(channel)


def _when(ts: Timestamp) -> str:
    return ts.ToDatetime(UTC).strftime("%Y-%m-%d %H:%M")


def _token(chain: str, symbol: str, address: str) -> str:
    return f"{chain}:{symbol or address}"


def _seconds(value: float) -> str:
    return f"{value:g}s"


def summary_lines(s: A.Summary) -> list[str]:
    lines = [f"intents accepted {_when(s.start_time)} .. {_when(s.end_time)} UTC: {s.intents}"]
    lines += ["  " + line for line in table_lines(
        [("STATUS", "COUNT")] + [(intents_pb2.IntentStatus.Name(c.status).removeprefix(
            "INTENT_STATUS_"), str(c.count)) for c in s.by_status], frozenset({1}))]
    lines.append(f"filled {s.filled}, ended unfilled {s.unfilled}, fill rate "
                 f"{s.fill_rate * 100:.1f}%")
    lines.append(f"submit -> fill: {s.submit_to_fill.count} fills, p50 "
                 f"{_seconds(s.submit_to_fill.p50_seconds)}, p90 "
                 f"{_seconds(s.submit_to_fill.p90_seconds)}")
    lines.append(f"fill -> settle: {s.fill_to_settle.count} settled, p50 "
                 f"{_seconds(s.fill_to_settle.p50_seconds)}, p90 "
                 f"{_seconds(s.fill_to_settle.p90_seconds)}")
    codes = ", ".join(f"{c.code} {c.count}" for c in s.submissions_by_code) or "none"
    lines.append(f"submitted {s.submitted}, refused {s.refused} (by code: {codes}; whole hours)")
    for title, entries in (("volume in (filled intents' input)", s.volume_in),
                           ("volume out (delivered by their fills)", s.volume_out)):
        lines.append(title + ":")
        if not entries:
            lines.append("  none")
            continue
        lines += ["  " + line for line in table_lines(
            [("TOKEN", "AMOUNT", "INTENTS")]
            + [(_token(t.chain, t.symbol, t.token), t.amount, str(t.intents)) for t in entries],
            frozenset({1, 2}))]
    return lines


def volume_lines(v: A.GetVolumeResponse) -> list[str]:
    size = "day" if v.bucket == A.BUCKET_DAY else "hour"
    head = f"per {size}, {_when(v.start_time)} .. {_when(v.end_time)} UTC"
    if not v.buckets:
        return [head, "no intents"]
    rows = [("START", "ROUTE", "INTENTS", "FILLED", "VOLUME IN", "VOLUME OUT")]
    rows += [(_when(b.start), f"{_token(b.origin_chain, b.input_symbol, b.input_token)} -> "
              f"{_token(b.destination_chain, b.output_symbol, b.output_token)}",
              str(b.intents), str(b.filled), b.volume_in, b.volume_out) for b in v.buckets]
    return [head, *table_lines(rows, frozenset({2, 3, 4, 5}))]


def leaderboard_lines(entries: Sequence[A.LeaderboardEntry], total: int) -> list[str]:
    rows = [("#", "SOLVER", "OFFERS", "BIDS", "WINS", "FILLS", "FADES", "DECLINES", "REVERTS",
             "SHORT", "BID MS", "RELIABILITY", "VOLUME")]
    for e in entries:
        latency = f"{e.median_bid_latency_ms:g}" if e.HasField("median_bid_latency_ms") else "-"
        score = f"{e.reliability:.3f}" + (" suspended" if e.suspended else "")
        volume = ", ".join(f"{t.amount} {_token(t.chain, t.symbol, t.token)}" for t in e.volume)
        rows.append((str(e.rank), e.solver, str(e.offers), str(e.bids), str(e.wins),
                     str(e.fills), str(e.fades), str(e.declines), str(e.reverts),
                     str(e.shortfalls), latency, score, volume or "-"))
    return [*table_lines(rows, frozenset(range(2, 11)) | {0}), f"{len(entries)} of {total} solver(s)"]


def cmd_summary(args: argparse.Namespace) -> int:
    channel, stub = _stub(args)
    with channel:
        reply = stub.GetSummary(A.GetSummaryRequest(filter=_filter(args)), timeout=args.timeout)
    print(json.dumps(as_dict(reply)) if args.json else "\n".join(summary_lines(reply)))
    return 0


def cmd_volume(args: argparse.Namespace) -> int:
    channel, stub = _stub(args)
    with channel:
        reply = stub.GetVolume(A.GetVolumeRequest(filter=_filter(args), bucket=_BUCKETS[args.bucket]),
                               timeout=args.timeout)
    print(json.dumps(as_dict(reply)) if args.json else "\n".join(volume_lines(reply)))
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    """One page (``--limit``, ``--page-token``), or every page with ``--all``."""
    channel, stub = _stub(args)
    entries: list[A.LeaderboardEntry] = []
    token, total = args.page_token or "", 0
    with channel:
        while True:
            reply = stub.GetSolverLeaderboard(A.GetSolverLeaderboardRequest(
                page_size=args.limit, page_token=token), timeout=args.timeout)
            entries += reply.entries
            token, total = reply.next_page_token, reply.total
            if not (args.all and token):
                break
    if args.json:
        print(json.dumps({"entries": [as_dict(e) for e in entries], "total": total,
                          "next_page_token": token}))
    else:
        lines = leaderboard_lines(entries, total)
        if token:
            lines.append(f"more: --page-token {token}")
        print("\n".join(lines))
    return 0


def add_analytics_commands(sub: Any) -> None:
    """Add summary/volume/leaderboard to ``sub`` (argparse subparsers)."""
    def common(name: str, text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=text, description=text)
        add_target_arguments(p, admin=False)
        p.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
        return p

    def filters(p: argparse.ArgumentParser) -> None:
        p.add_argument("--period", choices=sorted(_PERIODS),
                       help="the last hour, day (default), week, month (30 days), or all")
        p.add_argument("--since", help="start: unix seconds or ISO 8601 (instead of --period)")
        p.add_argument("--until", help="end (default now)")
        p.add_argument("--from-chain", help="origin chain: name or chain id")
        p.add_argument("--to-chain", help="destination chain: name or chain id")
        p.add_argument("--input", help="input token: symbol or address")
        p.add_argument("--output", help="output token: symbol or address")

    p = common("summary", "intents by status, submissions and refusals by code, volume, fill "
                          "rate and times to fill and settle, over a period")
    filters(p)
    p.set_defaults(fn=guarded(cmd_summary))
    p = common("volume", "intents and volume per hour or day and route")
    filters(p)
    p.add_argument("--bucket", choices=sorted(_BUCKETS), default="hour")
    p.set_defaults(fn=guarded(cmd_volume))
    p = common("leaderboard", "solvers best first: counters, reliability, volume")
    p.add_argument("--limit", type=int, default=0, help="rows per page (default 50, max 500)")
    p.add_argument("--page-token", help="the token a previous page printed")
    p.add_argument("--all", action="store_true", help="every page")
    p.set_defaults(fn=guarded(cmd_leaderboard))
