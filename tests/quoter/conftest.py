"""Quoter tests: one isolated devnet per session (free ports) with an extra token DAI and
two DAI pools on devnet-a, a real Node per test (SQLite) with only the ``chains`` section
and the quoter kind installed, reached through real gRPC on loopback.

Every test runs between an ``evm_snapshot`` and an ``evm_revert`` of both chains, so
swaps, feed answers, storage writes and base fees never leak into another test.
Chain-state helpers: ``feed_updated_at`` writes a round's ``updatedAt`` straight into
PriceFeed storage (anvil_setStorageAt), which ages a feed without moving the chain's clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3 import Web3

import devnet
from devnet import free_ports
from orbital.v1 import quoter_pb2_grpc
from protocol import abi, load_artifact
from runtime.node import Node
from tests._node import TestNodes

from ._support import make_app, quoter_yaml

ONE_USDC, ONE_WETH, ONE_DAI = 10**6, 10**18, 10**18
FEED_ROUNDS_SLOT = 3   # PriceFeed: admin(0), description(1), latestRound(2), _rounds(3)


@dataclass
class Chain:
    info: Any
    w3: Web3

    def __post_init__(self) -> None:
        c = self.info.contracts
        self.admin = self.w3.eth.accounts[0]
        self.pool = self.w3.eth.contract(address=c.pools["USDC/WETH"].address,
                                         abi=abi("ConstantProductPool"))
        self.feeds = {k: self.w3.eth.contract(address=f.address, abi=abi("PriceFeed"))
                      for k, f in c.feeds.items()}

    def rpc(self, method: str, *params):
        reply = self.w3.provider.make_request(method, list(params))
        assert "error" not in reply, reply
        return reply["result"]

    def send(self, fn, sender: str | None = None) -> dict:
        tx = fn.transact({"from": sender or self.admin})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)
        assert receipt["status"] == 1, receipt
        return receipt

    def token(self, address: str):
        return self.w3.eth.contract(address=address, abi=abi("TestToken"))

    def deploy(self, name: str, types: list[str], args: list) -> str:
        art = load_artifact(name)
        tx = self.w3.eth.send_transaction({"from": self.admin, "gas": 5_000_000,
                                           "data": art.bytecode + abi_encode(types, args)})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)
        assert receipt["status"] == 1
        return receipt["contractAddress"]

    def seed_pool(self, t0: str, t1: str, a0: int, a1: int) -> str:
        pool = self.deploy("ConstantProductPool", ["address", "address"], [t0, t1])
        for token, amount in ((t0, a0), (t1, a1)):
            self.send(self.token(token).functions.mint(self.admin, amount))
            self.send(self.token(token).functions.approve(pool, amount))
        self.send(self.w3.eth.contract(address=pool, abi=abi("ConstantProductPool"))
                  .functions.addLiquidity(a0, a1))
        return pool

    def swap(self, token_in: str, amount: int, pool: str | None = None) -> None:
        """Admin swaps ``amount`` of ``token_in`` through ``pool`` (default USDC/WETH)."""
        contract = self.w3.eth.contract(address=pool or self.pool.address,
                                        abi=abi("ConstantProductPool"))
        self.send(self.token(token_in).functions.mint(self.admin, amount))
        self.send(self.token(token_in).functions.approve(contract.address, amount))
        self.send(contract.functions.swap(token_in, amount, 0, self.admin))

    def feed_updated_at(self, pair: str, updated_at: int) -> None:
        """Rewrite the latest round's updatedAt (startedAt too) of feed ``pair``."""
        feed = self.feeds[pair]
        round_id = feed.functions.latestRound().call()
        base = int.from_bytes(keccak(abi_encode(["uint256", "uint256"],
                                                [round_id, FEED_ROUNDS_SLOT])), "big")
        packed = (updated_at << 64) | updated_at     # uint64 startedAt | uint64 updatedAt
        self.rpc("anvil_setStorageAt", feed.address, hex(base + 1),
                 "0x" + packed.to_bytes(32, "big").hex())

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]


@pytest.fixture(scope="session")
def devnet_info(tmp_path_factory):
    state = tmp_path_factory.mktemp("devnet")
    with devnet.running(state, ports=free_ports(2), quiet=True) as info:
        yield info


@pytest.fixture(scope="session")
def _chains(devnet_info):
    return tuple(Chain(c, Web3(Web3.HTTPProvider(c.rpc_url, request_kwargs={"timeout": 10})))
                 for c in devnet_info.chains)


@pytest.fixture(scope="session")
def dai(_chains) -> dict[str, str]:
    """DAI on devnet-a with pools USDC/DAI (1:1) and DAI/WETH (3300 DAI per WETH: worse
    than the direct USDC/WETH pool at 3000, until a test moves it)."""
    a = _chains[0]
    tokens = a.info.contracts.tokens
    dai = a.deploy("TestToken", ["string", "string", "uint8"], ["Dai", "DAI", 18])
    usdc_dai = a.seed_pool(tokens["USDC"].address, dai, 3_000_000 * ONE_USDC,
                           3_000_000 * ONE_DAI)
    dai_weth = a.seed_pool(dai, tokens["WETH"].address, 3_300_000 * ONE_DAI, 1_000 * ONE_WETH)
    return {"DAI": dai, "USDC/DAI": usdc_dai, "DAI/WETH": dai_weth}


@pytest.fixture
def chains(_chains, dai):
    snaps = [c.rpc("evm_snapshot") for c in _chains]
    yield _chains
    for c, snap in zip(_chains, snaps):
        c.rpc("evm_revert", snap)


@pytest.fixture
def node_factory(tmp_path, devnet_info, dai):
    with TestNodes(tmp_path) as nodes:
        def start(**kw) -> Node:
            return nodes.start(nodes.config(extra=quoter_yaml(devnet_info, dai, **kw)), make_app)
        yield start


@pytest.fixture
def stub(node_factory, tmp_path):
    """A QuoterService stub to a fresh node (cache off)."""
    with TestNodes(tmp_path) as nodes:
        yield nodes.stub(node_factory(), quoter_pb2_grpc.QuoterServiceStub)
