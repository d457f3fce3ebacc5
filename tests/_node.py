"""Shared by every test package that runs a real node: write its supervisor.yaml, start it,
open gRPC channels to it, stop it (and what was plugged into it) after the test.

A plain module (not a conftest), beside :mod:`tests._evm`: each package keeps its fixture
(its signature is what its tests call) but builds it on :class:`TestNodes`, so the node
section, the store, the devnet chains and the teardown order are written once. The config
is a dict dumped as YAML; text a test wrote as YAML (a section body, extra sections) stays
text, so what a test passes is read exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import yaml

from runtime.config import App
from runtime.node import Node

__all__ = ["ADMIN", "TOKEN", "TestNodes", "chains_section", "dump", "env_secret", "node_config",
           "write_config", "yaml_value"]

TOKEN = "test-admin-token-0123456789"
ADMIN = [("authorization", f"Bearer {TOKEN}")]


def yaml_value(value: Any) -> Any:
    """A keyword a test passes for a config key: a str is YAML text (``"['0x11..']"``,
    ``"'10'"``), as the tests wrote it into the file; a dict's values likewise; anything
    else (numbers, lists of str) is the value itself."""
    if isinstance(value, str):
        return yaml.safe_load(value)
    if isinstance(value, dict):
        return {k: yaml_value(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return list(value)
    return value


def chains_section(chains: Iterable[Any], *, contracts: Iterable[str] = ("settler", "bridge"),
                   tokens: bool | Iterable[str] = True, **options: Any) -> dict[str, Any]:
    """The ``chains`` section for devnet chains (``devnet.ChainInfo``, or anything with a
    ``.info`` that is one, such as :class:`tests._evm.DevChain`): chain id, RPC, the named
    contracts, ``tokens`` (all, none, or these symbols) and ``options`` on every chain.
    Per-chain keys (a ``start_block``) are set on the returned dict by the caller."""
    section: dict[str, Any] = {}
    for chain in chains:
        info = getattr(chain, "info", chain)
        entry = {"chain_id": info.chain_id, "rpc": [info.rpc_url],
                 "contracts": {k: getattr(info.contracts, k) for k in contracts}}
        entry |= {k: yaml_value(v) for k, v in options.items()}
        if tokens:
            wanted = info.contracts.tokens if tokens is True else tokens
            entry["tokens"] = {s: {"address": info.contracts.tokens[s].address,
                                   "decimals": info.contracts.tokens[s].decimals}
                               for s in wanted}
        section[info.name] = entry
    return section


def env_secret(value: str) -> str:
    """``${VAR}`` for a secret a test puts in a config: secrets are never inline, so the value
    goes into this process's environment (subprocess nodes inherit it) under a name of its
    own, and the file names the variable; a value already written as ``${...}`` is kept."""
    if value.startswith("${"):
        return value
    import hashlib
    import os
    var = "ORBITAL_TEST_SECRET_" + hashlib.sha256(value.encode()).hexdigest()[:12].upper()
    os.environ[var] = value
    return "${" + var + "}"


def node_config(database_url: str, state_dir: Path | str,
                sections: Mapping[str, Any] | None = None, *, token: str | None = TOKEN,
                supervision: Mapping[str, Any] | None = None, grpc_port: int = 0,
                admission: bool | None = None, **node: Any) -> dict[str, Any]:
    """A test node's config: loopback ports from the OS (gRPC on ``grpc_port`` if given),
    the test admin token (``None``: no token), a 2 s shutdown, then ``sections``. ``node``
    adds or overrides keys of ``node:`` (``name``, ``shutdown_timeout``).

    ``admission=False`` turns the on-chain admission of orders off (``admission: {enabled:
    false}``), for tests about other subjects whose users are not funded and approved on a
    chain (or whose chains are not running); ``None`` leaves the product default (on). Only
    for an app that installs the admission kind (``build_app``)."""
    head = {"grpc_listen": f"127.0.0.1:{grpc_port}", "metrics_listen": "127.0.0.1:0",
            "state_dir": str(state_dir), "shutdown_timeout": 2}
    if token:
        head["admin_token"] = env_secret(token)
    doc: dict[str, Any] = {"node": head | node, "database": {"url": str(database_url)}}
    if supervision:
        doc["supervision"] = dict(supervision)
    doc |= dict(sections or {})
    if admission is not None and "admission" not in doc:
        doc["admission"] = {"enabled": admission}
    return doc


class _Dumper(yaml.SafeDumper):
    """Writes a dict used twice (one supervision group for two) out twice, not as an
    anchor and alias, so the file reads like one written by hand."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(doc: Mapping[str, Any]) -> str:
    """``doc`` as YAML text, keys in the order given."""
    return yaml.dump(dict(doc), Dumper=_Dumper, sort_keys=False)


def write_config(path: Path | str, doc: Mapping[str, Any], extra: str = "") -> str:
    """Write ``doc`` as YAML, then the YAML text ``extra`` (more sections), to ``path``."""
    Path(path).write_text(dump(doc) + extra)
    return str(path)


@dataclass
class _Started:
    """How a node was started, so :meth:`TestNodes.restart` can start it again."""

    path: str
    app: Callable[[], App]
    clock: Any
    env: Mapping[str, str] | None
    register: Mapping[str, Any]
    before_start: Callable[[Node], None] | None


class TestNodes:
    """The nodes one test starts, in ``tmp_path``; a context manager whose exit closes
    every channel, shuts every node down, then stops the actors handed to :meth:`own`
    (recorders registered into a node must outlive it). A module-scoped fixture (one node
    for many calls: property tests, CLI runs) gives it a ``tmp_path_factory`` directory.

    ``config`` writes supervisor.yaml (state in ``tmp_path/var``; SQLite in ``tmp_path``
    unless a database URL is given: ``pg_url`` for PostgreSQL); ``start`` builds and
    starts a node on it; ``restart`` starts it again on the same file and store.
    """

    __test__ = False   # not a test class, though its name starts with Test

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = Path(tmp_path)
        self.nodes: list[Node] = []
        self._how: dict[int, _Started] = {}
        self._stopped: set[int] = set()
        self._channels: list[tuple[Node, grpc.Channel]] = []
        self._owned: list[Any] = []

    def __enter__(self) -> TestNodes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- config ------------------------------------------------------------------------
    def config(self, database_url: str | None = None, sections: Mapping[str, Any] | None = None,
               *, extra: str = "", file: str = "supervisor.yaml", admission: bool | None = None,
               **node: Any) -> str:
        """Write ``tmp_path/file`` (see :func:`node_config`; SQLite in ``tmp_path`` unless
        ``database_url``) and return its path."""
        doc = node_config(database_url or f"sqlite:///{self.tmp_path}/orbital.db",
                          self.tmp_path / "var", sections, admission=admission, **node)
        return write_config(self.tmp_path / file, doc, extra)

    # ---- nodes -------------------------------------------------------------------------
    def start(self, path: str, app: App | Callable[[], App], *, clock: Any = None,
              env: Mapping[str, str] | None = None, register: Mapping[str, Any] | None = None,
              before_start: Callable[[Node], None] | None = None) -> Node:
        """A started Node on the config at ``path``. ``register``: actors put at these
        paths before the tree starts (recorders standing in for a kind); ``before_start``
        sees the node before it starts (to subscribe to its events from the first)."""
        factory = (lambda: app) if isinstance(app, App) else app
        if env is not None:   # the test's own environment, plus the secrets of its configs
            import os
            env = {**{k: v for k, v in os.environ.items() if k.startswith("ORBITAL_TEST_SECRET_")},
                   **env}
        how = _Started(path, factory, clock, env, dict(register or {}), before_start)
        return self._start(how)

    def _start(self, how: _Started) -> Node:
        node = Node(how.path, how.app(), clock=how.clock, env=how.env)
        for where, ref in how.register.items():
            node.registry.register(where, ref)
        if how.before_start is not None:
            how.before_start(node)
        self.nodes.append(node)
        self._how[id(node)] = how
        return node.start()

    def stop(self, node: Node) -> None:
        """Close the channels to ``node``, then shut it down (once: the exit of the context
        skips it)."""
        for ch in [ch for n, ch in self._channels if n is node]:
            ch.close()
        self._channels = [(n, ch) for n, ch in self._channels if n is not node]
        if id(node) not in self._stopped:
            self._stopped.add(id(node))
            node.shutdown()

    def restart(self, node: Node) -> Node:
        """Stop ``node`` and start a new one as it was started (same file, same store)."""
        self.stop(node)
        return self._start(self._how[id(node)])

    def own(self, actor: Any) -> Any:
        """Stop ``actor`` (a pykka ref) after the nodes."""
        self._owned.append(actor)
        return actor

    # ---- gRPC --------------------------------------------------------------------------
    def channel(self, node: Node, **options: Any) -> grpc.Channel:
        """A channel to ``node`` (grpc ``options`` as keywords), closed with the nodes."""
        ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}",
                                   options=list(options.items()) or None)
        self._channels.append((node, ch))
        return ch

    def stub(self, node: Node, stub_class: Callable[[grpc.Channel], Any]) -> Any:
        return stub_class(self.channel(node))

    def close(self) -> None:
        for _, ch in self._channels:
            ch.close()
        self._channels.clear()
        for node in self.nodes:
            self.stop(node)
        for actor in self._owned:
            actor.stop()
        self._owned.clear()
