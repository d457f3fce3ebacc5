"""A real node on loopback (SQLite and PostgreSQL) with the alerts kind and a crashable
test actor (``chains/echo/<name>``: 'crash' crashes it, so its supervisor restarts it and
``orbital_actor_restarts_total`` grows), on a FakeClock so rule timing is driven by the
test, never slept."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from actors import alerts
from orbital.v1 import admin_pb2, admin_pb2_grpc
from node import new_app
from actors import ALERTS_PATH
from runtime import Actor, ChildSpec
from runtime.config import App, opt
from runtime.node import Node
from runtime.testing import EventRecorder, FakeClock
from tests._node import TestNodes, node_config
from tests._node import write_config as _write

TOKEN = "alerts-admin-token-0123456789"
ADMIN = [("authorization", f"Bearer {TOKEN}")]


@dataclass(frozen=True)
class EchoSection:
    actors: tuple[str, ...] = opt(factory=tuple)


class Echo(Actor):
    """Test kind: 'crash' crashes it; anything else is echoed."""

    kind = "echo"

    def handle(self, message):
        if message == "crash":
            raise RuntimeError("asked to crash")
        return message


def make_app() -> App:
    app = new_app()
    app.section("echo", EchoSection)
    alerts.install(app)

    @app.provide("chains")
    def echoes(config):
        return [ChildSpec(f"echo/{n}", Echo, None) for n in config.section("echo", EchoSection).actors]
    return app


def write_config(path, database_url: str, state_dir, alerts_yaml: str = "",
                 echoes: tuple[str, ...] = ("a",)) -> str:
    group = {"intensity": 100, "period": 10, "backoff": {"initial": 0}}
    doc = node_config(database_url, state_dir, {"echo": {"actors": list(echoes)}}, token=TOKEN,
                      supervision={"root": group, "chains": group})
    return _write(path, doc, alerts_yaml)


class Handle:
    """A started node with its clock, events, admin stub and helpers."""

    def __init__(self, node: Node, clock: FakeClock) -> None:
        self.node, self.clock = node, clock
        self.rec = EventRecorder(node.events)
        self.channel = self.stub = None

    def connect(self, nodes: TestNodes) -> Handle:
        self.nodes = nodes
        self.channel = nodes.channel(self.node)
        self.stub = admin_pb2_grpc.AdminServiceStub(self.channel)
        return self

    def list(self, include_resolved: bool = False, metadata=ADMIN):
        reply = self.stub.ListAlerts(admin_pb2.ListAlertsRequest(
            include_resolved=include_resolved), metadata=metadata, timeout=10)
        return list(reply.alerts)

    def sync(self) -> int:
        return self.node.registry.ask(ALERTS_PATH, alerts.Sync(), timeout=10)

    def tick(self, seconds: float, steps: int = 1) -> None:
        """Advance the clock ``steps`` times by ``seconds``, each followed by a barrier
        (the evaluation a timer told is handled, and the next timer armed)."""
        for _ in range(steps):
            self.clock.advance(seconds)
            self.sync()

    def crash(self, path: str, times: int) -> None:
        before = len(self.rec.of("restarted", path))
        for i in range(times):
            self.rec.wait_for("started", path, count=before + i + 1)
            self.node.registry.tell(path, "crash")
            self.rec.wait_for("restarted", path, count=before + i + 1)

    def close(self) -> None:
        self.rec.unsubscribe()
        self.nodes.stop(self.node)   # its channel, then the node


@pytest.fixture
def node_at(tmp_path, database_url):
    """``start(alerts_yaml)`` starts a node (same database and config file each call, so a
    second call after ``close()`` is a node restart)."""
    with TestNodes(tmp_path) as nodes:
        handles: list[Handle] = []

        def start(alerts_yaml: str = "", clock: FakeClock | None = None, **kw) -> Handle:
            path = write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                                alerts_yaml, **kw)
            clock = clock or FakeClock()
            # subscribe before start: see every started event
            nodes.start(path, make_app, clock=clock,
                        before_start=lambda node: handles.append(Handle(node, clock)))
            return handles[-1].connect(nodes)
        yield start
        for h in handles:
            h.rec.unsubscribe()
