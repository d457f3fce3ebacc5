"""Bad analytics requests: each is INVALID_ARGUMENT with a BadRequest field violation
naming the field, through the runtime's one error mapping, on a real server."""

from __future__ import annotations

import grpc
import pytest

from google.protobuf.timestamp_pb2 import Timestamp

from clients import field_violations
from orbital.v1 import analytics_pb2 as A
from runtime.grpc import encode_token, filters_digest

from .conftest import DAY, T0, USDC
from .test_figures import scenario_filter, ts

WEEK_OF_HOURS = A.Filter(start_time=ts(T0), end_time=ts(T0 + 7 * DAY))
LONG = "x" * 100_000

CASES = [
    # (method, request, field, words in the message)
    ("GetSummary", A.GetSummaryRequest(filter=scenario_filter(origin_chain="nope")),
     "filter.origin_chain", "unknown chain 'nope'"),
    ("GetSummary", A.GetSummaryRequest(filter=scenario_filter(destination_chain="999")),
     "filter.destination_chain", "unknown chain '999'"),
    ("GetSummary", A.GetSummaryRequest(filter=scenario_filter(origin_chain=LONG)),
     "filter.origin_chain", "unknown chain"),
    ("GetVolume", A.GetVolumeRequest(filter=scenario_filter(input_token="DOGE")),
     "filter.input_token", "unknown token 'DOGE' on every configured chain"),
    ("GetSummary", A.GetSummaryRequest(filter=scenario_filter(
        destination_chain="devnet-b", output_token="0x" + "00" * 19 + "01")),
     "filter.output_token", "unknown token"),
    ("GetSummary", A.GetSummaryRequest(filter=A.Filter(start_time=ts(T0 + 10), end_time=ts(T0))),
     "filter.end_time", "end_time must be after start_time"),
    ("GetVolume", A.GetVolumeRequest(filter=A.Filter(start_time=ts(T0), end_time=ts(T0))),
     "filter.end_time", "end_time must be after start_time"),
    ("GetSummary", A.GetSummaryRequest(filter=A.Filter(period=A.PERIOD_WEEK, start_time=ts(T0))),
     "filter.period", "give period or start_time, not both"),
    ("GetSummary", A.GetSummaryRequest(filter=A.Filter(period=99)), "filter.period",
     "unknown period 99"),
    ("GetSummary", A.GetSummaryRequest(filter=A.Filter(start_time=ts(-5))), "filter.start_time",
     "between 1970 and 9999"),
    ("GetSummary", A.GetSummaryRequest(filter=A.Filter(start_time=ts(T0), end_time=Timestamp(seconds=10**12))),
     "filter.end_time", "between 1970 and 9999"),
    ("GetVolume", A.GetVolumeRequest(filter=WEEK_OF_HOURS, bucket=7), "bucket", "unknown bucket 7"),
    ("GetVolume", A.GetVolumeRequest(filter=A.Filter(start_time=ts(T0 - 3 * 365 * DAY),
                                                     end_time=ts(T0)), bucket=A.BUCKET_HOUR),
     "bucket", "the range spans 26280 buckets of 1 h; at most 1000"),
    # PERIOD_ALL starts at the first intent (January 2026): more than 1000 hours ago
    ("GetVolume", A.GetVolumeRequest(filter=A.Filter(period=A.PERIOD_ALL)), "bucket",
     "at most 1000"),
    ("GetSolverLeaderboard", A.GetSolverLeaderboardRequest(page_size=-1), "page_size",
     "page_size must be 1 to 500"),
    ("GetSolverLeaderboard", A.GetSolverLeaderboardRequest(page_size=501), "page_size",
     "page_size must be 1 to 500"),
    ("GetSolverLeaderboard", A.GetSolverLeaderboardRequest(page_token="garbage"), "page_token",
     "not a token returned by GetSolverLeaderboard"),
    ("GetSolverLeaderboard", A.GetSolverLeaderboardRequest(
        page_token=encode_token([1, 2.5, "0x"], filters_digest("leaderboard"))), "page_token",
     "not a token returned by GetSolverLeaderboard"),
    ("GetSolverLeaderboard", A.GetSolverLeaderboardRequest(
        page_token=encode_token(5, filters_digest("leaderboard"))), "page_token",
     "not a token returned by GetSolverLeaderboard"),
    ("GetSolverLeaderboard", A.GetSolverLeaderboardRequest(
        page_token=encode_token([1, 0.5, "0x"], filters_digest("other"))), "page_token",
     "issued for different filters"),
]


def test_bad_input_names_the_field(analytics):
    _, stub = analytics
    for method, request, field, words in CASES:
        with pytest.raises(grpc.RpcError) as err:
            getattr(stub, method)(request)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, err.value.details())
        assert words in err.value.details(), (method, err.value.details())
        assert len(err.value.details()) < 1000
        assert field_violations(err.value)[0][0] == field, (method, request)
    # the same filters, well formed, are answered
    assert stub.GetVolume(A.GetVolumeRequest(filter=WEEK_OF_HOURS)).buckets
    assert stub.GetSummary(A.GetSummaryRequest(filter=scenario_filter(
        destination_chain="devnet-b", output_token=USDC))).intents == 5
    assert stub.GetVolume(A.GetVolumeRequest(filter=A.Filter(period=A.PERIOD_ALL),
                                             bucket=A.BUCKET_DAY)).buckets
