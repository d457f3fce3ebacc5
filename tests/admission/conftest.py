"""Admission on a real devnet: the node's chain watchers, book, admission and solver service
on both anvil chains (free ports), users made, funded and approved by the tests themselves.

Each test starts from the same chain state (snapshot, then revert). Users are fresh
accounts (impersonated on anvil for their own transactions; their keys sign the orders),
so what they hold is exactly what the test gave them.
"""

from __future__ import annotations

import importlib
import time

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from web3 import Web3

import devnet
from devnet import chains_yaml, free_ports
from node import new_app
from orbital.v1 import intents_pb2_grpc
from protocol import abi
from runtime.config import App
from tests._node import TestNodes
from tests.intents.conftest import make_order, signed_request  # noqa: F401 - shared

ONE_USDC = 10**6


@pytest.fixture(scope="module")
def devnet_info(tmp_path_factory):
    with devnet.running(tmp_path_factory.mktemp("devnet"), ports=free_ports(2), quiet=True) as info:
        yield info


@pytest.fixture(scope="module")
def chain_a(devnet_info):
    return Chain(devnet_info)


class Chain:
    """devnet-a as a user and a solver see it: USDC, the settler, accounts."""

    def __init__(self, info) -> None:
        a = info.chains[0]
        self.info = a
        self.w3 = Web3(Web3.HTTPProvider(a.rpc_url, request_kwargs={"timeout": 30}))
        self.usdc = self.w3.eth.contract(address=a.contracts.tokens["USDC"].address,
                                         abi=abi("TestToken"))
        self.settler = self.w3.eth.contract(address=a.contracts.settler, abi=abi("OrbitalSettler"))
        self.solver = info.account("solver").address

    def rpc(self, method: str, *params):
        reply = self.w3.provider.make_request(method, list(params))
        assert "error" not in reply, reply
        return reply["result"]

    def user(self, funded: int = 0, approved: int = 0):
        """A fresh account with ``funded`` USDC and ``approved`` allowance to the settler."""
        acct = Account.create()
        self.rpc("anvil_setBalance", acct.address, hex(10**20))
        self.rpc("anvil_impersonateAccount", acct.address)
        if funded:
            self.send(self.usdc.functions.mint(acct.address, funded), self.solver)
        if approved:
            self.send(self.usdc.functions.approve(self.settler.address, approved), acct.address)
        return acct

    def send(self, fn, sender: str) -> None:
        tx = fn.transact({"from": sender})
        assert self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)["status"] == 1

    def opens(self, order, signature: str) -> bool:
        """Would ``openFor`` of this order by the solver succeed now (an eth_call)?"""
        filler = abi_encode(["address"], [self.solver])
        try:
            self.settler.functions.openFor(order.to_abi(), bytes.fromhex(signature[2:]),
                                           filler).call({"from": self.solver})
        except Exception:   # noqa: BLE001 - any revert: not openable
            return False
        return True


@pytest.fixture(autouse=True)
def chain_state(devnet_info):
    w3s = [Web3(Web3.HTTPProvider(c.rpc_url, request_kwargs={"timeout": 30}))
           for c in devnet_info.chains]
    snaps = [w3.provider.make_request("evm_snapshot", [])["result"] for w3 in w3s]
    yield
    for w3, snap in zip(w3s, snaps):
        w3.provider.make_request("evm_revert", [snap])
        w3.provider.make_request("evm_setNextBlockTimestamp", [int(time.time())])
        w3.provider.make_request("evm_mine", [])


def make_app() -> App:
    """What admission needs around it: the chain watchers, the book (IntentService), the
    solver service (sessions to hold auctions) and admission."""
    app = new_app()
    for kind in ("chain_watcher", "book", "admission", "solvers"):
        importlib.import_module(f"actors.{kind}").install(app)
    return app


@pytest.fixture
def admission_node(tmp_path, devnet_info, database_url):
    """start(admission={...}, intents={...}, dead_origin=, clock=) -> (node, IntentService
    stub). ``dead_origin``: devnet-a's RPC is a port nothing listens on; ``clock``: a
    FakeClock for the node's timers (auction windows, exclusivity)."""
    with TestNodes(tmp_path) as nodes:
        def start(admission=None, intents=None, dead_origin: bool = False, clock=None):
            chains = chains_yaml(devnet_info, poll_interval=0.1, confirmations=0,
                                 rpc_timeout=1, rpc_backoff_max=0.5)
            if dead_origin:
                chains = chains.replace(devnet_info.chains[0].rpc_url,
                                        f"http://127.0.0.1:{free_ports(1)[0]}")
            path = nodes.config(database_url, {
                "intents": {"min_open_window": 0, "auction_window": 0.1, "retry_interval": 0.2}
                | (intents or {}),
                "admission": {"head_ttl": 0} | (admission or {})}, extra=chains)
            node = nodes.start(path, make_app, clock=clock)
            return node, nodes.stub(node, intents_pb2_grpc.IntentServiceStub)
        yield start
