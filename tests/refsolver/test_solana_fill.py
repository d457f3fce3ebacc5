"""Awards to Solana executed by the reference solver against a real devnet (anvil origin) and
a real solana-local: openFor naming the solver on the origin, the escrow judged with the
solver as its filler, then ONE Solana transaction (the recipient's token account created,
TransferChecked of the awarded amount, Memo v2 of the order id), confirmed and reported.
Never twice: a retried award, a restart after the signature was recorded (sent or not), and
an expired blockhash all end with exactly one transfer. Inventory: no bid beyond the SPL
balance, none without SOL for fees."""

from __future__ import annotations

import dataclasses
import json
import secrets
import threading
import time

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from solders.keypair import Keypair

from devnet import free_ports
from devnet.solana_keys import CHAIN_ID, SOLANA_ACCOUNTS, mint_keypair
from devnet.solana_rpc import SolanaRpcServer
from devnet.solana_svm import BLOCKHASH_VALIDITY
from protocol import GaslessOrder, OrbitalOrder
from protocol.solana import MEMO_PROGRAM, TOKEN_PROGRAM, associated_token_address
from solver import (AwardJob, Executor, FillJournal, Inventory, SolanaChain, SolanaChainSpec, SolanaKey,
                    SolanaToken, SolverConfig)

from .conftest import ONE_USDC

MINT = str(mint_keypair().pubkey())
SOLVER_SOL = SOLANA_ACCOUNTS[2]          # the devnet's Solana "solver" account (USDC and SOL)


class Crash(RuntimeError):
    """The solver process dying right before a transaction goes out."""


class Calls(list):
    def __call__(self, *args):
        self.append(args)


@pytest.fixture(scope="module")
def local():
    server = SolanaRpcServer("127.0.0.1", 0, slot_ms=0)     # a block per transaction only
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sol_spec(local):
    return SolanaChainSpec("solana-local", CHAIN_ID, (local.url,), {"USDC": SolanaToken("USDC", MINT, 6)})


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "solver-state"


@pytest.fixture
def make_sol(sol_spec, state_dir):
    """A SolanaChain as a (re)started solver builds it: same key, same journal directory."""
    def make(before_send=None, spec=None, confirm_timeout=10.0):
        return SolanaChain(spec or sol_spec, SolanaKey(SOLVER_SOL.keypair), FillJournal(state_dir),
                           confirm_timeout=confirm_timeout, before_send=before_send)
    return make


def _order32(orders, *, recipient: str, min_output=99 * ONE_USDC, input_amount=100 * ONE_USDC, nonce=None):
    """A signed USDC(devnet-a) -> USDC(solana-local) order (an OrbitalOrder32); ``nonce``
    None: a fresh one."""
    info, user = orders.info, orders.users[0]
    origin = info.chains[0]
    now = orders.web3s[origin.chain_id].eth.get_block("latest")["timestamp"]
    if nonce is None:
        orders._nonce += 1
    swap = OrbitalOrder(origin.contracts.tokens["USDC"].address, input_amount, MINT, min_output, recipient,
                        CHAIN_ID, "solana")
    order = GaslessOrder(origin.contracts.settler, user.address, orders._nonce if nonce is None else nonce,
                         origin.chain_id, now + 600,
                         now + 3600, swap)
    signature = "0x" + bytes(Account.sign_typed_data(user.private_key, full_message=order.typed_data()).signature).hex()
    return order, signature


def _job(order, signature, amount):
    return AwardJob("0x" + order.order_id.hex(), json.dumps(order.typed_data()), signature, amount)


def _executor(chain_pair, solver_key, sol, reports=None, mismatches=None):
    return Executor({c.chain_id: c for c in chain_pair}, solver_key.address, reports, mismatches,
                    solana={CHAIN_ID: sol})


def _transfers_to(local, wallet: str) -> list[str]:
    """Signatures of the transactions that touched ``wallet``'s USDC token account, from the chain."""
    return [r.signature for r in local.chain.signatures_for(associated_token_address(wallet, MINT), 1000, None, None)]


def _instructions(local, signature: str) -> list[tuple[str, bytes, list[str]]]:
    """(program, data, accounts) of each instruction of a landed transaction."""
    tx = local.chain.records[signature].tx
    keys = [str(k) for k in tx.message.account_keys]
    return [(keys[ix.program_id_index], bytes(ix.data), [keys[i] for i in bytes(ix.accounts)])
            for ix in tx.message.instructions]


def test_fill_lands_once_with_the_memo_to_the_recipients_token_account(
        chain_pair, solver_key, orders, local, make_sol):
    a, _ = chain_pair
    sol = make_sol()
    recipient = str(Keypair().pubkey())       # a wallet that never held USDC: no token account yet
    order, signature = _order32(orders, recipient=recipient)
    intent_id = "0x" + order.order_id.hex()
    bid = 99 * ONE_USDC + 99 * ONE_USDC // 1000
    solver_before = sol.token_balance(MINT)
    reports = Calls()

    outcome = _executor(chain_pair, solver_key, sol, reports).execute(_job(order, signature, bid))

    assert outcome.status == "filled", outcome.reason
    assert outcome.amount == bid and outcome.fill_tx
    # Origin: escrowed, naming the solver's EVM address as the filler the settler repays.
    escrow = a.escrow(order.order_id)
    assert (escrow.status_name, escrow.filler) == ("opened", solver_key.address)
    # Destination: exactly the awarded amount in the recipient's associated token account,
    # moved from the solver's; one transaction, carrying the order id as memo.
    assert sol.token_balance(MINT, recipient) == bid
    assert sol.token_balance(MINT) == solver_before - bid
    assert _transfers_to(local, recipient) == [outcome.fill_tx]
    programs = _instructions(local, outcome.fill_tx)
    assert [p for p, _, _ in programs] == [
        "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL", TOKEN_PROGRAM, MEMO_PROGRAM]
    _, transfer, accounts = programs[1]
    assert transfer[0] == 12 and int.from_bytes(transfer[1:9], "little") == bid and transfer[9] == 6
    assert accounts[:3] == [associated_token_address(sol.address, MINT), MINT,
                            associated_token_address(recipient, MINT)]
    assert programs[2][1] == intent_id.encode()
    assert local.chain.records[outcome.fill_tx].err is None
    # Reported as EVM fills are: the open on the origin, the fill (its signature) on chain 900.
    assert reports == [(intent_id, str(a.chain_id), outcome.open_tx, "open"),
                       (intent_id, str(CHAIN_ID), outcome.fill_tx, "fill")]

    # The award delivered again (a reconnect), to a restarted solver: no second transfer.
    again = _executor(chain_pair, solver_key, make_sol(), Calls()).execute(_job(order, signature, bid))
    assert (again.status, again.fill_tx, again.reason) == ("filled", outcome.fill_tx, "already filled by this solver")
    assert _transfers_to(local, recipient) == [outcome.fill_tx]
    assert sol.token_balance(MINT, recipient) == bid


def test_escrow_naming_another_filler_is_not_filled(chain_pair, solver_key, orders, local, make_sol):
    a, _ = chain_pair
    sol = make_sol()
    recipient = str(Keypair().pubkey())
    order, signature = _order32(orders, recipient=recipient)
    other = orders.users[2].address
    # Someone opened it first naming another filler: the settler repays only that filler.
    settler = a.w3.eth.contract(address=a.spec.settler, abi=a.settler.abi)
    tx = settler.functions.openFor(order.to_abi(), signature, abi_encode(["address"], [other])).transact(
        {"from": orders.users[1].address})
    assert a.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    solver_txs = len(local.chain.signatures_for(sol.address, 1000, None, None))
    reports = Calls()

    outcome = _executor(chain_pair, solver_key, sol, reports).execute(_job(order, signature, 99 * ONE_USDC))

    assert outcome.status == "lost", outcome
    assert other in outcome.reason
    assert outcome.fill_tx == "" and reports == []
    assert _transfers_to(local, recipient) == []
    assert len(local.chain.signatures_for(sol.address, 1000, None, None)) == solver_txs
    assert sol.recorded("0x" + order.order_id.hex()) is None


def test_same_nonce_substitution_naming_the_solver_is_reported_and_not_filled(
        chain_pair, solver_key, orders, local, make_sol):
    a, _ = chain_pair
    sol = make_sol()
    recipient = str(Keypair().pubkey())
    # The user signs A (1,000 USDC in) and B (1 unit in, 1 out) with one nonce, and opens B
    # first naming the solver: an escrow under A's id that names it but holds B.
    order_a, sig_a = _order32(orders, recipient=recipient, input_amount=1_000 * ONE_USDC,
                              min_output=990 * ONE_USDC)
    order_b, sig_b = _order32(orders, recipient=recipient, input_amount=1, min_output=1, nonce=order_a.nonce)
    assert order_b.order_id == order_a.order_id
    settler = a.w3.eth.contract(address=a.spec.settler, abi=a.settler.abi)
    tx = settler.functions.openFor(order_b.to_abi(), sig_b, abi_encode(["address"], [solver_key.address])).transact(
        {"from": orders.users[0].address})
    assert a.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    mismatches = Calls()

    outcome = _executor(chain_pair, solver_key, sol, Calls(), mismatches).execute(
        _job(order_a, sig_a, 990 * ONE_USDC))

    assert outcome.status == "mismatch", outcome
    assert "inputAmount 1 on chain, 1000000000 signed" in outcome.reason
    assert [m[0] for m in mismatches] == ["0x" + order_a.order_id.hex()]
    assert _transfers_to(local, recipient) == [] and outcome.fill_tx == ""
    assert sol.recorded("0x" + order_a.order_id.hex()) is None


def test_a_crash_after_recording_resends_the_same_transaction(chain_pair, solver_key, orders, local, make_sol):
    recipient = str(Keypair().pubkey())
    order, signature = _order32(orders, recipient=recipient)
    intent_id = "0x" + order.order_id.hex()

    def crash():
        raise Crash("killed right before sendTransaction")

    first = _executor(chain_pair, solver_key, make_sol(before_send=crash)).execute(_job(order, signature, 99 * ONE_USDC))
    assert first.status == "failed" and "Crash" in first.reason
    recorded = make_sol().recorded(intent_id)
    assert recorded is not None and recorded.status == "pending"
    assert recorded.signature not in local.chain.records      # recorded, never sent

    reports = Calls()
    second = _executor(chain_pair, solver_key, make_sol(), reports).execute(_job(order, signature, 99 * ONE_USDC))

    assert second.status == "filled", second.reason
    assert second.fill_tx == recorded.signature                # the recorded bytes, not a new transfer
    assert _transfers_to(local, recipient) == [recorded.signature]
    assert make_sol().token_balance(MINT, recipient) == 99 * ONE_USDC
    assert reports[-1] == (intent_id, str(CHAIN_ID), recorded.signature, "fill")


def test_an_expired_unsent_transaction_is_rebuilt_once(chain_pair, solver_key, orders, local, make_sol):
    recipient = str(Keypair().pubkey())
    order, signature = _order32(orders, recipient=recipient)
    intent_id = "0x" + order.order_id.hex()

    def crash():
        raise Crash("killed")

    _executor(chain_pair, solver_key, make_sol(before_send=crash)).execute(_job(order, signature, 99 * ONE_USDC))
    old = make_sol().recorded(intent_id)
    assert old is not None
    for _ in range(BLOCKHASH_VALIDITY + 2):      # its blockhash expires: it can never land now
        local.chain.new_block()

    outcome = _executor(chain_pair, solver_key, make_sol()).execute(_job(order, signature, 99 * ONE_USDC))

    assert outcome.status == "filled", outcome.reason
    assert outcome.fill_tx != old.signature
    now = make_sol().recorded(intent_id)
    assert (now.signature, now.status, now.replaced) == (outcome.fill_tx, "landed", [old.signature])
    assert _transfers_to(local, recipient) == [outcome.fill_tx]
    assert old.signature not in local.chain.records


def test_a_fill_the_node_refuses_is_not_forced_and_is_rebuilt_only_after_expiry(
        chain_pair, solver_key, orders, local, make_sol, sol_spec):
    recipient = str(Keypair().pubkey())
    order, signature = _order32(orders, recipient=recipient)
    intent_id = "0x" + order.order_id.hex()
    # Configured with the wrong decimals: TransferChecked fails, the node's preflight refuses.
    wrong = dataclasses.replace(sol_spec, tokens={"USDC": SolanaToken("USDC", MINT, 9)})

    outcome = _executor(chain_pair, solver_key, make_sol(spec=wrong)).execute(_job(order, signature, 99 * ONE_USDC))

    assert outcome.status == "failed" and "refused" in outcome.reason, outcome
    refused = make_sol().recorded(intent_id)
    assert (refused.status, refused.sent) == ("pending", False) and refused.error
    assert refused.signature not in local.chain.records       # nothing landed, not even a failed tx
    # Fixed config, but the refused transaction's blockhash is still valid: it is followed, not
    # replaced (a refusal does not prove it never lands) ...
    again = _executor(chain_pair, solver_key, make_sol(confirm_timeout=0.5)).execute(
        _job(order, signature, 99 * ONE_USDC))
    assert again.status == "failed" and again.fill_tx == refused.signature
    assert "a retry follows the same signature" in again.reason
    assert _transfers_to(local, recipient) == []
    # ... and once it expired unseen, replaced by one that lands.
    for _ in range(BLOCKHASH_VALIDITY + 2):
        local.chain.new_block()
    done = _executor(chain_pair, solver_key, make_sol()).execute(_job(order, signature, 99 * ONE_USDC))
    assert done.status == "filled", done.reason
    assert _transfers_to(local, recipient) == [done.fill_tx]
    assert make_sol().recorded(intent_id).replaced == [refused.signature]


def test_reads_and_fills_fail_over_to_the_next_rpc_url(chain_pair, solver_key, orders, local, make_sol, sol_spec):
    [dead] = free_ports(1)                     # nothing listens there
    spec = dataclasses.replace(sol_spec, rpc_urls=(f"http://127.0.0.1:{dead}", local.url))
    sol = make_sol(spec=spec)
    assert sol.token_balance(MINT) == make_sol().token_balance(MINT) > 0
    recipient = str(Keypair().pubkey())
    order, signature = _order32(orders, recipient=recipient)

    outcome = _executor(chain_pair, solver_key, make_sol(spec=spec)).execute(_job(order, signature, 99 * ONE_USDC))

    assert outcome.status == "filled", outcome.reason
    assert _transfers_to(local, recipient) == [outcome.fill_tx]
    # With no URL answering: an error naming the chain and the call.
    down = make_sol(spec=dataclasses.replace(sol_spec, rpc_urls=(f"http://127.0.0.1:{dead}",)))
    with pytest.raises(ConnectionError, match="solana-local: no RPC URL answered getBalance"):
        down.spendable(MINT)


def test_a_recorded_unsent_fill_is_not_sent_once_voided_or_too_late(local, make_sol):
    """Not sending a transaction no node accepted is always safe; sending it for a voided
    award, or one that would land after fillDeadline, is not."""
    recipient = str(Keypair().pubkey())
    order_id = "0x" + secrets.token_hex(32)
    later = int(time.time()) + 3600

    def crash():
        raise Crash("killed")

    with pytest.raises(Crash):
        make_sol(before_send=crash).fill(order_id, recipient, MINT, ONE_USDC, later)
    recorded = make_sol().recorded(order_id)
    assert recorded is not None and not recorded.sent

    voided = make_sol().fill(order_id, recipient, MINT, ONE_USDC, later, may_send=lambda: "award voided")
    late = make_sol().fill(order_id, recipient, MINT, ONE_USDC, int(time.time()))

    assert (voided.ok, voided.error, voided.signature) == (False, "award voided", recorded.signature)
    assert not late.ok and "fillDeadline" in late.error
    assert recorded.signature not in local.chain.records and _transfers_to(local, recipient) == []
    # Nothing else is the matter with it: allowed, it lands, once.
    done = make_sol().fill(order_id, recipient, MINT, ONE_USDC, later)
    assert done.ok and done.signature == recorded.signature
    assert _transfers_to(local, recipient) == [recorded.signature]


def test_an_unreadable_journal_stops_fills(local, make_sol, state_dir):
    """Read as empty, a damaged journal would re-pay every order it holds: it fails instead."""
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "solana-fills.json").write_text("[1, 2")
    recipient = str(Keypair().pubkey())
    with pytest.raises(ValueError):
        make_sol().fill("0x" + secrets.token_hex(32), recipient, MINT, ONE_USDC, int(time.time()) + 3600)
    assert _transfers_to(local, recipient) == []


def _config(specs, solver_key, sol_spec):
    return SolverConfig(target="127.0.0.1:1", key=solver_key, chains=tuple(specs), solana_chains=(sol_spec,),
                        solana_key=SolanaKey(SOLVER_SOL.keypair))


def test_bids_only_what_the_solana_inventory_can_fill(specs, solver_key, chain_pair, sol_spec, make_sol):
    sol = make_sol()
    config = _config(specs, solver_key, sol_spec)
    inventory = Inventory(config, {c.chain_id: c for c in chain_pair}, solana={CHAIN_ID: sol})
    origin = chain_pair[0].chain_id
    have = sol.token_balance(MINT)
    assert have > 0

    bid = inventory.decide("0x01", origin, CHAIN_ID, MINT, 1_000 * ONE_USDC)
    assert bid.amount == 1_000 * ONE_USDC + 1_000 * ONE_USDC // 1000
    assert inventory.held(CHAIN_ID, MINT) == bid.amount
    # Beyond the SPL balance (less what is already promised): no bid.
    short = inventory.decide("0x02", origin, CHAIN_ID, MINT, have)
    assert short.amount is None and short.reason.startswith("inventory:")
    # Another mint, or an EVM address as the output of a Solana order: not served.
    assert inventory.decide("0x03", origin, CHAIN_ID, str(Keypair().pubkey()), 1).reason == "output token not served"
    assert inventory.decide("0x04", origin, CHAIN_ID, chain_pair[1].spec.tokens["USDC"], 1).reason == \
        "output token not served"
    # Without SOL for the fee and a recipient's token account: nothing to bid.
    poor = SolanaChain(dataclasses.replace(sol_spec, min_lamports=sol.lamports() + 1), SolanaKey(SOLVER_SOL.keypair),
                       sol.journal)
    starved = Inventory(config, {c.chain_id: c for c in chain_pair}, solana={CHAIN_ID: poor})
    assert starved.decide("0x05", origin, CHAIN_ID, MINT, ONE_USDC).amount is None


def test_an_award_beyond_the_inventory_opens_nothing(chain_pair, solver_key, orders, local, make_sol):
    a, _ = chain_pair
    sol = make_sol()
    recipient = str(Keypair().pubkey())
    too_much = sol.token_balance(MINT) + 1
    order, signature = _order32(orders, recipient=recipient, min_output=too_much)

    outcome = _executor(chain_pair, solver_key, sol).execute(_job(order, signature, too_much))

    assert (outcome.status, outcome.release, outcome.open_tx) == ("failed", True, "")
    assert outcome.reason.startswith("inventory:")
    assert a.escrow(order.order_id).status_name == "none"
    assert _transfers_to(local, recipient) == []
