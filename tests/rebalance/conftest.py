"""Rebalance and bridge relayer tests: one isolated devnet per session (free ports), a chain
snapshot per test, a real Node per test with the chain watchers, the rebalance kind and
the bridge relayer on a FakeClock, real SQLite (PostgreSQL for one test).

Driving without sleeps for timing: :meth:`Harness.step` advances the FakeClock (which
*tells* each watcher its tick), then asks each watcher for its status — its mailbox is
FIFO, so the reply means that tick was handled — then asks the relayer and the strategies
for one round. Every wait is thus a bounded number of deterministic steps.
The alerts actor is stood in for by :class:`runtime.testing.MessageRecorder` (the alerts
kind is someone else's; only the message contract matters here).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import grpc
import pytest

import devnet
from actors.bridge_relayer import PATH as RELAYER_CHILD, BridgeRelay, RelayPoll
from actors.bridge_relayer import install as install_relayer
from actors.chain_watcher import WatcherStatus
from actors.chain_watcher import install as install_watchers
from chains.evm.txsend import EvmTx
from actors.rebalance import Poll, RebalanceMove, Strategy
from actors.rebalance import install as install_rebalance
from devnet import free_ports
from orbital.v1 import admin_pb2, admin_pb2_grpc
from protocol import abi
from node import new_app
from actors import ALERTS_PATH
from runtime import ActorUnavailable
from runtime.config import App
from runtime.node import Node
from runtime.testing import FakeClock, MessageRecorder
from tests._evm import DevChain, dev_chains, reverted
from tests._node import TestNodes, chains_section

ONE_USDC = 10**6
TOKEN = "test-admin-token-0123456789"
ADMIN = [("authorization", f"Bearer {TOKEN}")]
RELAYER = "chains/" + RELAYER_CHILD


@pytest.fixture(scope="session")
def devnet_info(tmp_path_factory):
    with devnet.running(tmp_path_factory.mktemp("devnet"), ports=free_ports(2), quiet=True) as info:
        yield info


@dataclass
class Chain(DevChain):
    def __post_init__(self):
        c = self.info.contracts
        self.bridge = self.w3.eth.contract(address=c.bridge, abi=abi("Bridge"))
        self.usdc = self.w3.eth.contract(address=c.tokens["USDC"].address, abi=abi("TestToken"))

    def balance(self, who: str) -> int:
        return self.usdc.functions.balanceOf(who).call()

    def logs(self, event: str, from_block: int) -> list[dict]:
        ev = getattr(self.bridge.events, event)
        if from_block > self.head():
            return []
        return [dict(e["args"]) | {"tx": e["transactionHash"].to_0x_hex()}
                for e in ev.get_logs(from_block=from_block)]


@pytest.fixture(scope="session")
def _chains(devnet_info):
    return dev_chains(Chain, devnet_info)


@pytest.fixture
def chains(_chains):
    """Both chains, reverted to their pre-test state (and automine) afterwards."""
    yield from reverted(_chains)


@pytest.fixture(scope="session")
def roles(devnet_info):
    return {"operator": devnet_info.account("operator"),
            "relayer": devnet_info.account("bridge_relayer"),
            "outsider": devnet_info.accounts[9]}



def strategy_yaml(name: str, **opts) -> str:
    base = {"token": "USDC", "weights": "{devnet-a: 0.5, devnet-b: 0.5}", "tolerance": 0.05,
            "min_transfer": "'10'", "max_transfer": "'500000'", "cooldown": 0,
            "poll_interval": 3600, "move_timeout": 60, "dry_run": "false",
            "signer": "{key: '${ORBITAL_OPERATOR_KEY:-}'}"} | opts
    return f"    {name}: {{" + ", ".join(f"{k}: {v}" for k, v in base.items()) + "}"


@dataclass
class Harness:
    node: Node
    clock: FakeClock
    alerts: Any
    chains: tuple
    db: str
    channel: Any = None
    strategies: list[str] = field(default_factory=list)

    @property
    def store(self):
        return self.node.store

    def step(self, dt: float = 0.25) -> None:
        self.clock.advance(dt)
        for c in self.chains:
            self.node.registry.ask(f"chains/watcher/{c.name}", WatcherStatus(), timeout=20)
        if RELAYER in self.node.registry.paths("chains/"):
            self.relay()
        for s in self.strategies:
            self.poll(s)

    def poll(self, name: str) -> dict:
        deadline = time.monotonic() + 20
        while True:
            try:
                return self.node.registry.ask(f"rebalance/{name}", Poll(), timeout=20)
            except ActorUnavailable:        # restarting after a crash
                if time.monotonic() > deadline:
                    raise
                self.clock.advance(0)
                time.sleep(0.02)

    def relay(self) -> dict:
        return self.node.registry.ask(RELAYER, RelayPoll(), timeout=20)

    def until(self, cond, what: str, steps: int = 80):
        for _ in range(steps):
            self.step()
            value = cond()
            if value:
                return value
        raise AssertionError(f"not reached in {steps} steps: {what}")

    def moves(self, strategy: str | None = None) -> list[RebalanceMove]:
        with self.store.connection():
            q = RebalanceMove.select().order_by(RebalanceMove.created_at)
            if strategy:
                q = q.where(RebalanceMove.strategy == strategy)
            return list(q)

    def txs(self, owner: str | None = None) -> list[EvmTx]:
        with self.store.connection():
            q = EvmTx.select().order_by(EvmTx.id)
            if owner:
                q = q.where(EvmTx.owner == owner)
            return list(q)

    def relays(self) -> list[BridgeRelay]:
        with self.store.connection():
            return list(BridgeRelay.select())

    def alerts_seen(self) -> list:
        return self.alerts.ask("seen")

    def admin(self) -> admin_pb2_grpc.AdminServiceStub:
        if self.channel is None:
            self.channel = grpc.insecure_channel(f"127.0.0.1:{self.node.grpc_port}")
        return admin_pb2_grpc.AdminServiceStub(self.channel)

    def list_strategies(self) -> dict[str, admin_pb2.Strategy]:
        reply = self.admin().ListStrategies(admin_pb2.ListStrategiesRequest(), metadata=ADMIN,
                                            timeout=20)
        return {s.name: s for s in reply.strategies}


def make_app() -> App:
    app = new_app()
    install_watchers(app)
    install_rebalance(app)
    install_relayer(app)
    return app


@pytest.fixture
def rebalance_node(tmp_path, chains, roles):
    """start(db_url, strategies={name: yaml}, relayer=True, chain_opts={key: value}) ->
    Harness; same tmp_path and start block across calls in one test (a second call = a
    restart on the same store). ``chain_opts`` are extra keys of every chain (e.g.
    ``settlement_depth``)."""
    started: list[Harness] = []
    start_blocks = {c.name: c.head() + 1 for c in chains}
    group = {"intensity": 100, "period": 10, "backoff": {"initial": 0}}

    with TestNodes(tmp_path) as nodes:
        def write(db_url: str, strategies: dict[str, str],
                  chain_opts: dict[str, Any] | None = None) -> str:
            section = chains_section(chains, tokens=("USDC", "WETH"), confirmations=0,
                                     poll_interval=0.2, rpc_timeout=5, rpc_backoff_max=0.2,
                                     **(chain_opts or {}))
            for c in chains:
                section[c.name]["start_block"] = start_blocks[c.name]
            lines = ["rebalance:", "  strategies:" + ("" if strategies else " {}")]
            lines += [strategy_yaml(n, **({} if y is None else y)) if not isinstance(y, str) else y
                      for n, y in strategies.items()]
            lines += ["bridge_relayer:", "  key: ${ORBITAL_RELAYER_KEY:-}", "  poll_interval: 3600",
                      "  tx: {replace_after: 600}"]
            return nodes.config(db_url, {"chains": section}, extra="\n".join(lines) + "\n",
                                token=TOKEN, supervision={"chains": group, "rebalance": group})

        def start(db_url: str, strategies: dict[str, Any] | None = None, *,
                  relayer: bool = True, operator: bool = True,
                  chain_opts: dict[str, Any] | None = None) -> Harness:
            strategies = {"usdc": None} if strategies is None else strategies
            path = write(db_url, strategies, chain_opts)
            clock = FakeClock(wall_offset=time.time() - 1000.0)
            env = {"ORBITAL_OPERATOR_KEY": roles["operator"].private_key if operator else "",
                   "ORBITAL_RELAYER_KEY": roles["relayer"].private_key if relayer else ""}
            alerts = MessageRecorder.start()
            node = nodes.start(path, make_app, clock=clock, env=env,
                               register={ALERTS_PATH: alerts})
            h = Harness(node, clock, alerts, chains, db_url,
                        strategies=[n for n in strategies if operator])
            h.write = write
            started.append(h)
            return h

        def stop(h: Harness) -> None:
            if getattr(h, "stopped", False):
                return
            h.stopped = True
            if h.channel is not None:
                h.channel.close()
                h.channel = None
            nodes.stop(h.node)
            h.alerts.stop()

        start.stop = stop
        yield start
        Strategy.after_record = None
        for h in started:
            stop(h)
