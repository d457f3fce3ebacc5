"""The whole system on a devnet: every actor kind of build_app (watchers, book, attester,
solver sessions, quoter, keeper), the reference solver from clients/, and the client
library, as a user would run them (issue 4's end-to-end tests)."""

from __future__ import annotations

import os
import time

import pytest
import yaml
from web3 import Web3

import devnet
from node import build_app
from devnet import chains_yaml, free_ports
from protocol import abi
from runtime.node import Node
from runtime.testing import wait_until  # noqa: F401 - shared by the test modules here
from tests._node import ADMIN, TOKEN, TestNodes, write_config  # noqa: F401 - shared
from tests._node import node_config as _node_config


@pytest.fixture(scope="module")
def devnet_info(tmp_path_factory):
    # solana-local too: every EVM flow runs with a Solana chain (and its watcher) configured
    port = free_ports(1)[0]
    with devnet.running(tmp_path_factory.mktemp("devnet"), ports=free_ports(2), quiet=True,
                        solana=True, solana_port=port) as info:
        yield info


@pytest.fixture(scope="module")
def w3s(devnet_info):
    return [Web3(Web3.HTTPProvider(c.rpc_url, request_kwargs={"timeout": 30})) for c in devnet_info.chains]


def erc20(w3, address):
    return w3.eth.contract(address=address, abi=abi("TestToken"))


def settler(w3, address):
    return w3.eth.contract(address=address, abi=abi("OrbitalSettler"))


def node_config(path, devnet_info, database_url, state_dir, *, confirmations: int = 0,
                intents: str = "", keeper: str = "") -> str:
    """Every kind on the devnet; ``intents`` and ``keeper`` (its tasks) are YAML lines."""
    doc = _node_config(database_url, state_dir, {
        "intents": {"auction_window": 0.2, "min_open_window": 0, "heartbeat_interval": 0.5,
                    "heartbeat_timeout": 5} | (yaml.safe_load(intents) or {}),
        "attester": {"key": "${ORBITAL_ATTESTER_KEY}", "poll_interval": 0.2},
        "quoter": {"cache_ttl": 0, "prices": {"USDC": {"static": "1"}, "WETH": {"static": "3000"},
                                             "SOL": {"static": "150"}}},
        "keeper": {"tasks": yaml.safe_load(keeper) or {}}}, shutdown_timeout=3)
    return write_config(path, doc, chains_yaml(devnet_info, poll_interval=0.1,
                                               confirmations=confirmations))


@pytest.fixture
def system(tmp_path, devnet_info, database_url):
    """start(**config) -> a running Node on the devnet (stopped after the test)."""
    with TestNodes(tmp_path) as nodes:
        def start(**kw) -> Node:
            cfg = node_config(tmp_path / "supervisor.yaml", devnet_info, database_url,
                              tmp_path / "var", **kw)
            env = {**os.environ, "ORBITAL_ATTESTER_KEY": devnet_info.account("attester").private_key}
            return nodes.start(cfg, build_app, env=env)
        yield start


@pytest.fixture
def solver(devnet_info):
    """start(node) -> the reference solver (solver), in-process."""
    from solver import Solver, load_config
    started = []

    def start(node):
        cfg = load_config(target=f"127.0.0.1:{node.grpc_port}", devnet_dir=devnet_info.state_dir,
                          env={"ORBITAL_SOLVER_KEY": devnet_info.account("solver").private_key}, backoff=None)
        s = Solver(cfg).start()
        started.append(s)
        assert s.connected.wait(15), s.error
        return s
    yield start
    for s in started:
        s.stop()



@pytest.fixture(autouse=True)
def chain_state(w3s):
    """Each test starts from the same chain state and time (snapshot, then revert)."""
    snaps = [w3.provider.make_request("evm_snapshot", [])["result"] for w3 in w3s]
    yield
    for w3, snap in zip(w3s, snaps):
        w3.provider.make_request("evm_revert", [snap])
        # anvil keeps a time offset set by evm_setNextBlockTimestamp: realign with the wall clock
        w3.provider.make_request("evm_setNextBlockTimestamp", [int(time.time())])
        w3.provider.make_request("evm_mine", [])
