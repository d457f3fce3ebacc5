"""The service on a full node (every kind of build_app): health and reflection; and
submissions and refusals by code, counted by the intent service as real clients submit,
read back through GetSummary, and still there after the node restarts (the counts are
durable: submission_count)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from orbital.v1 import analytics_pb2 as A
from orbital.v1 import analytics_pb2_grpc
from orbital.v1 import intents_pb2
from runtime.testing import wait_until
from tests.intents.conftest import USERS, make_order, signed_request


def test_submissions_and_refusals_by_code(intents_node, nodes):
    node, intents = intents_node()
    stub = nodes.stub(node, analytics_pb2_grpc.AnalyticsServiceStub)
    intents.SubmitIntent(signed_request(make_order(nonce=1)))
    intents.SubmitIntent(signed_request(make_order(nonce=2)))
    refusals = [
        (signed_request(make_order(nonce=1)), grpc.StatusCode.ALREADY_EXISTS),
        (signed_request(make_order(nonce=3), key=USERS[1].private_key),
         grpc.StatusCode.UNAUTHENTICATED),
        (intents_pb2.SubmitIntentRequest(signature="0x" + "11" * 65),
         grpc.StatusCode.INVALID_ARGUMENT),
    ]
    for request, code in refusals:
        with pytest.raises(grpc.RpcError) as err:
            intents.SubmitIntent(request)
        assert err.value.code() == code
    batch = intents.SubmitIntents(intents_pb2.SubmitIntentsRequest(orders=[
        signed_request(make_order(nonce=4)),
        signed_request(make_order(nonce=5), key=USERS[1].private_key)]))
    assert [r.HasField("intent") for r in batch.results] == [True, False]
    with pytest.raises(grpc.RpcError):   # an empty batch: refused as a whole, counted once
        intents.SubmitIntents(intents_pb2.SubmitIntentsRequest())
    expected = {"OK": 3, "ALREADY_EXISTS": 1, "UNAUTHENTICATED": 2, "INVALID_ARGUMENT": 2}

    def counted():
        s = stub.GetSummary(A.GetSummaryRequest(filter=A.Filter(period=A.PERIOD_HOUR)))
        return s if s.submitted == sum(expected.values()) else None
    s = wait_until(counted, what="the submission counts written")
    assert {c.code: c.count for c in s.submissions_by_code} == expected
    assert s.refused == 5 and s.intents == 3
    node = nodes.restart(node)
    stub = nodes.stub(node, analytics_pb2_grpc.AnalyticsServiceStub)
    again = stub.GetSummary(A.GetSummaryRequest(filter=A.Filter(period=A.PERIOD_HOUR)))
    assert {c.code: c.count for c in again.submissions_by_code} == expected


def test_served_with_reflection_and_health(intents_node, nodes):
    """The full node registers the service like the others: health SERVING, and grpcurl
    (the real binary) calls it with no proto files, through server reflection."""
    node, _ = intents_node()
    health = nodes.stub(node, health_pb2_grpc.HealthStub)
    reply = health.Check(health_pb2.HealthCheckRequest(service="orbital.v1.AnalyticsService"),
                         timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    grpcurl = Path(sys.executable).parent / "grpcurl"
    run = subprocess.run(
        [str(grpcurl), "-plaintext", "-d", '{"filter": {"period": "PERIOD_HOUR"}}',
         f"127.0.0.1:{node.grpc_port}", "orbital.v1.AnalyticsService/GetSummary"],
        capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert len(doc["by_status"]) == 9 and doc["start_time"] < doc["end_time"]
    refused = subprocess.run(
        [str(grpcurl), "-plaintext", "-d", '{"page_size": 1000}', f"127.0.0.1:{node.grpc_port}",
         "orbital.v1.AnalyticsService/GetSolverLeaderboard"], capture_output=True, text=True,
        timeout=60)
    assert "Code: InvalidArgument" in refused.stderr and "page_size" in refused.stderr
