"""Attester tests: one isolated devnet per session (free ports), a chain snapshot per test,
a real Node per test with the attester kind on a FakeClock, real SQLite and PostgreSQL.

Orders go through the real contracts: the user signs, the solver ``openFor``s on chain A
(the input is escrowed) and ``fill``s on chain B. What the intent book and the chain
watcher would write is written here from those real receipts: the watcher's
``chain_event`` rows with its own decoder (``chains.evm.ingest.event_rows``), and the
book's ``intent`` row in state FILLED (the book normally writes it when it applies the
``Filled`` event; the book actor is not installed in these tests).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account

import devnet
from actors.attester import Attester, AttesterBatch, AttesterOrder, install
from actors.book._models import IntentRow
from actors.bridge_relayer import install as install_relayer
from chains.evm.config import ChainConfig
from chains.evm.ingest import event_rows, insert_events
from chains.evm.txsend import EvmTx
from chains.solana import SolanaChainConfig
from devnet import free_ports
from protocol import FillData, GaslessOrder, OrbitalOrder, ResolvedOrder, abi, decode_log
from node import new_app
from runtime import ActorUnavailable
from runtime.node import Node
from runtime.testing import FakeClock, MessageRecorder
from runtime.testing import wait_until  # noqa: F401 - shared by the test modules here
from tests._evm import DevChain, dev_chains, reverted
from tests._node import TestNodes, chains_section, yaml_value

ONE_USDC = 10**6
PATH = "intents/attester"


@pytest.fixture(scope="session")
def devnet_info(tmp_path_factory):
    with devnet.running(tmp_path_factory.mktemp("devnet"), ports=free_ports(2), quiet=True) as info:
        yield info


@dataclass
class Chain(DevChain):
    def __post_init__(self):
        c = self.info.contracts
        self.settler = self.w3.eth.contract(address=c.settler, abi=abi("OrbitalSettler"))
        self.usdc = self.w3.eth.contract(address=c.tokens["USDC"].address, abi=abi("TestToken"))
        self.bridge = self.w3.eth.contract(address=c.bridge, abi=abi("Bridge"))

    def send(self, fn, sender) -> dict:
        """Send from an unlocked anvil account; the raw JSON receipt (status asserted)."""
        tx = fn.transact({"from": sender.address})
        self.w3.eth.wait_for_transaction_receipt(tx, timeout=10)
        receipt = self.rpc("eth_getTransactionReceipt", tx.to_0x_hex())
        assert receipt["status"] == "0x1", receipt
        return receipt

    def escrow_status(self, order_id: bytes) -> int:
        return self.settler.functions.escrows(order_id).call()[2]

    def balance(self, who: str) -> int:
        return self.usdc.functions.balanceOf(who).call()

    def settled_events(self, from_block: int) -> list[dict]:
        logs = self.rpc("eth_getLogs", {"fromBlock": hex(from_block), "toBlock": "latest",
                                        "address": self.settler.address})
        return [d for n, d in filter(None, map(decode_log, logs)) if n == "Settled"]


@pytest.fixture(scope="session")
def _chains(devnet_info):
    return dev_chains(Chain, devnet_info)


@pytest.fixture
def chains(_chains):
    """Both chains, reverted to their pre-test state (and automine) afterwards."""
    yield from reverted(_chains)


@pytest.fixture(scope="session")
def roles(devnet_info):
    users = [a for a in devnet_info.accounts if "user" in a.roles]
    return {"attester": devnet_info.account("attester"), "solver": devnet_info.account("solver"),
            "users": users}


@dataclass
class Filled:
    order: GaslessOrder
    origin_data: bytes
    fill_receipt: dict

    @property
    def id(self) -> str:
        return "0x" + self.order.order_id.hex()

    @property
    def fill_block(self) -> int:
        return int(self.fill_receipt["blockNumber"], 16)


def open_order(a: Chain, b: Chain, user, solver, *, nonce: int, amount: int = 10 * ONE_USDC,
               min_out: int = 9 * ONE_USDC, fill_in: int = 3600) -> tuple[GaslessOrder, bytes]:
    """User signs, solver ``openFor``s on ``a`` (the input is escrowed); (order, originData)."""
    now = max(a.now(), b.now())
    swap = OrbitalOrder(a.usdc.address, amount, b.usdc.address, min_out, user.address,
                        b.info.chain_id)
    order = GaslessOrder(origin_settler=a.settler.address, user=user.address, nonce=nonce,
                         origin_chain_id=a.info.chain_id, open_deadline=now + 600,
                         fill_deadline=now + fill_in, order=swap)
    sig = bytes(Account.sign_typed_data(user.private_key, full_message=order.typed_data()).signature)
    opened = a.send(a.settler.functions.openFor(order.to_abi(), sig,
                                                abi_encode(["address"], [solver.address])), solver)
    [(_, ev)] = [d for d in map(decode_log, opened["logs"]) if d and d[0] == "Open"]
    return order, ResolvedOrder.from_abi(ev["resolvedOrder"]).fill_instructions[0].origin_data


def open_and_fill(a: Chain, b: Chain, user, solver, *, nonce: int, amount: int = 10 * ONE_USDC,
                  min_out: int = 9 * ONE_USDC, fill_in: int = 3600) -> Filled:
    """The real flow: user signs, solver openFor on ``a`` (escrow), solver fills on ``b``."""
    order, origin_data = open_order(a, b, user, solver, nonce=nonce, amount=amount,
                                    min_out=min_out, fill_in=fill_in)
    receipt = b.send(b.settler.functions.fill(order.order_id, origin_data, b""), solver)
    return Filled(order, origin_data, receipt)


def bogus_fill(a: Chain, b: Chain, f: Filled, attacker) -> dict:
    """A Filled for ``f``'s order id with other terms (1 unit to the attacker): the settler
    accepts it, fills being keyed by keccak(originData) (docs/erc7683.md section 6)."""
    real = FillData.decode(f.origin_data)
    fake = FillData(real.order_id, real.origin_chain_id, real.destination_chain_id,
                    real.output_token, 1, attacker.address, real.fill_deadline)
    return b.send(b.settler.functions.fill(f.order.order_id, fake.encode(), b""), attacker)


def record_as_book(node: Node, a: Chain, b: Chain, f: Filled, *, fill_receipt: dict | None = None,
                   **override) -> None:
    """Write what the watcher (chain_event) and the book (intent FILLED) would write."""
    receipt = fill_receipt or f.fill_receipt
    o, swap = f.order, f.order.order
    filler = next(d for n, d in filter(None, map(decode_log, receipt["logs"]))
                  if n == "Filled")["filler"]
    now = time.time()
    row = dict(id=f.id, status="FILLED", version=4, user=o.user, nonce=o.nonce,
               origin_chain=a.name, origin_chain_id=a.info.chain_id, destination_chain=b.name,
               destination_chain_id=b.info.chain_id, origin_settler=o.origin_settler,
               input_token=swap.input_token, input_amount=swap.input_amount,
               output_token=swap.output_token, min_output=swap.output_amount,
               recipient=swap.recipient, open_deadline=o.open_deadline,
               fill_deadline=o.fill_deadline, source="gasless", fill_tx=receipt["transactionHash"],
               fill_chain=b.name, fill_block=int(receipt["blockNumber"], 16), filler=filler,
               created_at=now, updated_at=now) | override
    with node.store.connection() as db, db.atomic():
        insert_events(db, event_rows(b.name, receipt["logs"]))
        IntentRow.insert(**row).on_conflict_replace().execute() if not node.store.is_postgres \
            else IntentRow.insert(**row).on_conflict(conflict_target=[IntentRow.id],
                                                     preserve=list(row)).execute()



@pytest.fixture
def attester_node(tmp_path, chains, roles):
    with TestNodes(tmp_path) as nodes:
        def start(database_url: str, *, key: str | None = None,
                  relayer: bool | dict[str, Any] = False, relayer_key: str | None = None,
                  node: dict | None = None, solana: dict | None = None,
                  **opts) -> tuple[Node, FakeClock, Any]:
            """``relayer``: the bridge relayer too (actor chains/relayer), signing with the
            attester's key as on the devnet (account 1 holds both roles). ``node``: keys
            of ``node:`` (a second node of one test: its ``name``), the config then
            written to ``<name>.yaml``. ``relayer`` a dict: more keys of the relayer's
            section (a remote signer, with ``relayer_key=""``). ``solana``: ``kind: solana`` entries added to the
            ``chains`` section (name -> entry)."""
            node = dict(node or {})
            opts = {"batch_size": 20, "poll_interval": 600, "replace_after": 30,
                    "max_retries": 2} | opts
            depth = opts.pop("settlement_depth", 1)   # the chains' (destination) depth
            sections = {
                "chains": chains_section(chains, tokens=False, rpc_backoff_max=0.2,
                                         settlement_depth=depth,
                                         contracts=("settler", "bridge") if relayer else ("settler",))
                | dict(solana or {}),
                "attester": {"key": "${ORBITAL_ATTESTER_KEY:-}"}
                | {k: yaml_value(v) for k, v in opts.items()}}
            if relayer:
                sections["bridge_relayer"] = {"key": "${ORBITAL_RELAYER_KEY:-}", "poll_interval": 3600} \
                    | {k: yaml_value(v) for k, v in (relayer if isinstance(relayer, dict) else {}).items()}
            path = nodes.config(database_url, sections, supervision={
                "intents": {"intensity": 10, "period": 10, "backoff": {"initial": 0}}},
                file=f"{node.get('name', 'supervisor')}.yaml", **node)
            app = new_app()
            app.section("chains", dict[str, ChainConfig | SolanaChainConfig])   # no watchers
            install(app)
            if relayer:
                install_relayer(app)
            clock = FakeClock(wall_offset=time.time() - 1000.0)
            env = {"ORBITAL_ATTESTER_KEY": roles["attester"].private_key if key is None else key,
                   "ORBITAL_RELAYER_KEY": roles["attester"].private_key
                   if relayer_key is None else relayer_key}
            book = nodes.own(MessageRecorder.start())
            started = nodes.start(path, app, clock=clock, env=env,
                                  register={"intents/book": book})
            return started, clock, book
        yield start
        Attester.after_record = None


def poll(node: Node, timeout: float = 20.0) -> dict:
    """One settlement round (retried while the attester restarts)."""
    from actors.attester import Poll
    deadline = time.monotonic() + timeout
    while True:
        try:
            return node.registry.ask(PATH, Poll(), timeout=timeout)
        except ActorUnavailable:   # restarting after a crash: the supervisor brings it back
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def txs(node: Node) -> list[EvmTx]:
    """The attester's transactions (``evm_tx`` rows it owns), oldest first."""
    with node.store.connection():
        return list(EvmTx.select().where(EvmTx.owner == PATH).order_by(EvmTx.id))


def batches(node: Node) -> list[AttesterBatch]:
    with node.store.connection():
        return list(AttesterBatch.select().order_by(AttesterBatch.id))


def orders(node: Node) -> dict[str, AttesterOrder]:
    with node.store.connection():
        return {o.intent: o for o in AttesterOrder.select()}



@pytest.fixture
def full_node(tmp_path, chains, roles):
    """start(database_url) -> a Node with the chain watchers, the intent book and the
    attester (real clock, fast polls): the whole settlement/refund pipeline."""
    from actors.attester import install as install_attester
    from actors.book import install as install_book
    from actors.chain_watcher import install as install_watchers

    with TestNodes(tmp_path) as nodes:
        def start(database_url: str) -> Node:
            section = chains_section(chains, contracts=("settler",), tokens=("USDC",),
                                     poll_interval=0.05, settlement_depth=1)
            for c in chains:
                section[c.name]["start_block"] = c.head() + 1
            path = nodes.config(database_url, {"chains": section, "attester": {
                "key": "${ORBITAL_ATTESTER_KEY:-}", "poll_interval": 0.05}})
            app = new_app()
            for install_kind in (install_watchers, install_book, install_attester):
                install_kind(app)
            return nodes.start(path, app, env={"ORBITAL_ATTESTER_KEY": roles["attester"].private_key})
        yield start
