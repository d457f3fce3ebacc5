"""A real node on loopback (SQLite and PostgreSQL) with the alerts kind and a crashable
test actor (``chains/echo/<name>``: 'crash' crashes it, so its supervisor restarts it and
``orbital_actor_restarts_total`` grows), on a FakeClock so rule timing is driven by the
test, never slept."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from actors import alerts
from orbital.v1 import admin_pb2, admin_pb2_grpc
from node import new_app
from actors import ALERTS_PATH
from runtime import Actor, ChildSpec
from runtime.config import App, opt
from runtime.node import Node
from runtime.testing import EventRecorder, FakeClock

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
    lines = ["node:", "  grpc_listen: 127.0.0.1:0", "  metrics_listen: 127.0.0.1:0",
             f"  state_dir: {state_dir}", "  shutdown_timeout: 2", f"  admin_token: {TOKEN}",
             "database:", f"  url: '{database_url}'",
             "supervision:",
             "  root: {intensity: 100, period: 10, backoff: {initial: 0}}",
             "  chains: {intensity: 100, period: 10, backoff: {initial: 0}}",
             f"echo: {{actors: [{', '.join(echoes)}]}}"]
    text = "\n".join(lines) + "\n" + alerts_yaml
    path.write_text(text)
    return str(path)


class Handle:
    """A started node with its clock, events, admin stub and helpers."""

    def __init__(self, node: Node, clock: FakeClock) -> None:
        self.node, self.clock = node, clock
        self.rec = EventRecorder(node.events)
        self.channel = self.stub = None

    def connect(self) -> Handle:
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.node.grpc_port}")
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
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        self.rec.unsubscribe()
        self.node.shutdown()


@pytest.fixture
def node_at(tmp_path, database_url):
    """``start(alerts_yaml)`` starts a node (same database and config file each call, so a
    second call after ``close()`` is a node restart)."""
    handles: list[Handle] = []

    def start(alerts_yaml: str = "", clock: FakeClock | None = None, **kw) -> Handle:
        path = write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                            alerts_yaml, **kw)
        clock = clock or FakeClock()
        node = Node(path, make_app(), clock=clock)
        h = Handle(node, clock)   # subscribe before start: see every started event
        handles.append(h)
        node.start()
        return h.connect()
    yield start
    for h in handles:
        h.close()
