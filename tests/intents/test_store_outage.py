"""A PostgreSQL outage under a running node: UNAVAILABLE meanwhile, no crash, recovery.

The issue reproduces it with ``pg_ctlcluster --skip-systemctl-redirect 15 main stop``.
This machine's system PostgreSQL is shared by other test runs in parallel, so stopping it
would fail them: the test runs its own PostgreSQL server instead (the same server binary,
``runtime.testing.scratch_postgres_server``: initdb, then ``pg_ctl stop -m fast`` and
``pg_ctl start`` on its data directory), which is the same outage for the node.
"""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from node import build_app
from orbital.v1 import admin_pb2, admin_pb2_grpc, intents_pb2
from orbital.v1 import intents_pb2_grpc
from runtime.testing import scratch_postgres_server, wait_until
from tests._node import ADMIN, TestNodes

from .conftest import make_order, signed_request, write_node_config

P = intents_pb2


def _refusal(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request)
    return err.value


def _submitted(stub, request) -> bool:
    try:
        stub.SubmitIntent(request)
        return True
    except grpc.RpcError as exc:
        assert exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ALREADY_EXISTS), exc
        return exc.code() == grpc.StatusCode.ALREADY_EXISTS


def test_postgres_outage_is_unavailable_and_the_node_recovers(tmp_path):
    with scratch_postgres_server() as pg, TestNodes(tmp_path) as nodes:
        path = write_node_config(tmp_path / "supervisor.yaml", pg.url, tmp_path / "var")
        node = nodes.start(path, build_app)
        stub = nodes.stub(node, intents_pb2_grpc.IntentServiceStub)
        admin = nodes.stub(node, admin_pb2_grpc.AdminServiceStub)
        health = nodes.stub(node, health_pb2_grpc.HealthStub)
        before = stub.SubmitIntent(signed_request(make_order(nonce=1)))
        restarts = _restarts(admin)

        pg.stop()
        for nonce in (2, 3, 4):      # the book's held connection breaks, then connects fail
            err = _refusal(stub.SubmitIntent, signed_request(make_order(nonce=nonce)))
            assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
            assert "the database is unavailable; retry" in err.details()
        err = _refusal(stub.GetIntent, P.GetIntentRequest(id=before.id))
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        # The node is up and says so; the book answered, it did not crash.
        assert health.Check(health_pb2.HealthCheckRequest()).status == \
            health_pb2.HealthCheckResponse.SERVING
        book = {a.path: a for a in admin.GetTree(admin_pb2.GetTreeRequest(), metadata=ADMIN).actors}
        assert book["intents/book"].state == "running" and book["intents/book"].restarts == 0
        assert node.exit_code == 0

        pg.start()
        again = signed_request(make_order(nonce=2))
        wait_until(lambda: _submitted(stub, again), what="a submission once the database is back")
        assert stub.GetIntent(P.GetIntentRequest(id=before.id)).version == 1
        listed = stub.ListIntents(P.ListIntentsRequest()).intents
        assert sorted(i.id for i in listed) == sorted(
            [before.id, "0x" + make_order(nonce=2).order_id.hex()])
        assert node.exit_code == 0
        # No actor of the tree was restarted over the outage (a store error is typed now;
        # whether a given poll loop met it depends on its timing, not asserted here).
        assert _restarts(admin) == restarts


def _restarts(admin) -> dict[str, int]:
    tree = admin.GetTree(admin_pb2.GetTreeRequest(), metadata=ADMIN).actors
    return {a.path: a.restarts for a in tree if not a.dynamic}


def test_a_node_started_while_its_database_is_down_waits_for_it(tmp_path):
    """Started with PostgreSQL down, the node does not exit: it is up, NOT_SERVING, and
    answers UNAVAILABLE; once the database is back it starts its tree and serves."""
    import threading
    with scratch_postgres_server() as pg, TestNodes(tmp_path) as nodes:
        path = write_node_config(tmp_path / "supervisor.yaml", pg.url, tmp_path / "var")
        pg.stop()
        seen: list = []
        started = threading.Thread(
            target=lambda: nodes.start(path, build_app, before_start=seen.append), daemon=True)
        started.start()
        node = wait_until(lambda: seen[0] if seen and getattr(seen[0], "grpc_port", 0) else None,
                          what="the node's gRPC port")
        health = nodes.stub(node, health_pb2_grpc.HealthStub)
        stub = nodes.stub(node, intents_pb2_grpc.IntentServiceStub)
        assert health.Check(health_pb2.HealthCheckRequest()).status == \
            health_pb2.HealthCheckResponse.NOT_SERVING
        err = _refusal(stub.SubmitIntent, signed_request(make_order(nonce=1)))
        assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
        assert started.is_alive() and node.exit_code == 0   # waiting, not exited

        pg.start()
        started.join(60)
        assert not started.is_alive()
        assert health.Check(health_pb2.HealthCheckRequest()).status == \
            health_pb2.HealthCheckResponse.SERVING
        got = stub.SubmitIntent(signed_request(make_order(nonce=1)))
        assert got.status == P.INTENT_STATUS_PENDING and node.exit_code == 0
