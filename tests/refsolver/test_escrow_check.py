"""The solver verifies before it pays (issue 10, point 4), on a real devnet: the escrow under
the award's order id must name this solver and hold exactly the award's terms, or it is not
filled; a same-nonce substitution is reported to the node, which records it in the intent's
history; a Loss voids an award that is still being executed.

The attack: the user signs order A (1,000 USDC in) and order B (1 unit in, 1 out) with one
nonce (so one order id), submits A, and front-runs the winner's ``openFor(A)`` with
``openFor(B, sigB, abi.encode(winner))``. The winner's open reverts (OrderAlreadyOpened) and
an escrow naming it sits under A's id: filling A's output against it would pay ~990 USDC for
a 1-unit repayment."""

from __future__ import annotations

import json
import threading

from eth_abi import encode as abi_encode

from solver import AwardJob, Executor, Solver, load_config
from orbital.v1 import intents_pb2, solver_pb2
from protocol.evidence import Terms

from .conftest import ONE_USDC, wait_until
from .test_session import _status, _submit

A_IN, A_OUT = 1_000 * ONE_USDC, 989_970_000        # A: 1,000 USDC in, 989.97 out
VOIDED = "opened on chain with other terms than the signed order (same user and nonce): ..."


class Calls(list):
    """A reporter that records its calls (fill reports, mismatch reports)."""

    def __call__(self, *args):
        self.append(args)


def _job(order, signature, amount=A_OUT):
    return AwardJob("0x" + order.order_id.hex(), json.dumps(order.typed_data()), signature, amount)


def _substitution(orders, user, recipient):
    """(A, sigA, B, sigB): two orders of ``user`` signed with one nonce, so one order id."""
    order_a, sig_a = orders.make(user, recipient=recipient, input_amount=A_IN, min_output=A_OUT)
    order_b, sig_b = orders.make(user, recipient=recipient, input_amount=1, min_output=1, nonce=order_a.nonce)
    assert order_b.order_id == order_a.order_id
    return order_a, sig_a, order_b, sig_b


def _open_for(chain, order, signature, filler: str, sender: str, **tx):
    """``openFor`` sent by ``sender`` (an unlocked devnet account) naming ``filler``."""
    settler = chain.w3.eth.contract(address=chain.spec.settler, abi=chain.settler.abi)
    return settler.functions.openFor(order.to_abi(), signature, abi_encode(["address"], [filler])).transact(
        {"from": sender, **tx})


def _balances(orders, chain_pair, recipient, solver):
    b = chain_pair[1]
    return {"recipient_b": orders.balance(1, recipient), "solver_b": orders.balance(1, solver),
            "solver_txs_b": b.w3.eth.get_transaction_count(solver)}


def test_same_nonce_substitution_is_reported_and_not_filled(chain_pair, solver_key, orders):
    a, b = chain_pair
    user, recipient, solver = orders.users[1], orders.users[2].address, solver_key.address
    order_a, sig_a, order_b, sig_b = _substitution(orders, user, recipient)
    # The user, as the attacker: B opened first, naming the solver as its filler.
    tx = _open_for(a, order_b, sig_b, filler=solver, sender=user.address)
    assert a.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    before = _balances(orders, chain_pair, recipient, solver)
    reports, mismatches = Calls(), Calls()

    outcome = Executor({c.chain_id: c for c in chain_pair}, solver, reports, mismatches).execute(
        _job(order_a, sig_a))

    assert outcome.status == "mismatch", outcome
    assert "inputAmount 1 on chain, 1000000000 signed" in outcome.reason and "fill key" in outcome.reason
    assert (outcome.open_tx, outcome.fill_tx) == ("", "")   # openFor refused at estimation
    # Nothing paid: no transaction at all on the destination, balances unchanged.
    assert _balances(orders, chain_pair, recipient, solver) == before
    assert reports == []
    [(intent_id, chain, reason)] = mismatches
    assert (intent_id, chain) == ("0x" + order_a.order_id.hex(), str(a.chain_id))
    assert reason.startswith("inputAmount 1 on chain, 1000000000 signed") and len(reason) <= 1024
    escrow = a.escrow(order_a.order_id)                      # still B's, naming the solver
    assert (escrow.status_name, escrow.filler, escrow.input_amount) == ("opened", solver, 1)
    assert escrow.fill_key == Terms.from_order(order_b, b.spec.settler).fill_key


def test_escrow_of_another_filler_is_a_lost_race_not_a_mismatch(chain_pair, solver_key, orders, devnet_info):
    a, _ = chain_pair
    user, operator = orders.users[1], devnet_info.account("operator").address
    order_a, sig_a, order_b, sig_b = _substitution(orders, user, user.address)
    assert a.w3.eth.wait_for_transaction_receipt(
        _open_for(a, order_b, sig_b, filler=operator, sender=user.address))["status"] == 1
    mismatches = Calls()

    outcome = Executor({c.chain_id: c for c in chain_pair}, solver_key.address, None, mismatches).execute(
        _job(order_a, sig_a))

    assert outcome.status == "lost" and f"OrderAlreadyOpened: order opened by {operator}" == outcome.reason
    assert mismatches == []


def test_an_escrow_of_ours_holding_the_award_is_filled_with_the_terms_origin_data(chain_pair, solver_key,
                                                                                   orders):
    """A re-delivered award (opened by an earlier delivery): checked, then filled with the
    originData the award's terms encode, whose keccak256 is the escrow's fill key."""
    a, b = chain_pair
    order, signature = orders.make(orders.users[3])
    opened, _ = a.open_for(order, bytes.fromhex(signature[2:]), abi_encode(["address"], [solver_key.address]))
    assert opened.ok
    mismatches = Calls()

    outcome = Executor({c.chain_id: c for c in chain_pair}, solver_key.address, None, mismatches).execute(
        _job(order, signature, 99 * ONE_USDC))

    assert outcome.status == "filled", outcome.reason
    assert mismatches == []
    terms = Terms.from_order(order, b.spec.settler)
    assert a.escrow(order.order_id).fill_key == terms.fill_key
    assert b.filled_by(terms.origin_data) == solver_key.address


# ---- a Loss voids an award in execution ------------------------------------------------------
def test_loss_between_open_and_fill_stops_the_fill(chain_pair, solver_key, orders):
    """The Loss arrives once openFor is mined (here: from the open's report, which runs
    between the two transactions): the fill is not sent."""
    a, b = chain_pair
    user, recipient = orders.users[1], orders.users[2].address
    order, signature = orders.make(user, recipient=recipient)
    job = _job(order, signature, 99 * ONE_USDC)
    before = _balances(orders, chain_pair, recipient, solver_key.address)
    reports = Calls()

    def report(*args):
        reports(*args)
        job.abort.set(VOIDED)

    outcome = Executor({c.chain_id: c for c in chain_pair}, solver_key.address, report).execute(job)

    assert outcome.status == "aborted" and outcome.reason == f"award voided before the fill: {VOIDED}"
    assert [r[3] for r in reports] == ["open"] and outcome.open_tx and not outcome.fill_tx
    assert a.escrow(order.order_id).status_name == "opened"
    assert _balances(orders, chain_pair, recipient, solver_key.address) == before


def test_loss_while_the_award_is_queued_stops_it_before_open_for(snapshot, devnet_info, orders):
    """Through the Solver's session handlers: an award queued behind another (one worker),
    then its Loss, read by the session thread: the award ends aborted, never opened."""
    cfg = load_config(target="127.0.0.1:1", devnet_dir=devnet_info.state_dir, backoff=None, max_parallel=1,
                      env={"ORBITAL_SOLVER_KEY": devnet_info.account("solver").private_key})
    solver = Solver(cfg)            # not started: the handlers are driven directly
    try:
        gate = threading.Event()
        solver._pool.submit(gate.wait, 30)       # the only worker is busy
        order, signature = orders.make(orders.users[4])
        intent_id = "0x" + order.order_id.hex()
        solver.on_award(None, solver_pb2.Award(intent_id=intent_id, output_amount=str(99 * ONE_USDC),
                                               typed_data=json.dumps(order.typed_data()), signature=signature))
        solver.on_loss(None, solver_pb2.Loss(intent_id=intent_id, reason=VOIDED))
        gate.set()
        outcome = solver.wait_outcome(intent_id, timeout=30)
        assert outcome is not None and outcome.status == "aborted", outcome
        assert outcome.reason == f"award voided before openFor: {VOIDED}"
        assert solver.chains[order.origin_chain_id].escrow(order.order_id).status_name == "none"
        assert solver._inflight == {}            # nothing kept once the award ended
        # A Loss for an intent not in execution (outbid) touches no award.
        solver.on_loss(None, solver_pb2.Loss(intent_id="0x" + "ab" * 32, reason="outbid"))
        assert solver._inflight == {}
    finally:
        solver.stop()


# ---- the node records the report -------------------------------------------------------------
def test_the_node_records_the_mismatch_of_a_substitution_inside_one_block(node_factory, solver_factory,
                                                                          orders, devnet_info):
    """The whole attack against a node: A is submitted and awarded; the solver's openFor(A) is
    in the pool when the user's openFor(B, filler = solver) outbids it into the same block.
    The solver's open reverts on chain, it finds B's escrow naming it, does not fill, and
    reports: the intent's history gets an ``escrow_mismatch`` entry from this solver."""
    node = node_factory()
    solver = solver_factory(node)
    assert solver.connected.wait(10), solver.error
    address = solver.config.address
    user, recipient = orders.users[5], orders.users[4].address
    order_a, sig_a, order_b, sig_b = _substitution(orders, user, recipient)
    origin = solver.chains[order_a.origin_chain_id]
    w3a = origin.w3
    pending = w3a.eth.get_transaction_count(address, "pending")
    before = {"recipient_b": orders.balance(1, recipient), "solver_b": orders.balance(1, address)}
    w3a.provider.make_request("evm_setAutomine", [False])
    try:
        intent = _submit(node, order_a, sig_a)
        wait_until(lambda: w3a.eth.get_transaction_count(address, "pending") > pending,
                   what="the solver's openFor in the pool")
        tip = 10 * w3a.eth.max_priority_fee + 10**10
        _open_for(origin, order_b, sig_b, filler=address, sender=user.address, gas=500_000,
                  maxPriorityFeePerGas=tip, maxFeePerGas=10 * tip)
        w3a.provider.make_request("evm_mine", [])
    finally:
        w3a.provider.make_request("evm_setAutomine", [True])

    outcome = solver.wait_outcome(intent.id, timeout=30)

    assert outcome is not None and outcome.status == "mismatch", outcome
    assert w3a.eth.get_transaction_receipt(outcome.open_tx)["status"] == 0   # reverted: B was first
    assert outcome.fill_tx == "" and solver.stats["mismatch_reports"] == 1
    assert {"recipient_b": orders.balance(1, recipient), "solver_b": orders.balance(1, address)} == before

    def both_seen():   # the report, and B's Open seen by the chain watcher (in either order)
        intent_now = _status(node, intent.id)
        findings = [t.finding for t in intent_now.history]
        return "escrow_mismatch" in findings and "conflicting_open" in findings and intent_now
    final = wait_until(both_seen, what="the escrow_mismatch and conflicting_open history entries")
    [entry] = [t for t in final.history if t.finding == "escrow_mismatch"]
    assert entry.solver == address
    assert "does not match its award" in entry.reason and "inputAmount 1 on chain" in entry.reason
    assert final.status == intents_pb2.INTENT_STATUS_OPENED and final.input_amount == "1"   # B's terms
