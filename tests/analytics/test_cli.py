"""``orbital summary | volume | leaderboard``: the installed console script in a subprocess
against a real node serving the scenario of conftest (SQLite and PostgreSQL): tables a
person reads, ``--json`` for scripts, refusals with the field and exit 1, bad options 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import BIG, S1, S2, S3

ORBITAL = str(Path(sys.executable).with_name("orbital"))
RANGE = ["--since", "2026-01-01T00:00:00Z", "--until", "2026-01-03"]


def orbital(node, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([ORBITAL, *args, "--address", f"127.0.0.1:{node.grpc_port}"],
                          capture_output=True, text=True, timeout=60)


def test_summary_table_and_json(analytics):
    node, _ = analytics
    table = orbital(node, "summary", *RANGE)
    assert table.returncode == 0, table.stderr
    out = table.stdout
    assert "intents accepted 2026-01-01 00:00 .. 2026-01-03 00:00 UTC: 7" in out
    assert "fill rate 66.7%" in out
    assert "submit -> fill: 4 fills, p50 45s, p90 90s" in out
    assert "fill -> settle: 2 settled, p50 100s, p90 240s" in out
    assert "submitted 10, refused 3 (by code: INVALID_ARGUMENT 2, OK 7, UNAUTHENTICATED 1" in out
    assert any(line.split() == ["devnet-a:WETH", str(10**30 + 7 + BIG), "2"]
               for line in out.splitlines())
    assert any(line.split() == ["SETTLED", "2"] for line in out.splitlines())
    doc = json.loads(orbital(node, "summary", *RANGE, "--from-chain", "31337", "--input", "USDC",
                             "--json").stdout)
    assert doc["intents"] == "5" and doc["filled"] == "2"
    assert doc["volume_in"] == [{"chain": "devnet-a", "token": doc["volume_in"][0]["token"],
                                 "symbol": "USDC", "amount": "150000000", "intents": "2"}]


def test_volume_table_and_json(analytics):
    node, _ = analytics
    table = orbital(node, "volume", *RANGE, "--bucket", "day")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.splitlines()
    assert lines[0] == "per day, 2026-01-01 00:00 .. 2026-01-03 00:00 UTC"
    assert lines[1].split()[:5] == ["START", "ROUTE", "INTENTS", "FILLED", "VOLUME"]
    assert "devnet-a:USDC -> devnet-b:USDC" in table.stdout
    assert len(lines) == 5   # head, columns, three buckets
    doc = json.loads(orbital(node, "volume", *RANGE, "--output", "WETH", "--json").stdout)
    assert [(b["intents"], b["volume_in"]) for b in doc["buckets"]] == [("2", str(10**30 + 7 + BIG))]


def test_leaderboard_table_json_and_pages(analytics):
    node, _ = analytics
    table = orbital(node, "leaderboard")
    assert table.returncode == 0, table.stderr
    rows = [line.split() for line in table.stdout.splitlines()[1:4]]
    assert [(r[0], r[1]) for r in rows] == [("1", S1), ("2", S2), ("3", S3)]
    assert rows[0][2:12] == ["10", "8", "3", "2", "1", "0", "0", "0", "20", "0.714"]
    assert "0.750 suspended" in table.stdout and "3 of 3 solver(s)" in table.stdout
    page = orbital(node, "leaderboard", "--limit", "2")
    assert "2 of 3 solver(s)" in page.stdout and "more: --page-token " in page.stdout
    token = page.stdout.rsplit("--page-token ", 1)[1].strip()
    rest = json.loads(orbital(node, "leaderboard", "--page-token", token, "--json").stdout)
    assert [e["solver"] for e in rest["entries"]] == [S3] and rest["next_page_token"] == ""
    every = json.loads(orbital(node, "leaderboard", "--limit", "1", "--all", "--json").stdout)
    assert [e["solver"] for e in every["entries"]] == [S1, S2, S3]
    assert every["entries"][1]["reverts"] == "1"


def test_refusals_and_bad_options(analytics):
    node, _ = analytics
    refused = orbital(node, "summary", "--from-chain", "nope")
    assert refused.returncode == 1
    assert refused.stderr.startswith("INVALID_ARGUMENT: unknown chain 'nope'")
    assert "[filter.origin_chain: unknown chain 'nope'" in refused.stderr
    inverted = orbital(node, "volume", "--since", "2026-01-02", "--until", "2026-01-01")
    assert inverted.returncode == 1 and "filter.end_time" in inverted.stderr
    bad = orbital(node, "summary", "--since", "yesterday")
    assert bad.returncode == 2 and "--since: 'yesterday' is neither" in bad.stderr
    page = orbital(node, "leaderboard", "--limit", "501")
    assert page.returncode == 1 and "page_size" in page.stderr
