"""Fixtures for contract, protocol and devnet tests: one isolated devnet per session on free
ports (never the default 8545/8546, so a developer's running devnet is untouched), a snapshot
per test so tests cannot see each other's state, and a small helper around web3 per chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import ContractCustomError

import devnet
from devnet import free_ports
from devnet import DevAccount, DevnetInfo
from protocol import GaslessOrder, OrbitalOrder, abi, decode_log

ONE_USDC = 10**6
ONE_WETH = 10**18




def error_selector(contract_name: str, error: str) -> str:
    """0x-hex selector of custom error ``error`` as declared in the contract's ABI."""
    for entry in abi(contract_name):
        if entry["type"] == "error" and entry["name"] == error:
            sig = f"{error}({','.join(i['type'] for i in entry['inputs'])})"
            return "0x" + keccak(text=sig)[:4].hex()
    raise KeyError(f"{contract_name} declares no error {error}")


@dataclass
class Chain:
    """One devnet chain seen through web3, with the deployed contracts bound."""

    info: Any  # devnet.ChainInfo
    w3: Web3

    def __post_init__(self) -> None:
        c = self.info.contracts
        self.settler = self.w3.eth.contract(address=c.settler, abi=abi("OrbitalSettler"))
        self.bridge = self.w3.eth.contract(address=c.bridge, abi=abi("Bridge"))
        self.usdc = self.token("USDC")
        self.weth = self.token("WETH")
        self.pool = self.w3.eth.contract(address=c.pools["USDC/WETH"].address, abi=abi("ConstantProductPool"))
        self.feeds = {k: self.w3.eth.contract(address=f.address, abi=abi("PriceFeed")) for k, f in c.feeds.items()}

    @property
    def chain_id(self) -> int:
        return self.info.chain_id

    def token(self, symbol: str):
        return self.w3.eth.contract(address=self.info.contracts.tokens[symbol].address, abi=abi("TestToken"))

    def send(self, fn, sender: DevAccount) -> dict:
        """Send ``fn`` from an unlocked anvil account; the receipt, asserting success."""
        tx_hash = fn.transact({"from": sender.address})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=10)
        assert receipt["status"] == 1, f"transaction reverted: {receipt}"
        return receipt

    def expect_revert(self, fn, sender: DevAccount, contract: str, error: str) -> None:
        """Assert ``fn`` from ``sender`` reverts with custom error ``error`` of ``contract``."""
        with pytest.raises(ContractCustomError) as exc:
            fn.call({"from": sender.address})
        data = exc.value.data if isinstance(exc.value.data, str) else exc.value.message
        assert data[:10] == error_selector(contract, error), f"reverted with {data}, expected {error}"

    def events(self, receipt: dict, name: str) -> list[dict]:
        """Decoded logs named ``name`` in a receipt (via protocol.events, the runtime's decoder)."""
        out = []
        for log in receipt["logs"]:
            decoded = decode_log(log)
            if decoded and decoded[0] == name:
                out.append(decoded[1])
        return out

    def now(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def warp(self, seconds: int) -> None:
        self.w3.provider.make_request("evm_increaseTime", [seconds])
        self.w3.provider.make_request("evm_mine", [])

    def balance(self, symbol: str, who: str) -> int:
        return self.token(symbol).functions.balanceOf(who).call()


@pytest.fixture(scope="session")
def devnet_info(tmp_path_factory) -> DevnetInfo:
    state = tmp_path_factory.mktemp("devnet")
    with devnet.running(state, ports=free_ports(2), quiet=True) as info:
        yield info


@pytest.fixture(scope="session")
def _chains(devnet_info) -> tuple[Chain, Chain]:
    return tuple(Chain(c, Web3(Web3.HTTPProvider(c.rpc_url, request_kwargs={"timeout": 10}))) for c in devnet_info.chains)


@pytest.fixture
def chains(_chains):
    """Both chains, reverted to their pre-test state afterwards."""
    snapshots = [c.w3.provider.make_request("evm_snapshot", [])["result"] for c in _chains]
    yield _chains
    for c, snap in zip(_chains, snapshots):
        c.w3.provider.make_request("evm_revert", [snap])


@pytest.fixture
def chain_a(chains) -> Chain:
    return chains[0]


@pytest.fixture
def chain_b(chains) -> Chain:
    return chains[1]


@pytest.fixture(scope="session")
def roles(devnet_info):
    """Accounts by role: admin, attester, operator, solver, user, user2, outsider."""
    users = [a for a in devnet_info.accounts if "user" in a.roles]
    return {"admin": devnet_info.account("admin"), "attester": devnet_info.account("attester"),
            "operator": devnet_info.account("operator"), "solver": devnet_info.account("solver"),
            "user": users[0], "user2": users[1], "outsider": users[-1]}


def _make_order(origin: Chain, dest: Chain, user: DevAccount, *, nonce: int = 1, input_amount: int = 100 * ONE_USDC,
               output_amount: int = 99 * ONE_USDC, open_in: int = 600, fill_in: int = 3600,
               recipient: str | None = None, **overrides) -> GaslessOrder:
    """A USDC(origin) -> USDC(dest) order with deadlines relative to the origin chain's clock."""
    now = origin.now()
    swap = OrbitalOrder(origin.info.contracts.tokens["USDC"].address, input_amount,
                        dest.info.contracts.tokens["USDC"].address, output_amount,
                        recipient or user.address, dest.chain_id)
    fields = {"origin_settler": origin.info.contracts.settler, "user": user.address, "nonce": nonce,
              "origin_chain_id": origin.chain_id, "open_deadline": now + open_in,
              "fill_deadline": now + fill_in, "order": swap}
    return GaslessOrder(**(fields | overrides))


def _sign(order_or_typed, key: str) -> bytes:
    typed = order_or_typed.typed_data() if isinstance(order_or_typed, GaslessOrder) else order_or_typed
    return bytes(Account.sign_typed_data(key, full_message=typed).signature)


def _filler_data(address: str, amount: int | None = None) -> bytes:
    if amount is None:
        return abi_encode(["address"], [address])
    return abi_encode(["address", "uint256"], [address, amount])


# Helpers handed out as fixtures so test modules never import conftest (fragile across import modes).
@pytest.fixture(scope="session", name="free_ports")
def free_ports_fixture():
    return free_ports


@pytest.fixture(scope="session")
def make_order():
    return _make_order


@pytest.fixture(scope="session")
def sign():
    return _sign


@pytest.fixture(scope="session")
def filler_data():
    return _filler_data
