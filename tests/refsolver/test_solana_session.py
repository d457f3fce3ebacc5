"""The reference solver with a Solana chain against a real node on loopback (chain watchers,
intent book, solver service; anvil origin, solana-local destination): its hello declares
the Solana chain (900) and is welcomed; an intent to Solana submitted to the node is bid on
from the solver's SPL inventory, awarded, opened on the origin naming the solver, and
filled on solana-local with one memo-tagged transfer, reported to the node. (FILLED from
the watcher's Solana evidence is the node's side: tested there.)"""

from __future__ import annotations

import dataclasses
import threading

import pytest
from solders.keypair import Keypair

from devnet.solana_keys import CHAIN_ID, SOLANA_ACCOUNTS, mint_keypair
from devnet.solana_rpc import SolanaRpcServer
from orbital.v1 import intents_pb2
from protocol.solana import associated_token_address
from solver import SolanaChainSpec, SolanaKey, SolanaToken, Solver, load_config
from tests._node import TestNodes, chains_section

from .conftest import ONE_USDC, make_app, wait_until
from .test_session import SESSIONS, _sessions, _status, _submit
from .test_solana_fill import _order32

MINT = str(mint_keypair().pubkey())


@pytest.fixture(scope="module")
def local():
    server = SolanaRpcServer("127.0.0.1", 0, slot_ms=50)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def node(tmp_path, devnet_info, local):
    """A node whose chains are the devnet's two anvils and solana-local (chain id 900)."""
    chains = chains_section(devnet_info.chains, confirmations=0, poll_interval=0.1)
    chains["solana-local"] = {"kind": "solana", "chain_id": CHAIN_ID, "rpc": [local.url],
                              "commitment": "confirmed", "poll_interval": 0.1,
                              "tokens": {"USDC": {"mint": MINT, "decimals": 6}}}
    with TestNodes(tmp_path) as nodes:
        path = nodes.config(None, {"intents": {"heartbeat_interval": 0.2, "heartbeat_timeout": 2,
                                               "auction_window": 0.2}, "chains": chains},
                            supervision={"intents/solvers": {"intensity": 1000, "period": 60}})
        yield nodes.start(path, make_app())


@pytest.fixture
def solana_solver(node, devnet_info, local, tmp_path):
    cfg = load_config(target=f"127.0.0.1:{node.grpc_port}", devnet_dir=devnet_info.state_dir,
                      env={"ORBITAL_SOLVER_KEY": devnet_info.account("solver").private_key},
                      state_dir=str(tmp_path / "solver"), backoff=None)
    # This devnet's devnet.json has no solana-local (it runs in-process here): configured as
    # an explicit YAML chain would be.
    spec = SolanaChainSpec("solana-local", CHAIN_ID, (local.url,), {"USDC": SolanaToken("USDC", MINT, 6)})
    solver = Solver(dataclasses.replace(cfg, solana_chains=(spec,),
                                        solana_key=SolanaKey(SOLANA_ACCOUNTS[2].keypair))).start()
    yield solver
    solver.stop()


def test_an_intent_to_solana_is_bid_awarded_opened_and_filled(node, solana_solver, orders, local, devnet_info):
    solver = solana_solver
    assert solver.connected.wait(10), solver.error
    assert _sessions(node) == [SESSIONS + devnet_info.account("solver").address.lower()]
    sol = solver.solana[CHAIN_ID]
    recipient = str(Keypair().pubkey())
    order, signature = _order32(orders, recipient=recipient)
    solver_before = sol.token_balance(MINT)

    intent = _submit(node, order, signature)
    outcome = solver.wait_outcome(intent.id, timeout=30)

    assert outcome is not None and outcome.status == "filled", outcome
    bid = 99 * ONE_USDC + 99 * ONE_USDC // 1000
    assert outcome.amount == bid
    assert sol.token_balance(MINT, recipient) == bid
    assert sol.token_balance(MINT) == solver_before - bid
    ata = associated_token_address(recipient, MINT)
    assert [r.signature for r in local.chain.signatures_for(ata, 10, None, None)] == [outcome.fill_tx]
    assert bytes(local.chain.records[outcome.fill_tx].tx.message.instructions[-1].data) == intent.id.encode()
    # The node awarded it to this solver at its bid, and saw its openFor on the origin.
    final = wait_until(lambda: (i := _status(node, intent.id)).status == intents_pb2.INTENT_STATUS_OPENED and i,
                       what="the intent to be OPENED")
    assert final.solver == solver.config.address and final.awarded_output_amount == str(bid)
    assert final.history[-1].evidence.tx_hash == outcome.open_tx
    assert solver.stats["awards"] == 1

    # Reporting a Solana fill (a base58 signature) does not end the solver: a node that does
    # not take such a report yet refuses that one message, and the solver reconnects.
    second, second_sig = _order32(orders, recipient=recipient)
    again = solver.wait_outcome(_submit(node, second, second_sig).id, timeout=30)
    assert again is not None and again.status == "filled", again
    assert solver.error is None
    assert sol.token_balance(MINT, recipient) == 2 * bid
