"""The reference solver against a real node on loopback (chain watchers, intent book, solver
service) on a real devnet: login, heartbeats, reconnect, and the whole flow from SubmitIntent
to openFor + fill on chain, seen by the node as OPENED then FILLED."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import grpc
from eth_account import Account

from devnet import free_ports
from orbital.v1 import intents_pb2, intents_pb2_grpc, quoter_pb2, quoter_pb2_grpc

from .conftest import ONE_USDC, wait_until


SESSIONS = "intents/solvers/session/"


def _sessions(node):
    return node.registry.paths(SESSIONS)


def test_logs_in_and_keeps_the_session_alive_with_heartbeats(node_factory, solver_factory, devnet_info):
    node = node_factory(heartbeat_interval=0.1, heartbeat_timeout=0.5)
    solver = solver_factory(node)
    assert solver.connected.wait(10), solver.error
    address = devnet_info.account("solver").address
    assert _sessions(node) == [SESSIONS + address.lower()]
    # Three heartbeat timeouts later the same session is still there: heartbeats keep it.
    assert not solver._stop.wait(1.5)
    assert solver.sessions == 1 and solver.connected.is_set()
    assert _sessions(node) == [SESSIONS + address.lower()]
    solver.stop()
    wait_until(lambda: not _sessions(node), what="the session to end with the solver")


def test_reconnects_when_the_node_comes_back(node_factory, solver_factory, tmp_path):
    [port] = free_ports(1)
    db = f"sqlite:///{tmp_path}/orbital.db"
    node = node_factory(port=port, db=db)
    solver = solver_factory(f"127.0.0.1:{port}")
    assert solver.connected.wait(10)
    node.shutdown()
    wait_until(lambda: not solver.connected.is_set(), what="the solver to notice the node is gone")
    node = node_factory(port=port, db=db)
    assert solver.connected.wait(15), "the solver did not reconnect"
    assert solver.sessions >= 2 and solver.error is None
    assert len(_sessions(node)) == 1


def test_a_solver_the_node_does_not_admit_stops_with_the_reason(node_factory, solver_factory):
    node = node_factory(allowed_solvers="['0x" + "11" * 20 + "']")
    solver = solver_factory(node)
    wait_until(lambda: solver.error, what="the refusal")
    assert solver.error.startswith("PERMISSION_DENIED") and "allowed_solvers" in solver.error
    assert not solver.connected.is_set()


def _submit(node, order, signature):
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        stub = intents_pb2_grpc.IntentServiceStub(ch)
        return stub.SubmitIntent(intents_pb2.SubmitIntentRequest(
            typed_data=json.dumps(order.typed_data()), signature=signature), timeout=10)


def _status(node, intent_id):
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        return intents_pb2_grpc.IntentServiceStub(ch).GetIntent(intents_pb2.GetIntentRequest(id=intent_id),
                                                                timeout=10)


def test_submitted_intent_is_awarded_opened_and_filled(node_factory, solver_factory, orders, devnet_info):
    node = node_factory()
    solver = solver_factory(node, improvement_bps=20)
    assert solver.connected.wait(10)
    user, recipient = orders.users[3], orders.users[4].address
    order, signature = orders.make(user, recipient=recipient)
    before = {"user_a": orders.balance(0, user.address), "recipient_b": orders.balance(1, recipient),
              "solver_b": orders.balance(1, solver.config.address)}

    intent = _submit(node, order, signature)
    assert intent.id == "0x" + order.order_id.hex()
    outcome = solver.wait_outcome(intent.id, timeout=30)

    assert outcome is not None and outcome.status == "filled", outcome
    bid = 99 * ONE_USDC + 99 * ONE_USDC * 20 // 10_000
    assert outcome.amount == bid
    assert orders.balance(0, user.address) == before["user_a"] - 100 * ONE_USDC
    assert orders.balance(1, recipient) == before["recipient_b"] + bid
    assert orders.balance(1, solver.config.address) == before["solver_b"] - bid
    # The node saw it all: the award to this solver, then Open and Filled on chain.
    final = wait_until(lambda: (i := _status(node, intent.id)).status == intents_pb2.INTENT_STATUS_FILLED and i,
                       what="the intent to be FILLED")
    assert final.solver == solver.config.address and final.awarded_output_amount == str(bid)
    statuses = [t.status for t in final.history]
    assert statuses[-3:] == [intents_pb2.INTENT_STATUS_ASSIGNED, intents_pb2.INTENT_STATUS_OPENED,
                             intents_pb2.INTENT_STATUS_FILLED]
    assert final.history[-2].evidence.tx_hash == outcome.open_tx
    assert final.history[-1].evidence.tx_hash == outcome.fill_tx
    assert solver.stats["bids"] >= 1 and solver.stats["awards"] == 1


def test_quote_sign_submit_then_the_solver_opens_and_fills(node_factory, solver_factory, orders, devnet_info):
    """The user's path of SPEC section 2: GetQuote -> sign the typed data -> SubmitIntent."""
    node = node_factory(quoter=True)
    solver = solver_factory(node)
    assert solver.connected.wait(10)
    user = orders.users[5]
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        quote = quoter_pb2_grpc.QuoterServiceStub(ch).GetQuote(quoter_pb2.GetQuoteRequest(
            origin_chain="devnet-a", destination_chain="devnet-b", input_token="USDC", output_token="USDC",
            input_amount=str(50 * ONE_USDC), user=user.address), timeout=10)
        signature = "0x" + bytes(Account.sign_typed_data(user.private_key, full_message=json.loads(
            quote.typed_data)).signature).hex()
        before = orders.balance(1, user.address)
        intent = intents_pb2_grpc.IntentServiceStub(ch).SubmitIntent(
            intents_pb2.SubmitIntentRequest(typed_data=quote.typed_data, signature=signature), timeout=10)
    assert intent.id == quote.order_id
    outcome = solver.wait_outcome(intent.id, timeout=30)
    assert outcome is not None and outcome.status == "filled", outcome
    minimum = int(quote.min_output_amount)
    assert outcome.amount == minimum + minimum * 10 // 10_000
    assert orders.balance(1, user.address) == before + outcome.amount >= before + minimum
    wait_until(lambda: _status(node, intent.id).status == intents_pb2.INTENT_STATUS_FILLED,
               what="the intent to be FILLED")


def test_the_higher_bid_wins_and_the_loser_moves_on(node_factory, solver_factory, orders, devnet_info):
    node = node_factory()
    generous = solver_factory(node, account="solver", improvement_bps=50)
    modest = solver_factory(node, account="operator", improvement_bps=5)
    assert generous.connected.wait(10) and modest.connected.wait(10)
    order, signature = orders.make(orders.users[2])
    intent = _submit(node, order, signature)

    outcome = generous.wait_outcome(intent.id, timeout=30)
    assert outcome is not None and outcome.status == "filled", outcome
    assert outcome.amount == 99 * ONE_USDC + 99 * ONE_USDC * 50 // 10_000
    wait_until(lambda: modest.stats["losses"] == 1, what="the loser to be told")
    assert modest.stats["bids"] == 1 and modest.stats["awards"] == 0 and intent.id not in modest.outcomes
    usdc_b = devnet_info.chains[1].contracts.tokens["USDC"].address
    assert modest.inventory.held(devnet_info.chains[1].chain_id, usdc_b) == 0   # its bid released
    final = wait_until(lambda: (i := _status(node, intent.id)).status == intents_pb2.INTENT_STATUS_FILLED and i,
                       what="the intent to be FILLED")
    assert final.solver == generous.config.address


def test_cli_runs_as_a_process_and_stops_on_sigterm(node_factory, devnet_info):
    node = node_factory()
    env = dict(os.environ, ORBITAL_SOLVER_KEY=devnet_info.account("solver").private_key)
    proc = subprocess.Popen([sys.executable, "-m", "solver", "--target", f"127.0.0.1:{node.grpc_port}",
                             "--devnet-dir", devnet_info.state_dir], env=env, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    reader.start()
    try:
        # welcomed = the session is up on both sides (the node's actor exists a moment earlier)
        wait_until(lambda: any("welcomed" in ln for ln in lines) or proc.poll() is not None, timeout=30,
                   what="the CLI's session")
        assert proc.poll() is None, "".join(lines)
        assert _sessions(node)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(5)
    err = "".join(lines)
    assert "welcomed" in err
    assert devnet_info.account("solver").private_key[2:] not in err
    wait_until(lambda: not _sessions(node), what="the session to end with the process")
