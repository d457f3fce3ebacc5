"""A real node on loopback (ports chosen by the OS) with a test actor kind plugged in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from node import new_app
from runtime import Actor, ChildSpec
from runtime.config import App, opt
from runtime.node import Node
from tests._node import ADMIN, TOKEN, TestNodes, node_config  # noqa: F401 - ADMIN: tests
from tests._node import write_config as _write


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
                 extra: str = "", token: str | None = TOKEN,
                 supervision: Mapping[str, Any] | None = None, **node: Any) -> str:
    """The echo kinds' node config at ``path`` (tests rewrite it to reload the node).
    ``supervision``: groups besides (or over) ``chains``; ``node``: keys of ``node:``."""
    groups = {"chains": {"intensity": 3, "period": 10, "backoff": {"initial": 0}}}
    echo = {"actors": {name: {"greeting": g} for name, g in (echoes or {}).items()}}
    doc = node_config(database_url, state_dir, {"echo": echo}, token=token,
                      supervision=groups | dict(supervision or {}), **node)
    return _write(path, doc, extra)


@pytest.fixture
def nodes(tmp_path):
    """The test's :class:`TestNodes`: the nodes of ``node_factory`` and the channels of
    ``channel_to``, and nodes a test starts on a config of its own."""
    with TestNodes(tmp_path) as nodes:
        yield nodes


@pytest.fixture
def node_factory(tmp_path, database_url, nodes):
    def start(echoes=None, **kw) -> Node:
        path = write_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                            echoes, **kw)
        return nodes.start(path, make_app)
    return start


@pytest.fixture
def channel_to(nodes):
    return nodes.channel
