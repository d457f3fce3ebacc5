"""Live reload of supervisor.yaml: by AdminService/ReloadConfig and by SIGHUP."""

from __future__ import annotations

import grpc
import pytest

from orbital.v1 import admin_pb2, admin_pb2_grpc
from runtime import ConfigError
from runtime.testing import EventRecorder

from .conftest import ADMIN, EchoSection, make_app, write_config


def reload(channel) -> admin_pb2.ReloadConfigResponse:
    return admin_pb2_grpc.AdminServiceStub(channel).ReloadConfig(
        admin_pb2.ReloadConfigRequest(), metadata=ADMIN, timeout=30)


def snapshot(node) -> dict[str, tuple]:
    return {a.path: (a.state, a.started_at, a.restarts) for a in node.describe()}


def test_reload_applies_a_diff(node_factory, channel_to, tmp_path, database_url):
    node = node_factory({"keep": "hi", "change": "hi", "drop": "hi"})
    ch = channel_to(node)
    keep_id = node.registry.ask("chains/echo/keep", "identity")
    before = snapshot(node)
    write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                 {"keep": "hi", "change": "bonjour", "add": "hallo"})
    reply = reload(ch)
    assert list(reply.started) == ["chains/echo/add"]
    assert list(reply.stopped) == ["chains/echo/drop"]
    assert list(reply.restarted) == ["chains/echo/change"]
    after = snapshot(node)
    # unchanged children keep their instance, state and uptime
    assert node.registry.ask("chains/echo/keep", "identity") == keep_id
    assert after["chains/echo/keep"] == before["chains/echo/keep"]
    assert after["store"] == before["store"]
    assert "chains/echo/drop" not in after
    assert node.registry.ask("chains/echo/change", "hi") == "bonjour from chains/echo/change"
    assert node.registry.ask("chains/echo/add", "hi") == "hallo from chains/echo/add"
    assert node.registry.paths("chains/echo/") == ["chains/echo/add", "chains/echo/change",
                                                   "chains/echo/keep"]


@pytest.mark.parametrize("text,where", [
    ("echo:\n  actors:\n    a: {greeting: [1, 2]}\n", "greeting"),
    ("echo:\n  actors:\n    a: {greting: x}\n", "unknown key"),
    ("echo: [\n", "invalid YAML"),
    ("supervision:\n  chains: {intensity: -1}\n", "expected >= 0"),
])
def test_invalid_reload_refused_tree_untouched(node_factory, channel_to, tmp_path, text,
                                               where):
    node = node_factory({"a": "hi"})
    ch = channel_to(node)
    before = snapshot(node)
    ident = node.registry.ask("chains/echo/a", "identity")
    (tmp_path / "supervisor.yaml").write_text(text)
    with pytest.raises(grpc.RpcError) as info:
        reload(ch)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert str(tmp_path / "supervisor.yaml") in info.value.details()
    assert where in info.value.details()
    assert snapshot(node) == before
    assert node.registry.ask("chains/echo/a", "identity") == ident
    assert node.config.section("echo", EchoSection).actors["a"].greeting == "hi"


def test_restart_only_settings_refused(node_factory, tmp_path, database_url):
    node = node_factory({"a": "hi"})
    write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                 {"a": "hi"}, grpc_port=1)
    with pytest.raises(ConfigError, match="node.grpc_listen: cannot change while running"):
        node.reload()


def test_root_escalation_stops_node_with_exit_code_1(tmp_path, database_url, nodes):
    path = write_config(tmp_path / "s.yaml", database_url, tmp_path / "var", {"a": "hi"},
                        supervision={"root": {"intensity": 0, "period": 60}})
    node = nodes.start(path, make_app)
    recorder = EventRecorder(node.events)
    for i in range(3):  # chains (intensity 3, no backoff) restarts the child 3 times
        node.registry.tell("chains/echo/a", "crash")
        recorder.wait_for("restarted", "chains/echo/a", count=i + 1)
    node.registry.tell("chains/echo/a", "crash")   # the 4th: chains escalates ...
    recorder.wait_for("escalated", "chains")
    recorder.wait_for("escalated", "root")         # ... and root (intensity 0) gives up
    assert node._done.wait(20), "node did not stop after the root escalated"
    assert node.exit_code == 1


def test_a_reload_rotates_the_admin_token(node_factory, channel_to, tmp_path, database_url):
    """The old token stops working with the reload that replaces it; the new one works."""
    node = node_factory({"a": "hi"})
    ch = channel_to(node)
    new = "rotated-admin-token-0123456789"
    write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var", {"a": "hi"},
                 token=new)
    reload(ch)
    stub = admin_pb2_grpc.AdminServiceStub(ch)
    with pytest.raises(grpc.RpcError) as err:
        stub.GetTree(admin_pb2.GetTreeRequest(), metadata=ADMIN, timeout=5)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    tree = stub.GetTree(admin_pb2.GetTreeRequest(),
                        metadata=[("authorization", f"Bearer {new}")], timeout=5)
    assert any(a.path == "chains/echo/a" for a in tree.actors)
