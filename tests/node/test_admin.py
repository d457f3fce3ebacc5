"""AdminService, health and reflection through a real gRPC server on loopback."""

from __future__ import annotations

import os
import stat
import urllib.request

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from clients import field_violations
from orbital.v1 import admin_pb2, admin_pb2_grpc
from runtime.testing import EventRecorder, wait_until

from .conftest import ADMIN, make_app, write_config


def admin(channel):
    return admin_pb2_grpc.AdminServiceStub(channel)


def tree(channel) -> dict[str, admin_pb2.ActorInfo]:
    reply = admin(channel).GetTree(admin_pb2.GetTreeRequest(), metadata=ADMIN, timeout=10)
    return {a.path: a for a in reply.actors}


def test_reflection_lists_services(node_factory, channel_to):
    ch = channel_to(node_factory())
    stub = reflection_pb2_grpc.ServerReflectionStub(ch)
    replies = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
        list_services="")]), timeout=10)
    names = {s.name for r in replies for s in r.list_services_response.service}
    assert {"orbital.v1.AdminService", "grpc.health.v1.Health",
            "grpc.reflection.v1alpha.ServerReflection"} <= names


def test_health_serving_after_start(node_factory, channel_to):
    ch = channel_to(node_factory())
    stub = health_pb2_grpc.HealthStub(ch)
    for service in ("", "orbital.v1.AdminService"):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_health_goes_not_serving_on_shutdown(node_factory, channel_to):
    node = node_factory()
    ch = channel_to(node)
    watch = health_pb2_grpc.HealthStub(ch).Watch(health_pb2.HealthCheckRequest(service=""),
                                                 timeout=20)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    import threading
    threading.Thread(target=node.shutdown, daemon=True).start()
    statuses = []
    try:
        for reply in watch:
            statuses.append(reply.status)
    except grpc.RpcError:
        pass  # the stream ends when the server stops
    assert statuses[:1] == [health_pb2.HealthCheckResponse.NOT_SERVING]


@pytest.mark.parametrize("metadata,detail", [
    ([], "missing"),
    ([("authorization", "Bearer wrong-token-wrong-token")], "invalid admin token"),
    ([("authorization", "Basic dGVzdDp0ZXN0")], "invalid admin token"),
    ([("authorization", "test-admin-token-0123456789")], "invalid admin token"),
])
def test_admin_requires_bearer_token(node_factory, channel_to, metadata, detail):
    ch = channel_to(node_factory())
    for call, req in ((admin(ch).GetTree, admin_pb2.GetTreeRequest()),
                      (admin(ch).ReloadConfig, admin_pb2.ReloadConfigRequest()),
                      (admin(ch).StopActor, admin_pb2.StopActorRequest(path="store")),
                      (admin(ch).ListNodes, admin_pb2.ListNodesRequest()),
                      (admin(ch).ListFundingAccounts, admin_pb2.ListFundingAccountsRequest()),
                      (admin(ch).ListStrategies, admin_pb2.ListStrategiesRequest()),
                      (admin(ch).ListAlerts, admin_pb2.ListAlertsRequest())):
        with pytest.raises(grpc.RpcError) as info:
            call(req, metadata=metadata, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert detail in info.value.details()
    assert tree(ch)["store"].state == "running"  # the refused StopActor changed nothing


def test_admin_methods_of_absent_kinds_are_unimplemented(node_factory, channel_to):
    """ListFundingAccounts / ListStrategies / ListAlerts are served by actor kinds; a node
    without the kind answers UNIMPLEMENTED (after auth), naming the method, and nothing
    restarts."""
    ch = channel_to(node_factory())
    for call, req, name in (
            (admin(ch).ListFundingAccounts, admin_pb2.ListFundingAccountsRequest(),
             "ListFundingAccounts"),
            (admin(ch).ListStrategies, admin_pb2.ListStrategiesRequest(), "ListStrategies"),
            (admin(ch).ListAlerts, admin_pb2.ListAlertsRequest(), "ListAlerts")):
        with pytest.raises(grpc.RpcError) as info:
            call(req, metadata=ADMIN, timeout=5)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert f"AdminService/{name} is not served" in info.value.details()
    assert all(a.restarts == 0 and a.state == "running" for a in tree(ch).values())


def test_generated_admin_token_file(tmp_path, database_url, nodes, channel_to):
    path = write_config(tmp_path / "s.yaml", database_url, tmp_path / "var", token=None)
    node = nodes.start(path, make_app)
    token_file = tmp_path / "var" / "admin-token"
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    token = token_file.read_text().strip()
    assert len(token) >= 32
    reply = admin(channel_to(node)).GetTree(
        admin_pb2.GetTreeRequest(), metadata=[("authorization", f"Bearer {token}")])
    assert reply.node == "node-1"
    node2 = nodes.restart(node)  # same token on the next start
    assert node2.admin_token == token


def test_get_tree_shows_spec_groups_and_kinds(node_factory, channel_to):
    ch = channel_to(node_factory({"a": "hi"}))
    actors = tree(ch)
    assert list(actors)[:3] == ["root", "store", "chains"]
    assert {"intents", "intents/solvers", "funding", "rebalance"} <= set(actors)
    echo = actors["chains/echo/a"]
    assert (echo.kind, echo.state, echo.restarts) == ("echo", "running", 0)
    assert echo.started_at.seconds > 1_700_000_000


def test_list_nodes_shows_this_node(node_factory, channel_to, nodes):
    """Alone on its database (SQLite serves one node; a fresh PostgreSQL schema) a node
    lists itself, marked as the one answering, and leaves the registry at shutdown."""
    node = node_factory(heartbeat_interval=0.5)
    reply = admin(channel_to(node)).ListNodes(admin_pb2.ListNodesRequest(), metadata=ADMIN,
                                              timeout=10)
    [me] = reply.nodes
    assert (me.instance, me.name, me.pid, me.grpc_listen, me.this_node) == (
        node.instance, "node-1", os.getpid(), f"127.0.0.1:{node.grpc_port}", True)
    assert not me.leases and me.host
    assert me.advertise == me.grpc_listen   # bound on 127.0.0.1: others reach it there
    assert reply.seen_within_seconds == 1.5   # 3 x node.heartbeat_interval

    def last_seen():
        [n] = admin(channel_to(node)).ListNodes(admin_pb2.ListNodesRequest(), metadata=ADMIN,
                                                timeout=10).nodes
        return n.last_seen.ToNanoseconds(), n.started_at
    wait_until(lambda: last_seen()[0] > me.last_seen.ToNanoseconds(),
               what="the heartbeat to refresh last_seen")
    assert last_seen()[1] == me.started_at
    store = node.store
    nodes.stop(node)
    try:   # the store was closed with the node; a unit of work connects again
        assert store.list_nodes(3600) == []
    finally:
        store.close()


def test_restart_and_stop_actor_by_path(node_factory, channel_to):
    node = node_factory({"a": "hi"})
    ch = channel_to(node)
    before = node.registry.ask("chains/echo/a", "identity")
    reply = admin(ch).RestartActor(admin_pb2.RestartActorRequest(path="chains/echo/a"),
                                   metadata=ADMIN, timeout=10)
    assert reply.actor.restarts == 1 and reply.actor.state == "running"
    assert node.registry.ask("chains/echo/a", "identity") != before
    admin(ch).StopActor(admin_pb2.StopActorRequest(path="chains/echo/a"), metadata=ADMIN)
    assert tree(ch)["chains/echo/a"].state == "stopped"
    from runtime import ActorUnavailable
    with pytest.raises(ActorUnavailable):
        node.registry.ask("chains/echo/a", "ping")


@pytest.mark.parametrize("path,code,field", [
    ("", grpc.StatusCode.INVALID_ARGUMENT, "path"),
    ("root", grpc.StatusCode.INVALID_ARGUMENT, "path"),
    ("x" * 600, grpc.StatusCode.INVALID_ARGUMENT, "path"),
    ("chains/echo/nope", grpc.StatusCode.NOT_FOUND, None),
])
def test_restart_actor_refusals(node_factory, channel_to, path, code, field):
    ch = channel_to(node_factory({"a": "hi"}))
    with pytest.raises(grpc.RpcError) as info:
        admin(ch).RestartActor(admin_pb2.RestartActorRequest(path=path), metadata=ADMIN,
                               timeout=5)
    assert info.value.code() == code
    if field:
        assert [f for f, _ in field_violations(info.value)] == [field]


def test_metrics_endpoint(node_factory, channel_to):
    node = node_factory({"a": "hi"})
    ch = channel_to(node)
    tree(ch)
    with pytest.raises(grpc.RpcError):
        admin(ch).GetTree(admin_pb2.GetTreeRequest(), timeout=5)
    recorder = EventRecorder(node.events)
    node.registry.tell("chains/echo/a", "crash")
    recorder.wait_for("restarted", "chains/echo/a")
    body = urllib.request.urlopen(
        f"http://127.0.0.1:{node.metrics_port}/metrics", timeout=5).read().decode()
    assert 'orbital_actor_restarts_total{actor="chains/echo/a"} 1.0' in body
    assert 'orbital_grpc_requests_total{code="OK",method="AdminService/GetTree"} 1.0' in body
    assert ('orbital_grpc_requests_total{code="UNAUTHENTICATED",'
            'method="AdminService/GetTree"} 1.0') in body
    assert 'orbital_actor_mailbox_depth{actor="store"}' in body
    assert 'orbital_actor_message_seconds_count{actor="chains/echo/a"}' in body
    assert "orbital_node_serving 1.0" in body
