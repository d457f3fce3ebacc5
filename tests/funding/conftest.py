"""Funding tests: one isolated devnet per session (free ports), a chain snapshot per test,
a real Node per test with the funding kind on a FakeClock, real SQLite and PostgreSQL.

The node's supervisor.yaml is written by :func:`funding_node` (``chains`` + ``funding``);
the chain watchers are not installed (the funding actor reads balances itself). Alerts
are recorded by :class:`runtime.testing.MessageRecorder`, a real pykka actor registered at
``alerts`` (the path of ``actors.ALERTS_PATH``): a test recorder standing in for the
alerts kind, so the tests see exactly what the funding actors raise and resolve.

Rounds are driven with ``Poll`` asks; time (cooldown, replace_after, the 24 h window)
moves only when a test advances the FakeClock.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

import devnet
from chains.evm.config import ChainConfig
from actors.funding import FundingAccount, Poll, TopUpRow, install
from chains.evm.txsend import EvmTx
from devnet import free_ports
from protocol import abi
from node import new_app
from actors.alerts import RaiseAlert, ResolveAlert
from runtime import ActorUnavailable
from runtime.config import App
from runtime.node import Node
from runtime.testing import FakeClock, MessageRecorder
from tests._evm import DevChain, dev_chains, reverted
from tests._node import ADMIN, TestNodes, chains_section, node_config, yaml_value  # noqa: F401
from tests._node import write_config as _write

ETH = 10**18
ONE_USDC = 10**6


@pytest.fixture(scope="session")
def devnet_info(tmp_path_factory):
    with devnet.running(tmp_path_factory.mktemp("devnet"), ports=free_ports(2),
                        quiet=True) as info:
        yield info


@dataclass
class Chain(DevChain):
    def balance(self, who: str) -> int:
        return self.w3.eth.get_balance(Web3.to_checksum_address(who))

    def set_balance(self, who: str, wei: int) -> None:
        self.rpc("anvil_setBalance", who, hex(wei))

    def token(self, symbol: str):
        return self.w3.eth.contract(address=self.info.contracts.tokens[symbol].address,
                                    abi=abi("TestToken"))

    def token_balance(self, symbol: str, who: str) -> int:
        return self.token(symbol).functions.balanceOf(Web3.to_checksum_address(who)).call()


@pytest.fixture(scope="session")
def _chains(devnet_info):
    return dev_chains(Chain, devnet_info)


@pytest.fixture
def chains(_chains):
    """Both chains, reverted to their pre-test state (and automine) afterwards."""
    yield from reverted(_chains)


@pytest.fixture
def chain_a(chains) -> Chain:
    return chains[0]


@pytest.fixture(scope="session")
def treasury(devnet_info):
    return devnet_info.account("treasury")



def default_account(target: str, **opts) -> dict:
    return {"chain": "devnet-a", "address": target, "asset": "native", "min_balance": "1",
            "target_balance": "3", "max_per_top_up": "5", "daily_cap": "100",
            "cooldown": 0, "poll_interval": 600} | opts


@dataclass
class FundingNode:
    node: Node
    clock: FakeClock
    alerts: Any
    config_path: Any
    tx: dict
    chains: tuple

    def write(self, accounts: dict[str, dict]) -> None:
        """Rewrite supervisor.yaml with these accounts (then ``node.reload()``)."""
        write_config(self.config_path, self.node.config.database.url,
                     self.node.config.node.state_dir, accounts, self.chains, self.tx)

    def poll(self, name: str, timeout: float = 20.0):
        return poll(self.node, name, timeout)

    def seen_alerts(self) -> list:
        return self.alerts.ask("seen")


def write_config(path, database_url: str, state_dir, accounts: dict[str, dict],
                 chains: tuple, tx: dict | None = None, **node: Any) -> None:
    """The funding node's config: ``accounts`` as given (a str is a string; the default
    source is the key in FUNDING_KEY), ``tx`` keys are YAML text; ``node`` adds keys of
    ``node:`` (``name``, ``lease_ttl``, ports)."""
    tx = {"replace_after": 30, "min_priority_fee_gwei": 1} | (tx or {})
    funding = {"ask_timeout": 2, "tx": {k: yaml_value(v) for k, v in tx.items()},
               "accounts": {name: {"source": {"key": "${FUNDING_KEY:-}"}} | opts
                            for name, opts in accounts.items()}}
    _write(path, node_config(database_url, state_dir, {
        "chains": chains_section(chains, contracts=("settler",), rpc_backoff_max=0.2),
        "funding": funding}, supervision={
        "funding": {"intensity": 20, "period": 10, "backoff": {"initial": 0}}}, **node))


def make_app(real_alerts: bool = False) -> App:
    app = new_app()
    app.section("chains", dict[str, ChainConfig])   # the watchers' section, no watchers
    install(app)
    if real_alerts:                                  # the alerts kind instead of the recorder
        from actors.alerts import install as install_alerts
        install_alerts(app)
    return app


@pytest.fixture
def funding_node(tmp_path, chains, treasury):
    with TestNodes(tmp_path) as nodes:
        def start(database_url: str, accounts: dict[str, dict], *, key: str | None = None,
                  tx: dict | None = None, env: dict | None = None,
                  real_alerts: bool = False) -> FundingNode:
            cfg = tmp_path / "supervisor.yaml"
            write_config(cfg, database_url, tmp_path / "var", accounts, chains, tx)
            clock = FakeClock(wall_offset=time.time() - 1000.0)
            env = {"FUNDING_KEY": treasury.private_key if key is None else key} | (env or {})
            alerts = nodes.own(MessageRecorder.start((RaiseAlert, ResolveAlert)))
            node = nodes.start(str(cfg), make_app(real_alerts), clock=clock, env=env,
                               register=None if real_alerts else {"alerts": alerts})
            return FundingNode(node, clock, alerts, cfg, tx or {}, chains)
        yield start
        FundingAccount.on_step = None


def poll(node: Node, name: str, timeout: float = 20.0):
    """One round of ``funding/<name>`` (retried while it restarts after a crash)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return node.registry.ask(f"funding/{name}", Poll(), timeout=timeout)
        except ActorUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def top_ups(node: Node, name: str | None = None) -> list[TopUpRow]:
    with node.store.connection():
        q = TopUpRow.select().order_by(TopUpRow.id)
        if name:
            q = q.where(TopUpRow.account == name)
        return list(q)


def txs(node: Node) -> list[EvmTx]:
    with node.store.connection():
        return list(EvmTx.select().order_by(EvmTx.id))


def fresh_address() -> str:
    return Account.create().address
