"""Each AnalyticsService figure against the scenario of conftest.write_scenario, whose
numbers are known exactly, on SQLite and PostgreSQL, through a real gRPC server."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from actors.analytics import nearest_rank
from orbital.v1 import analytics_pb2 as A
from orbital.v1 import intents_pb2 as I

from .conftest import BIG, DAY, HOUR, S1, S2, S3, T0, USDC, WETH


def ts(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromSeconds(int(seconds))
    return t


def scenario_filter(**kw) -> A.Filter:
    return A.Filter(start_time=ts(T0), end_time=ts(T0 + 2 * DAY), **kw)


def amounts(entries) -> dict:
    return {(e.chain, e.token, e.symbol): (int(e.amount), e.intents) for e in entries}


def test_summary(analytics):
    _, stub = analytics
    s = stub.GetSummary(A.GetSummaryRequest(filter=scenario_filter()))
    assert s.start_time.seconds == T0 and s.end_time.seconds == T0 + 2 * DAY
    by_status = {e.status: e.count for e in s.by_status}
    assert len(by_status) == 9   # every status listed, zeros too
    assert by_status == {I.INTENT_STATUS_PENDING: 1, I.INTENT_STATUS_ASSIGNED: 0,
                         I.INTENT_STATUS_OPENED: 0, I.INTENT_STATUS_FILLED: 2,
                         I.INTENT_STATUS_SETTLED: 2, I.INTENT_STATUS_CANCELLED: 1,
                         I.INTENT_STATUS_EXPIRED: 1, I.INTENT_STATUS_REFUNDED: 0,
                         I.INTENT_STATUS_FAILED: 0}
    assert s.intents == 7
    assert (s.submitted, s.refused) == (10, 3)
    assert {c.code: c.count for c in s.submissions_by_code} == {
        "OK": 7, "INVALID_ARGUMENT": 2, "UNAUTHENTICATED": 1}
    assert amounts(s.volume_in) == {("devnet-a", USDC, "USDC"): (150_000_000, 2),
                                    ("devnet-a", WETH, "WETH"): (10**30 + 7 + BIG, 2)}
    assert amounts(s.volume_out) == {("devnet-b", USDC, "USDC"): (148_500_000, 2),
                                     ("devnet-b", WETH, "WETH"): (10**30 + 3 + BIG - 1, 2)}
    assert (s.filled, s.unfilled) == (4, 2)
    assert s.fill_rate == 4 / 6
    # submit -> fill: 60 (A), 90 (B: its reorged fill at 40 s does not count), 30 (C), 45 (H)
    assert (s.submit_to_fill.count, s.submit_to_fill.p50_seconds,
            s.submit_to_fill.p90_seconds) == (4, 45.0, 90.0)
    # fill -> settle: 240 (A), 100 (C)
    assert (s.fill_to_settle.count, s.fill_to_settle.p50_seconds,
            s.fill_to_settle.p90_seconds) == (2, 100.0, 240.0)


def test_summary_filters(analytics):
    _, stub = analytics
    weth = stub.GetSummary(A.GetSummaryRequest(filter=scenario_filter(
        origin_chain="31337", input_token="weth")))
    assert weth.intents == 2 and weth.filled == 2 and weth.fill_rate == 1.0
    assert amounts(weth.volume_in) == {("devnet-a", WETH, "WETH"): (10**30 + 7 + BIG, 2)}
    assert (weth.submit_to_fill.count, weth.submit_to_fill.p50_seconds) == (2, 30.0)
    first_hour = stub.GetSummary(A.GetSummaryRequest(filter=A.Filter(
        start_time=ts(T0), end_time=ts(T0 + HOUR), destination_chain="devnet-b",
        output_token=USDC)))
    assert first_hour.intents == 2 and first_hour.filled == 2 and first_hour.fill_rate == 1.0
    # submissions have hour resolution and no route
    assert (first_hour.submitted, first_hour.refused) == (9, 2)
    everything = stub.GetSummary(A.GetSummaryRequest(filter=A.Filter(period=A.PERIOD_ALL)))
    assert everything.intents == 8 and everything.start_time.seconds == T0 - 100
    assert everything.submitted == 110
    recent = stub.GetSummary(A.GetSummaryRequest())   # the last day: nothing
    assert recent.intents == 0 and recent.fill_rate == 0.0 and recent.submit_to_fill.count == 0


def bucket_rows(reply):
    return [(b.start.seconds, b.input_symbol, b.output_symbol, b.intents, b.filled,
             int(b.volume_in), int(b.volume_out)) for b in reply.buckets]


def test_volume_hourly_and_daily(analytics):
    _, stub = analytics
    hourly = stub.GetVolume(A.GetVolumeRequest(filter=scenario_filter(), bucket=A.BUCKET_HOUR))
    assert hourly.bucket == A.BUCKET_HOUR
    hour2 = sorted([(T0 + HOUR, "USDC", "USDC", 2, 0, 0, 0),
                    (T0 + HOUR, "WETH", "WETH", 2, 2, 10**30 + 7 + BIG, 10**30 + 3 + BIG - 1)],
                   key=lambda r: {"USDC": USDC, "WETH": WETH}[r[1]])
    assert bucket_rows(hourly) == [(T0, "USDC", "USDC", 2, 2, 150_000_000, 148_500_000), *hour2,
                                   (T0 + DAY, "USDC", "USDC", 1, 0, 0, 0)]
    b = hourly.buckets[0]
    assert (b.origin_chain, b.input_token, b.destination_chain, b.output_token) == \
        ("devnet-a", USDC, "devnet-b", USDC)
    daily = stub.GetVolume(A.GetVolumeRequest(filter=scenario_filter(), bucket=A.BUCKET_DAY))
    day1 = sorted([(T0, "USDC", "USDC", 4, 2, 150_000_000, 148_500_000),
                   (T0, "WETH", "WETH", 2, 2, 10**30 + 7 + BIG, 10**30 + 3 + BIG - 1)],
                  key=lambda r: {"USDC": USDC, "WETH": WETH}[r[1]])
    assert bucket_rows(daily) == [*day1, (T0 + DAY, "USDC", "USDC", 1, 0, 0, 0)]
    weth = stub.GetVolume(A.GetVolumeRequest(filter=scenario_filter(output_token="WETH"),
                                             bucket=A.BUCKET_DAY))
    assert [r[1] for r in bucket_rows(weth)] == ["WETH"]


def board(stub, **kw):
    return stub.GetSolverLeaderboard(A.GetSolverLeaderboardRequest(**kw))


def test_leaderboard_rows_and_order(analytics):
    _, stub = analytics
    reply = board(stub)
    assert reply.total == 3 and not reply.next_page_token
    assert [(e.rank, e.solver) for e in reply.entries] == [(1, S1), (2, S2), (3, S3)]
    one, two, three = reply.entries
    assert (one.offers, one.bids, one.wins, one.fills, one.fades, one.declines, one.reverts,
            one.shortfalls) == (10, 8, 3, 2, 1, 0, 0, 0)
    assert one.median_bid_latency_ms == 20.0
    assert one.reliability == 5 / 7                      # (3 + 2 opens) / (4 + 2 + 1 fade)
    assert amounts(one.volume) == {("devnet-b", USDC, "USDC"): (106_000_000, 2),
                                   ("devnet-b", WETH, "WETH"): (10**30 + 3, 1)}
    assert (two.fills, two.fades, two.declines, two.reverts, two.shortfalls) == (2, 0, 1, 1, 1)
    assert not two.HasField("median_bid_latency_ms")
    assert two.reliability == 4 / 7.5                    # the fade 8 days ago is out of the window
    assert amounts(two.volume) == {("devnet-b", USDC, "USDC"): (49_500_000, 1),
                                   ("devnet-b", WETH, "WETH"): (BIG - 1, 1)}
    assert not one.suspended and not two.suspended
    assert three.suspended and three.reliability == 0.75 and three.fills == 0
    assert three.median_bid_latency_ms == 7.0 and not three.volume


def test_leaderboard_paging(analytics):
    _, stub = analytics
    first = board(stub, page_size=2)
    assert [e.solver for e in first.entries] == [S1, S2] and first.next_page_token
    second = board(stub, page_size=2, page_token=first.next_page_token)
    assert [(e.rank, e.solver) for e in second.entries] == [(3, S3)]
    assert not second.next_page_token and second.total == 3
    ones = []
    token = ""
    while True:
        page = board(stub, page_size=1, page_token=token)
        ones += [e.solver for e in page.entries]
        token = page.next_page_token
        if not token:
            break
    assert ones == [S1, S2, S3]


def test_nearest_rank_matches_percentile_disc():
    assert nearest_rank([], 0.5) == 0.0
    assert nearest_rank([5.0], 0.9) == 5.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert nearest_rank([1.0, 2.0, 3.0, 4.0], 0.9) == 4.0
    assert nearest_rank(list(map(float, range(1, 11))), 0.9) == 9.0
