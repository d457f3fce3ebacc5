"""A real node (every actor kind of build_app) on loopback for the intent book's tests.

The chains section points at the devnet's deterministic addresses, but its RPC at a port
nothing listens on: submission, auction and lifecycle need no chain, so admission (which
reads the origin chain) is off here; tests that need a chain (tests/e2e, tests/admission)
start a devnet. Users sign with the devnet's well-known user keys.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml
from eth_account import Account

from node import build_app
from devnet import ACCOUNTS, free_ports, predicted_addresses
from orbital.v1 import intents_pb2, intents_pb2_grpc
from protocol import GaslessOrder, OrbitalOrder, cancel_typed_data, order_typed_data
from tests._node import TestNodes, node_config, write_config

ADDR = predicted_addresses()
USERS = [a for a in ACCOUNTS if a.index >= 4]
ONE_USDC = 10**6


def chains_section(rpc_ports: tuple[int, int]) -> dict:
    """Both devnet chains at their deterministic addresses, RPC on ``rpc_ports``."""
    return {name: {"kind": "evm", "chain_id": cid, "rpc": [f"http://127.0.0.1:{port}"],
                   "contracts": {"settler": ADDR["settler"], "bridge": ADDR["bridge"]},
                   "poll_interval": 0.2, "rpc_timeout": 2, "rpc_backoff_max": 2,
                   "tokens": {"USDC": {"address": ADDR["USDC"], "decimals": 6},
                              "WETH": {"address": ADDR["WETH"], "decimals": 18}}}
            for name, cid, port in (("devnet-a", 31337, rpc_ports[0]),
                                    ("devnet-b", 31338, rpc_ports[1]))}


def write_node_config(path, database_url: str, state_dir, *, rpc_ports=None, intents: str = "",
                      extra: str = "", admission: bool | None = False, **node: Any) -> str:
    """``intents``: YAML lines of the intents section, over ``min_open_window: 0``;
    ``admission``: off by default (no chain runs), None for an app without that kind;
    ``node``: keys of ``node:`` (a fixed ``grpc_port`` for a subprocess node)."""
    doc = node_config(database_url, state_dir, {
        "intents": {"min_open_window": 0} | (yaml.safe_load(intents) or {}),
        "chains": chains_section(rpc_ports or tuple(free_ports(2)))},
        supervision={"chains": {"intensity": 100, "period": 10,
                                "backoff": {"initial": 0.1, "max": 1}}}, admission=admission,
        **node)
    return write_config(path, doc, extra)


def make_order(user=None, *, nonce: int, amount: int = 100 * ONE_USDC, min_out: int | None = None,
               open_in: int = 600, fill_in: int = 3600, origin: int = 31337, dest: int = 31338,
               **over) -> GaslessOrder:
    user = user or USERS[0]
    now = int(time.time())
    fields = dict(origin_settler=ADDR["settler"], user=user.address, nonce=nonce, origin_chain_id=origin,
                  open_deadline=now + open_in, fill_deadline=now + fill_in,
                  order=OrbitalOrder(ADDR["USDC"], amount, ADDR["USDC"],
                                     amount * 99 // 100 if min_out is None else min_out,
                                     over.pop("recipient", user.address), dest))
    fields.update(over)
    return GaslessOrder(**fields)


def sign_typed(typed: dict, key: str) -> str:
    sig = Account.sign_typed_data(key, full_message=typed).signature
    return "0x" + bytes(sig).hex()


def signed_request(order: GaslessOrder, key: str | None = None) -> intents_pb2.SubmitIntentRequest:
    typed = order_typed_data(order)
    key = key or next(a.private_key for a in ACCOUNTS if a.address == order.user)
    return intents_pb2.SubmitIntentRequest(typed_data=json.dumps(typed), signature=sign_typed(typed, key))


def cancel_signature(order: GaslessOrder, key: str) -> str:
    return sign_typed(cancel_typed_data(order.origin_chain_id, order.origin_settler, order.order_id,
                                        order.nonce), key)


@pytest.fixture
def nodes(tmp_path):
    """The test's :class:`TestNodes` (``intents_node`` starts on it; a test opens more
    stubs to its nodes with it)."""
    with TestNodes(tmp_path) as nodes:
        yield nodes


@pytest.fixture
def intents_node(tmp_path, database_url, nodes):
    """start(intents="...yaml lines...", clock=None) -> (node, IntentService stub)."""
    def start(intents: str = "", extra: str = "", clock: Any = None, **kw):
        path = write_node_config(tmp_path / "supervisor.yaml", database_url,
                                 tmp_path / "var", intents=intents, extra=extra, **kw)
        node = nodes.start(path, build_app, clock=clock)
        return node, nodes.stub(node, intents_pb2_grpc.IntentServiceStub)
    return start
