"""The attester settles intents filled on Solana (OrbitalOrder32 to solana-local), on a real
anvil devnet and a real solana-local (in-process, free port, blocks only per transaction),
SQLite and PostgreSQL.

Each scenario is built without the book's auction: a user signs an OrbitalOrder32 to
solana-local, a solver opens it on devnet-a naming itself as filler, and fills it with one
Solana transaction (an SPL ``TransferChecked`` to the recipient's associated token account
plus a Memo carrying the order id) sent through the RPC. What the Solana watcher and the
book would write is written here from the real chain: the transfer rows with the watcher's
own decoder (``chains.solana.transfers_of``, ``insert_transfers``), the intent row FILLED
with the fields the book sets for a Solana fill (``filler`` empty).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from actors.attester import SettlementFailed, prove_solana_fill, solana_transfers
from actors.attester._calls import decode_escrow, escrow_calldata, settle_calldata
from actors.book import IntentRow
from chains.solana import SolanaRpc, insert_transfers, transfers_of
from devnet.solana_keys import CHAIN_ID, CHAIN_NAME, SOLANA_ACCOUNTS, derived_keypair, mint_keypair
from devnet.solana_rpc import SolanaRpcServer, serve
from protocol import GaslessOrder, OrbitalOrder, decode_log
from protocol.solana import associated_token_address, memo, sign_transaction, spl_transfer_checked

from .conftest import ONE_USDC, batches, orders, poll, txs

MINT = str(mint_keypair().pubkey())
SOLVER = SOLANA_ACCOUNTS[2]                       # the solver's Solana inventory
RECIPIENT = str(SOLANA_ACCOUNTS[3].pubkey)        # the user's Solana wallet
OTHER = str(SOLANA_ACCOUNTS[4].pubkey)            # someone else
AMOUNT, MIN_OUT = 10 * ONE_USDC, 9 * ONE_USDC


@pytest.fixture
def solana_local() -> Iterator[SolanaRpcServer]:
    srv = serve("127.0.0.1", 0, slot_ms=0)        # slots move per transaction: deterministic
    yield srv
    srv.shutdown()
    srv.server_close()


@dataclass
class Scenario:
    node: object
    book: object
    local: SolanaRpcServer
    rpc: SolanaRpc
    a: object

    def order(self, user, solver, *, nonce: int, output_token: str = MINT,
              recipient: str = RECIPIENT, fill_in: int = 3600) -> GaslessOrder:
        """The user signs an OrbitalOrder32 to solana-local; ``solver`` opens it by
        signature on devnet-a naming itself as filler (the input is escrowed)."""
        a = self.a
        now = a.now()
        swap = OrbitalOrder(a.usdc.address, AMOUNT, output_token, MIN_OUT, recipient, CHAIN_ID,
                            destination_kind="solana")
        order = GaslessOrder(a.settler.address, user.address, nonce, a.info.chain_id,
                             now + 600, now + fill_in, swap)
        sig = bytes(Account.sign_typed_data(user.private_key,
                                            full_message=order.typed_data()).signature)
        a.send(a.settler.functions.openFor(order.to_abi(), sig,
                                           abi_encode(["address"], [solver.address])), solver)
        assert a.settler.functions.escrows(order.order_id).call()[4] == solver.address
        return order

    def transfer(self, order: GaslessOrder, amount: int, *, to: str = RECIPIENT,
                 tag: str | None = None) -> str:
        """One Solana transaction from the solver: SPL TransferChecked of ``amount`` to
        ``to``'s associated token account and a Memo with the order id (``tag``)."""
        text = tag if tag is not None else "0x" + order.order_id.hex()
        blockhash, _ = self.rpc.latest_blockhash("confirmed")
        signed = sign_transaction([spl_transfer_checked(str(SOLVER.pubkey), MINT, to, amount, 6),
                                   memo(text)], SOLVER.keypair, blockhash)
        return self.rpc.send_transaction(signed.wire, skip_preflight=False)

    def index(self, *signatures: str) -> None:
        """What the Solana watcher writes (at ``confirmed``), with its own decoder."""
        replies = self.rpc.transactions(list(signatures), commitment="confirmed")
        rows = [vars(t) for sig, reply in zip(signatures, replies)
                for t in transfers_of(sig, reply, {MINT})]
        with self.node.store.connection() as db, db.atomic():
            insert_transfers(db, CHAIN_NAME, rows)

    def filled(self, order: GaslessOrder, signature: str, **override) -> None:
        """The intent row as the book leaves it after the first proving memo-tagged transfer."""
        reply = self.rpc.transactions([signature], commitment="confirmed")[0]
        [t] = transfers_of(signature, reply, {MINT})
        swap, now = order.order, time.time()
        row = dict(id="0x" + order.order_id.hex(), status="FILLED", version=4, user=order.user,
                   nonce=order.nonce, origin_chain=self.a.name,
                   origin_chain_id=order.origin_chain_id, destination_chain=CHAIN_NAME,
                   destination_chain_id=CHAIN_ID, origin_settler=order.origin_settler,
                   input_token=swap.input_token, input_amount=swap.input_amount,
                   output_token=swap.output_token, min_output=swap.output_amount,
                   recipient=swap.recipient, open_deadline=order.open_deadline,
                   fill_deadline=order.fill_deadline, source="gasless", fill_tx=signature,
                   fill_chain=CHAIN_NAME, fill_block=t.slot, fill_amount=t.amount,
                   filler="", created_at=now, updated_at=now) | override
        with self.node.store.connection():
            IntentRow.insert(**row).execute()

    def settled(self, from_block: int) -> list[dict]:
        logs = self.a.rpc("eth_getLogs", {"fromBlock": hex(from_block), "toBlock": "latest",
                                          "address": self.a.settler.address})
        return [d for n, d in filter(None, map(decode_log, logs)) if n == "Settled"]


@pytest.fixture
def scenario(database_url, chains, attester_node, solana_local) -> Iterator[Scenario]:
    entry = {"kind": "solana", "chain_id": CHAIN_ID, "rpc": [solana_local.url],
             "rpc_timeout": 2, "rpc_backoff_max": 0.2,
             "tokens": {"USDC": {"mint": MINT, "decimals": 6}}}
    node, _, book = attester_node(database_url, solana={CHAIN_NAME: entry})
    rpc = SolanaRpc([solana_local.url], timeout=5)
    yield Scenario(node, book, solana_local, rpc, chains[0])
    rpc.close()


def _token_balance(s: Scenario, owner: str) -> int:
    [amount] = s.rpc.token_balances([associated_token_address(owner, MINT)], "confirmed")
    return amount or 0


def test_a_solana_fill_is_settled_to_the_escrows_filler(scenario, roles):
    s, a = scenario, scenario.a
    user, solver = roles["users"][0], roles["solver"]
    start = a.head() + 1
    order = s.order(user, solver, nonce=9001)
    before_sol = _token_balance(s, RECIPIENT)
    sig = s.transfer(order, MIN_OUT + 5)
    assert _token_balance(s, RECIPIENT) == before_sol + MIN_OUT + 5
    s.index(sig)
    s.filled(order, sig)
    before = a.balance(solver.address)

    sent = poll(s.node)["devnet-a"]
    assert sent["orders"] == ["0x" + order.order_id.hex()]
    [batch] = batches(s.node)
    assert batch.fillers == f'["{solver.address}"]'      # the escrow's, not the row's ""
    poll(s.node)                                           # receipt -> settled
    assert [t.status for t in txs(s.node)] == ["mined"]
    assert {o.status for o in orders(s.node).values()} == {"settled"}
    [ev] = s.settled(start)
    assert ev["filler"] == solver.address and ev["amount"] == AMOUNT
    assert a.balance(solver.address) == before + AMOUNT
    assert a.escrow_status(order.order_id) == 2
    assert poll(s.node)["devnet-a"]["skipped"] == 1        # never twice
    assert s.book.ask("seen") == []


@pytest.mark.parametrize("attack", ["mint", "recipient", "amount"])
def test_a_memo_tagged_transfer_that_does_not_fill_is_failed(scenario, roles, attack):
    """(a) another mint than the order's, (b) to another recipient, (c) below the minimum:
    tagged with the order id, indexed, even marked FILLED (a book gone wrong), never paid."""
    s, a = scenario, scenario.a
    user, solver = roles["users"][1], roles["solver"]
    start = a.head() + 1
    output = str(derived_keypair("another-mint").pubkey()) if attack == "mint" else MINT
    order = s.order(user, solver, nonce=9100, output_token=output)
    sig = s.transfer(order, MIN_OUT - 1 if attack == "amount" else MIN_OUT,
                     to=OTHER if attack == "recipient" else RECIPIENT)
    s.index(sig)
    s.filled(order, sig)

    out = poll(s.node)["devnet-a"]
    assert out["sent"] is None and txs(s.node) == []
    oid = "0x" + order.order_id.hex()
    got = orders(s.node)[oid]
    expected = {"mint": f"mint {MINT}, not {output}", "recipient": "credited",
                "amount": f"below the minimum {MIN_OUT}"}[attack]
    assert got.status == "failed" and expected in got.reason and sig in got.reason
    [msg] = s.book.ask("seen")
    assert isinstance(msg, SettlementFailed) and msg.intent_id == oid
    assert s.settled(start) == [] and a.escrow_status(order.order_id) == 1


def test_a_transfer_not_finalized_yet_waits(scenario, roles):
    """(d) landed and indexed at confirmed, not finalized: no settlement and no FAILED;
    once its slot is finalized, settled."""
    s, a = scenario, scenario.a
    user, solver = roles["users"][2], roles["solver"]
    s.local.methods.finalized_lag = 32                    # as a real cluster: 31+ slots behind
    order = s.order(user, solver, nonce=9200)
    sig = s.transfer(order, MIN_OUT)
    s.index(sig)
    s.filled(order, sig)
    assert s.rpc.transaction(sig, commitment="finalized") is None

    for _ in range(2):
        out = poll(s.node)["devnet-a"]
        assert out["sent"] is None and orders(s.node) == {} and txs(s.node) == []
    assert s.book.ask("seen") == []
    for _ in range(32):
        s.local.chain.new_block()
    assert s.rpc.transaction(sig, commitment="finalized") is not None
    assert poll(s.node)["devnet-a"]["orders"] == ["0x" + order.order_id.hex()]
    poll(s.node)
    assert a.escrow_status(order.order_id) == 2


def test_one_fill_per_order_the_first_proving_transfer(scenario, roles):
    """(e) a memo-tagged transfer below the minimum, then a proving one, then another: the
    first proving one is the fill (its signature and amount), the escrow is paid once."""
    s, a = scenario, scenario.a
    user, solver = roles["users"][0], roles["solver"]
    start = a.head() + 1
    order = s.order(user, solver, nonce=9300)
    short = s.transfer(order, MIN_OUT - 1)
    first = s.transfer(order, MIN_OUT)
    second = s.transfer(order, MIN_OUT + 1000)
    s.index(short, first, second)
    s.filled(order, first)
    oid = "0x" + order.order_id.hex()
    with s.node.store.connection():
        intent = IntentRow.get_by_id(oid)
        rows = solana_transfers(intent)
    assert [r.signature for r in rows] == [short, first, second]
    proof = prove_solana_fill(intent, rows, dest_chain_id=CHAIN_ID, transactions=lambda sigs:
                              s.rpc.transactions_at(sigs, commitment="finalized"))
    assert (proof.ok, proof.fill_tx, proof.amount) == (True, first, MIN_OUT)

    poll(s.node)
    poll(s.node)
    assert len(s.settled(start)) == 1 and a.escrow_status(order.order_id) == 2
    for _ in range(2):                                     # the later transfer pays nothing
        assert poll(s.node)["devnet-a"]["sent"] is None
    assert len(s.settled(start)) == 1 and len(txs(s.node)) == 1


def test_the_attester_pays_only_the_escrows_filler(scenario, roles):
    """(f) the book's row names someone else as filler (a tampered row): the attester still
    passes the escrow's filler; the settler itself refuses any other for a 32-order."""
    s, a = scenario, scenario.a
    user, solver, attacker = roles["users"][1], roles["solver"], roles["users"][2]
    start = a.head() + 1
    order = s.order(user, solver, nonce=9400)
    sig = s.transfer(order, MIN_OUT)
    s.index(sig)
    s.filled(order, sig, filler=attacker.address)
    oid = "0x" + order.order_id.hex()

    raw = a.rpc("eth_call", {"to": a.settler.address, "data": escrow_calldata(oid)}, "latest")
    escrow = decode_escrow(raw)
    assert (escrow.status, escrow.filler, escrow.input_amount) == (1, solver.address, AMOUNT)
    for bad in (raw[:-64], raw + "00" * 32, "0x"):
        with pytest.raises(ValueError, match="escrows"):
            decode_escrow(bad)
    fill_key = "0x" + escrow.fill_key.hex()
    refused = a.w3.provider.make_request("eth_call", [{
        "from": roles["attester"].address, "to": a.settler.address,
        "data": settle_calldata([oid], [attacker.address], [fill_key])}, "latest"])
    mismatch = "0x" + keccak(text="FillerMismatch(bytes32,address,address)")[:4].hex()
    assert refused["error"]["data"].startswith(mismatch)
    before = a.balance(attacker.address)
    poll(s.node)
    poll(s.node)
    [batch] = batches(s.node)
    assert batch.fillers == f'["{solver.address}"]'
    [ev] = s.settled(start)
    assert ev["filler"] == solver.address and a.balance(attacker.address) == before


def test_a_transfer_after_fill_deadline_or_without_block_time_never_proves(scenario, roles):
    """The finalized reply is what is judged: a transfer whose block time is after the
    intent's fillDeadline, or unknown (the deadline cannot be checked), proves nothing."""
    s = scenario
    order = s.order(roles["users"][2], roles["solver"], nonce=9500)
    sig = s.transfer(order, MIN_OUT)
    s.index(sig)
    s.filled(order, sig)
    oid = "0x" + order.order_id.hex()
    reply = s.rpc.transaction(sig, commitment="finalized")
    with s.node.store.connection():
        intent = IntentRow.get_by_id(oid)
        rows = solana_transfers(intent)

    def prove(intent, reply):
        return prove_solana_fill(intent, rows, dest_chain_id=CHAIN_ID,
                                 transactions=lambda sigs: [reply for _ in sigs])
    assert prove(intent, reply).ok
    intent.fill_deadline = reply["blockTime"] - 1
    late = prove(intent, reply)
    assert not late.ok and not late.wait and "after fillDeadline" in late.reason
    intent.fill_deadline = order.fill_deadline
    unknown = prove(intent, reply | {"blockTime": None})
    assert not unknown.ok and not unknown.wait and "no block time" in unknown.reason
    other = prove(intent, None)
    assert not other.ok and other.wait and "not finalized yet" in other.reason


def test_a_shortfall_on_solana_is_held_as_on_evm(scenario, roles):
    """The policy after the proof is the EVM intents' own: a transfer below the winning bid
    (above the minimum) is held for an operator (shortfall_policy: hold), not paid."""
    s = scenario
    order = s.order(roles["users"][0], roles["solver"], nonce=9600)
    sig = s.transfer(order, MIN_OUT + 10)
    s.index(sig)
    s.filled(order, sig, awarded_amount=MIN_OUT + 100, shortfall=90)
    assert poll(s.node)["devnet-a"]["sent"] is None and txs(s.node) == []
    held = orders(s.node)["0x" + order.order_id.hex()]
    assert held.status == "held" and "90 below the winning bid" in held.reason
    assert s.a.escrow_status(order.order_id) == 1


def test_solana_down_delays_its_intents_only(scenario, chains, roles):
    """solana-local gone: its intent waits (no FAILED), while an EVM intent of the same
    origin is settled in the same round."""
    from .conftest import open_and_fill, record_as_book

    s, (a, b) = scenario, chains
    order = s.order(roles["users"][1], roles["solver"], nonce=9700)
    sig = s.transfer(order, MIN_OUT)
    s.index(sig)
    s.filled(order, sig)
    evm = open_and_fill(a, b, roles["users"][2], roles["solver"], nonce=9701)
    record_as_book(s.node, a, b, evm)
    b.mine()
    s.local.shutdown()
    s.local.server_close()

    out = poll(s.node)["devnet-a"]
    assert out["orders"] == [evm.id]
    assert "0x" + order.order_id.hex() not in orders(s.node) and s.book.ask("seen") == []


def test_dust_tagged_with_the_order_id_does_not_hide_the_fill(scenario, roles):
    """Anyone can tag a transfer with an order id: an attacker's 120 dust transfers before
    the solver's fill (more than one batch of re-reads) are each refused, the fill proves."""
    s, a = scenario, scenario.a
    attacker = SOLANA_ACCOUNTS[5]
    start = a.head() + 1
    order = s.order(roles["users"][2], roles["solver"], nonce=9800)
    tag = "0x" + order.order_id.hex()
    dust = [s.local.chain.send_instructions(
        [spl_transfer_checked(str(attacker.pubkey), MINT, RECIPIENT, 1, 6), memo(tag)],
        attacker.keypair, []) for _ in range(120)]
    s.index(*dust)
    s.filled(order, dust[0])
    with s.node.store.connection():
        intent = IntentRow.get_by_id(tag)
        rows = solana_transfers(intent)
    alone = prove_solana_fill(intent, rows, dest_chain_id=CHAIN_ID, transactions=lambda sigs:
                              s.rpc.transactions_at(sigs, commitment="finalized"))
    assert not alone.ok and not alone.wait and alone.reason.endswith("and 110 more")
    fill = s.transfer(order, MIN_OUT)
    s.index(fill)
    with s.node.store.connection():
        assert len(solana_transfers(intent)) == 121
    poll(s.node)
    poll(s.node)
    [ev] = s.settled(start)
    assert ev["filler"] == roles["solver"].address
