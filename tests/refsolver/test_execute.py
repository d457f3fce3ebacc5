"""Awards executed on a real devnet: openFor on the origin chain, fill on the destination, with
balances checked on both chains; races lost to another filler; re-delivered awards; refusals."""

from __future__ import annotations

import json
import threading

from eth_abi import encode as abi_encode
from web3 import Web3

from solver import AwardJob, Executor
from protocol import ResolvedOrder

ONE_USDC = 10**6


class Reports(list):
    def __call__(self, intent_id, chain, tx_hash, kind):
        self.append((intent_id, chain, tx_hash, kind))


def _job(order, signature, amount):
    return AwardJob("0x" + order.order_id.hex(), json.dumps(order.typed_data()), signature, amount)


def _executor(chain_pair, solver_key, reports=None):
    return Executor({c.chain_id: c for c in chain_pair}, solver_key.address, reports)


def test_award_opens_on_origin_and_fills_on_destination(chain_pair, solver_key, orders, devnet_info):
    a, b = chain_pair
    user, recipient = orders.users[0], orders.users[1].address
    solver = solver_key.address
    order, signature = orders.make(user, recipient=recipient)
    before = {"user_a": orders.balance(0, user.address), "escrow": orders.balance(0, a.spec.settler),
              "recipient_b": orders.balance(1, recipient), "solver_b": orders.balance(1, solver)}
    reports = Reports()
    bid = 99 * ONE_USDC + 99 * ONE_USDC // 1000   # the minimum + 10 bps

    outcome = _executor(chain_pair, solver_key, reports).execute(_job(order, signature, bid))

    assert outcome.status == "filled", outcome.reason
    assert outcome.amount == bid
    # Origin: the user's input is escrowed, with this solver as the filler to repay.
    assert orders.balance(0, user.address) == before["user_a"] - 100 * ONE_USDC
    assert orders.balance(0, a.spec.settler) == before["escrow"] + 100 * ONE_USDC
    escrow = a.escrow(order.order_id)
    assert (escrow.status_name, escrow.filler, escrow.user) == ("opened", solver, user.address)
    # Destination: the recipient got the bid (more than the minimum) from the solver's inventory.
    assert orders.balance(1, recipient) == before["recipient_b"] + bid
    assert orders.balance(1, solver) == before["solver_b"] - bid
    # Both transactions reported, with hashes of mined, successful transactions on the right chain.
    intent_id = "0x" + order.order_id.hex()
    assert reports == [(intent_id, str(a.chain_id), outcome.open_tx, "open"),
                       (intent_id, str(b.chain_id), outcome.fill_tx, "fill")]
    assert a.w3.eth.get_transaction_receipt(outcome.open_tx)["status"] == 1
    assert b.w3.eth.get_transaction_receipt(outcome.fill_tx)["status"] == 1
    assert a.w3.eth.get_transaction(outcome.open_tx)["type"] == 2   # EIP-1559
    origin_data = a.resolve_for(order, abi_encode(["address"], [solver])).fill_instructions[0].origin_data
    assert b.filled_by(origin_data) == solver


def test_award_at_the_minimum_delivers_the_minimum(chain_pair, solver_key, orders):
    order, signature = orders.make(orders.users[2])
    before = orders.balance(1, orders.users[2].address)
    outcome = _executor(chain_pair, solver_key).execute(_job(order, signature, 99 * ONE_USDC))
    assert outcome.status == "filled", outcome.reason
    assert orders.balance(1, orders.users[2].address) == before + 99 * ONE_USDC


def test_order_opened_by_another_filler_is_a_lost_race(chain_pair, solver_key, orders, devnet_info, web3s):
    a, b = chain_pair
    operator = devnet_info.account("operator")
    order, signature = orders.make()
    w3a = web3s[a.chain_id]
    settler = w3a.eth.contract(address=a.spec.settler, abi=a.settler.abi)
    tx = settler.functions.openFor(order.to_abi(), signature, b"").transact({"from": operator.address})
    assert w3a.eth.wait_for_transaction_receipt(tx)["status"] == 1
    solver_b = orders.balance(1, solver_key.address)
    reports = Reports()

    outcome = _executor(chain_pair, solver_key, reports).execute(_job(order, signature, 99 * ONE_USDC))

    assert outcome.status == "lost"
    assert "OrderAlreadyOpened" in outcome.reason and operator.address in outcome.reason
    assert outcome.open_tx == ""            # refused at estimation: no gas spent, no nonce used
    assert reports == []
    assert orders.balance(1, solver_key.address) == solver_b   # nothing delivered


def test_order_filled_by_another_filler_after_our_open_is_a_lost_race(chain_pair, solver_key, orders,
                                                                       devnet_info, web3s):
    a, b = chain_pair
    operator = devnet_info.account("operator")
    order, signature = orders.make()
    # A first delivery of the award opened the order (this solver is its filler) ...
    opened, resolved = a.open_for(order, bytes.fromhex(signature[2:]), abi_encode(["address"], [solver_key.address]))
    assert opened.ok and isinstance(resolved, ResolvedOrder)
    # ... then a faster filler filled it on the destination.
    w3b = web3s[b.chain_id]
    dest = w3b.eth.contract(address=b.spec.settler, abi=b.settler.abi)
    origin_data = resolved.fill_instructions[0].origin_data
    tx = dest.functions.fill(order.order_id, origin_data, b"").transact({"from": operator.address})
    assert w3b.eth.wait_for_transaction_receipt(tx)["status"] == 1
    solver_b = orders.balance(1, solver_key.address)

    outcome = _executor(chain_pair, solver_key).execute(_job(order, signature, 99 * ONE_USDC))

    assert outcome.status == "lost"
    assert outcome.reason == f"OrderAlreadyFilled by {operator.address}"
    assert orders.balance(1, solver_key.address) == solver_b


def test_redelivered_award_is_not_executed_twice(chain_pair, solver_key, orders):
    order, signature = orders.make()
    executor = _executor(chain_pair, solver_key)
    first = executor.execute(_job(order, signature, 99 * ONE_USDC))
    assert first.status == "filled"
    solver_b = orders.balance(1, solver_key.address)
    again = executor.execute(_job(order, signature, 99 * ONE_USDC))
    assert (again.status, again.reason) == ("filled", "already filled by this solver")
    assert orders.balance(1, solver_key.address) == solver_b


def test_award_beyond_inventory_is_not_opened(chain_pair, solver_key, orders):
    a, b = chain_pair
    have = b.balance_of(b.spec.tokens["USDC"])
    order, signature = orders.make(min_output=have + 1, input_amount=100 * ONE_USDC)
    user_a = orders.balance(0, orders.users[0].address)
    outcome = _executor(chain_pair, solver_key).execute(_job(order, signature, have + 1))
    assert outcome.status == "failed" and outcome.reason.startswith("inventory:")
    assert a.escrow(order.order_id).status_name == "none"       # the user's funds were never locked
    assert orders.balance(0, orders.users[0].address) == user_a


def test_award_with_a_forged_signature_fails_without_sending(chain_pair, solver_key, orders):
    order, _ = orders.make(orders.users[0])
    _, other_sig = orders.make(orders.users[1])
    outcome = _executor(chain_pair, solver_key).execute(_job(order, other_sig, 99 * ONE_USDC))
    assert outcome.status == "failed" and outcome.reason == "openFor: InvalidSigner"
    assert outcome.open_tx == ""


def test_award_whose_id_does_not_match_its_order_is_refused(chain_pair, solver_key, orders):
    order, signature = orders.make()
    job = AwardJob("0x" + "11" * 32, json.dumps(order.typed_data()), signature, 99 * ONE_USDC)
    outcome = _executor(chain_pair, solver_key).execute(job)
    assert outcome.status == "failed" and "carries order" in outcome.reason


def test_parallel_awards_share_one_nonce_sequence(chain_pair, solver_key, orders):
    a, b = chain_pair
    jobs = [_job(*orders.make(user), 99 * ONE_USDC) for user in orders.users[:5]]
    start = {c.chain_id: c.w3.eth.get_transaction_count(solver_key.address) for c in chain_pair}
    executor = _executor(chain_pair, solver_key)
    results = [None] * len(jobs)

    def run(i):
        results[i] = executor.execute(jobs[i])
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert [r.status for r in results] == ["filled"] * len(jobs), [r.reason for r in results]
    for chain, key in ((a, "open_tx"), (b, "fill_tx")):
        nonces = sorted(chain.w3.eth.get_transaction(getattr(r, key))["nonce"] for r in results)
        assert nonces == list(range(start[chain.chain_id], start[chain.chain_id] + len(jobs)))


def test_nonce_used_elsewhere_is_reseeded(chain_pair, solver_key, orders, web3s, caplog):
    a, _ = chain_pair
    caplog.set_level("INFO", logger="orbital.solver.chain")
    executor = _executor(chain_pair, solver_key)
    assert executor.execute(_job(*orders.make(), 99 * ONE_USDC)).status == "filled"
    # The same key sends a transaction the solver does not know about (anvil unlocks it).
    w3a = web3s[a.chain_id]
    tx = w3a.eth.send_transaction({"from": solver_key.address, "to": solver_key.address, "value": 1})
    w3a.eth.wait_for_transaction_receipt(tx)
    outcome = executor.execute(_job(*orders.make(), 99 * ONE_USDC))
    assert outcome.status == "filled", outcome.reason
    assert Web3.to_checksum_address(w3a.eth.get_transaction(outcome.open_tx)["from"]) == solver_key.address
    assert any("nonce reseeded" in r.getMessage() for r in caplog.records)


def test_fill_that_loses_the_race_inside_a_block_is_reported_lost(chain_pair, solver_key, orders,
                                                                   devnet_info, web3s):
    """Both fills pass estimation; the other filler's (higher tip) is mined first in the same
    block, ours reverts on chain: the revert is named by replaying it, and reported as lost."""
    a, b = chain_pair
    operator = devnet_info.account("operator")
    order, signature = orders.make()
    opened, resolved = a.open_for(order, bytes.fromhex(signature[2:]), abi_encode(["address"], [solver_key.address]))
    assert opened.ok
    w3b = web3s[b.chain_id]
    dest = w3b.eth.contract(address=b.spec.settler, abi=b.settler.abi)
    origin_data = resolved.fill_instructions[0].origin_data
    pending_before = w3b.eth.get_transaction_count(solver_key.address, "pending")
    w3b.provider.make_request("evm_setAutomine", [False])
    try:
        results = []
        worker = threading.Thread(target=lambda: results.append(
            _executor(chain_pair, solver_key).execute(_job(order, signature, 99 * ONE_USDC))))
        worker.start()
        for _ in range(200):   # the solver's fill is in the pool
            if w3b.eth.get_transaction_count(solver_key.address, "pending") > pending_before:
                break
            worker.join(0.02)
        else:
            raise AssertionError("the solver never sent its fill")
        tip = 10 * w3b.eth.max_priority_fee + 10**10
        dest.functions.fill(order.order_id, origin_data, b"").transact(
            {"from": operator.address, "gas": 300_000, "maxPriorityFeePerGas": tip, "maxFeePerGas": 10 * tip})
        w3b.provider.make_request("evm_mine", [])
    finally:
        w3b.provider.make_request("evm_setAutomine", [True])
    worker.join(30)
    [outcome] = results
    assert outcome.status == "lost", outcome.reason
    assert outcome.reason == f"OrderAlreadyFilled by {operator.address}"
    assert w3b.eth.get_transaction_receipt(outcome.fill_tx)["status"] == 0


def test_award_past_its_exclusivity_is_not_opened(chain_pair, solver_key, orders):
    import time
    order, signature = orders.make()
    job = AwardJob("0x" + order.order_id.hex(), json.dumps(order.typed_data()), signature, 99 * ONE_USDC,
                   exclusive_until=time.time() - 1)
    outcome = _executor(chain_pair, solver_key).execute(job)
    assert (outcome.status, outcome.reason) == ("failed", "exclusivity lapsed before execution started")
    assert chain_pair[0].escrow(order.order_id).status_name == "none"


def test_a_refusing_before_send_hook_stops_the_transaction(specs, solver_key, orders, snapshot,
                                                           devnet_info):
    """``before_send`` runs before each transaction (the in-house solver fences there):
    raising fails the award and nothing is sent (the key's nonce on chain is unchanged)."""
    from runtime import LeaseLost
    from solver import EvmChain

    def refuse() -> None:
        raise LeaseLost("this node does not hold solver:in-house")
    chains = [EvmChain(s, solver_key, receipt_timeout=10, before_send=refuse) for s in specs]
    a = chains[0]
    nonce = a.w3.eth.get_transaction_count(solver_key.address, "pending")
    order, signature = orders.make(orders.users[3])
    outcome = _executor(chains, solver_key).execute(_job(order, signature, 99 * ONE_USDC))
    assert outcome.status == "failed" and "LeaseLost" in outcome.reason
    assert a.w3.eth.get_transaction_count(solver_key.address, "pending") == nonce
    assert a.escrow(order.order_id).status_name != "opened"
