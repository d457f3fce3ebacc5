"""A real node on loopback (ports chosen by the OS) with a test actor kind plugged in."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
import pytest

from node import new_app
from runtime import Actor, ChildSpec
from runtime.config import App, opt
from runtime.node import Node


@dataclass(frozen=True)
class EchoConfig:
    greeting: str = "hello"
    crash_on_start: bool = False


@dataclass(frozen=True)
class EchoSection:
    actors: dict[str, EchoConfig] = opt(factory=dict, pattern=r"[a-z0-9-]+")


class Echo(Actor):
    """A test kind: answers with its greeting; 'crash' crashes it."""

    kind = "echo"

    def setup(self):
        if self.config.crash_on_start:
            raise RuntimeError("configured to fail at start")
        import uuid
        self.instance = uuid.uuid4().hex

    def handle(self, message):
        if message == "crash":
            raise RuntimeError("asked to crash")
        if message == "identity":
            return self.instance
        return f"{self.config.greeting} from {self.path}"


def make_app() -> App:
    app = new_app()
    app.section("echo", EchoSection)

    @app.provide("chains")
    def echoes(config):
        section = config.section("echo", EchoSection)
        return [ChildSpec(f"echo/{name}", Echo, cfg) for name, cfg in section.actors.items()]
    return app


def write_config(path, database_url: str, state_dir, echoes: dict[str, str] | None = None,
                 extra: str = "", token: str | None = "test-admin-token-0123456789") -> str:
    lines = [
        "node:",
        "  grpc_listen: 127.0.0.1:0",
        "  metrics_listen: 127.0.0.1:0",
        f"  state_dir: {state_dir}",
        "  shutdown_timeout: 2",
    ]
    if token:
        lines.append(f"  admin_token: {token}")
    lines += ["database:", f"  url: '{database_url}'",
              "supervision:", "  chains: {intensity: 3, period: 10, backoff: {initial: 0}}",
              "echo:", "  actors:"]
    for name, greeting in (echoes or {}).items():
        lines.append(f"    {name}: {{greeting: {greeting}}}")
    if not echoes:
        lines[-1] = "  actors: {}"
    text = "\n".join(lines) + "\n" + extra
    with open(path, "w") as fh:
        fh.write(text)
    return str(path)


@pytest.fixture
def node_factory(tmp_path, database_url):
    nodes: list[Node] = []

    def start(echoes=None, **kw) -> Node:
        path = write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                            echoes, **kw)
        node = Node(path, make_app()).start()
        nodes.append(node)
        return node
    yield start
    for node in nodes:
        node.shutdown()


@pytest.fixture
def channel_to():
    channels = []

    def connect(node: Node) -> grpc.Channel:
        ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
        channels.append(ch)
        return ch
    yield connect
    for ch in channels:
        ch.close()


ADMIN = [("authorization", "Bearer test-admin-token-0123456789")]
