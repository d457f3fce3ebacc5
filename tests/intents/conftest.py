"""A real node (every actor kind of build_app) on loopback for the intent book's tests.

The chains section points at the devnet's deterministic addresses, but its RPC at a port
nothing listens on: submission, auction and lifecycle need no chain; tests that need one
(tests/e2e) start a devnet. Users sign with the devnet's well-known user keys.
"""

from __future__ import annotations

import json
import time

import grpc
import pytest
from eth_account import Account

from node import build_app
from devnet import ACCOUNTS, free_ports, predicted_addresses
from orbital.v1 import intents_pb2, intents_pb2_grpc
from protocol import GaslessOrder, OrbitalOrder, cancel_typed_data, order_typed_data
from runtime.node import Node

ADDR = predicted_addresses()
USERS = [a for a in ACCOUNTS if a.index >= 4]
ONE_USDC = 10**6


def chains_yaml(rpc_ports: tuple[int, int]) -> str:
    out = ["chains:"]
    for name, cid, port in (("devnet-a", 31337, rpc_ports[0]), ("devnet-b", 31338, rpc_ports[1])):
        out += [f"  {name}:", "    kind: evm", f"    chain_id: {cid}", f"    rpc: [http://127.0.0.1:{port}]",
                f"    contracts: {{settler: '{ADDR['settler']}', bridge: '{ADDR['bridge']}'}}",
                "    poll_interval: 0.2", "    rpc_timeout: 2", "    rpc_backoff_max: 2", "    tokens:",
                f"      USDC: {{address: '{ADDR['USDC']}', decimals: 6}}",
                f"      WETH: {{address: '{ADDR['WETH']}', decimals: 18}}"]
    return "\n".join(out) + "\n"


def write_node_config(path, database_url: str, state_dir, *, rpc_ports=None, intents: str = "",
                      extra: str = "") -> str:
    rpc_ports = rpc_ports or tuple(free_ports(2))
    text = "\n".join([
        "node:", "  grpc_listen: 127.0.0.1:0", "  metrics_listen: 127.0.0.1:0",
        f"  state_dir: {state_dir}", "  shutdown_timeout: 2",
        "  admin_token: test-admin-token-0123456789",
        "database:", f"  url: '{database_url}'",
        "supervision:", "  chains: {intensity: 100, period: 10, backoff: {initial: 0.1, max: 1}}",
        "intents:", "  min_open_window: 0",
        *(f"  {line}" for line in intents.splitlines() if line.strip()),
    ]) + "\n" + chains_yaml(rpc_ports) + extra
    with open(path, "w") as fh:
        fh.write(text)
    return str(path)


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
def intents_node(tmp_path, database_url):
    """start(intents="...yaml lines...") -> (node, IntentService stub)."""
    nodes, channels = [], []

    def start(intents: str = "", extra: str = "", **kw):
        path = write_node_config(tmp_path / "supervisor.yaml", database_url, tmp_path / "var",
                                 intents=intents, extra=extra, **kw)
        node = Node(path, build_app()).start()
        nodes.append(node)
        ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
        channels.append(ch)
        return node, intents_pb2_grpc.IntentServiceStub(ch)
    yield start
    for ch in channels:
        ch.close()
    for node in nodes:
        node.shutdown()
