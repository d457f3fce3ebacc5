"""ExplainIntent on the whole system (every kind, the reference solver, the attester) with a
settlement depth on the destination chain: a filled intent waits for its confirmations
(counted as the attester counts them), a settled one says so, and once one intent has
finished on the route the next one gets an ETA from it."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from clients import OrbitalClient
from node import build_app
from devnet import chains_yaml
from orbital.v1 import intents_pb2 as P
from runtime.node import Node
from tests._node import TestNodes, write_config
from tests._node import node_config as _node_config

from .conftest import wait_until

ONE_USDC = 10**6
DEPTH = 40


@pytest.fixture
def deep_system(tmp_path, devnet_info, database_url):
    """A node on the devnet whose chains need DEPTH blocks above a fill before settling."""
    with TestNodes(tmp_path) as nodes:
        def start() -> Node:
            doc = _node_config(database_url, tmp_path / "var", {
                "intents": {"auction_window": 0.2, "min_open_window": 0,
                            "heartbeat_interval": 0.5, "heartbeat_timeout": 5},
                "attester": {"key": "${ORBITAL_ATTESTER_KEY}", "poll_interval": 0.2},
                "quoter": {"cache_ttl": 0, "prices": {"USDC": {"static": "1"},
                                                      "WETH": {"static": "3000"},
                                                      "SOL": {"static": "150"}}},
                "keeper": {"tasks": {}}}, shutdown_timeout=3)
            cfg = write_config(tmp_path / "supervisor.yaml", doc, chains_yaml(
                devnet_info, poll_interval=0.1, confirmations=0, settlement_depth=DEPTH))
            env = {**os.environ,
                   "ORBITAL_ATTESTER_KEY": devnet_info.account("attester").private_key}
            return nodes.start(cfg, build_app, env=env)
        yield start


def _until(client: OrbitalClient, intent_id: str, status: int,
           pred: Callable[[P.IntentExplanation], bool] = lambda x: True) -> P.IntentExplanation:
    def ready():
        x = client.explain(intent_id)
        return x if x.status == status and pred(x) else None
    return wait_until(ready, timeout=60, what=f"{intent_id} at {P.IntentStatus.Name(status)}")


def test_explain_waits_for_settlement_depth_then_settled_then_eta(deep_system, solver,
                                                                  devnet_info, w3s):
    node = deep_system()
    solver(node)
    user = [x for x in devnet_info.accounts if "user" in x.roles][0]
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 20 * ONE_USDC, user.address)
        first = client.sign_and_submit(quote, user.private_key)
        x = _until(client, first.id, P.INTENT_STATUS_FILLED, lambda x: bool(x.chain_waits))
        [w] = x.chain_waits
        assert w.chain == "devnet-b" and w.depth == DEPTH and w.confirmations < DEPTH
        assert x.summary == (f"filled; waiting for settlement: {w.confirmations}/{DEPTH} "
                             "confirmations on devnet-b")
        assert not x.HasField("eta")           # nothing settled on this route yet
        assert [r.winner for r in x.rounds] == [devnet_info.account("solver").address]

        w3s[1].provider.make_request("anvil_mine", [hex(DEPTH)])
        x = _until(client, first.id, P.INTENT_STATUS_SETTLED)
        assert x.ended == "settled" and not x.chain_waits and not x.HasField("eta")
        assert x.summary == "settled: the filler was repaid on the origin chain"

        # the route has one finished intent now: the next one gets an ETA from it
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 20 * ONE_USDC, user.address)
        second = client.sign_and_submit(quote, user.private_key)
        x = _until(client, second.id, P.INTENT_STATUS_FILLED, lambda x: bool(x.chain_waits))
        assert x.eta.samples == 1 and x.eta.p90_seconds >= x.eta.p50_seconds >= 0
        w3s[1].provider.make_request("anvil_mine", [hex(DEPTH)])
        _until(client, second.id, P.INTENT_STATUS_SETTLED)
