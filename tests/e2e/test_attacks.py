"""The two attacks of issue 10, run as an attacker would on a devnet: the mempool held
(``evm_setAutomine false``), the attacker's transaction sent with a higher tip after the
honest one is seen pending, then one ``evm_mine``. Everything else is the real system: the
node (watchers, book, attester, quoter) on SQLite or PostgreSQL, the reference solver, the
client library. Balances are read on both chains.

1. Shadow fill: after the solver opened, an attacker fills the same order id with
   originData' (fillDeadline + 1), paying the user's recipient the signed minimum from its
   own tokens and naming itself for repayment, ahead of the solver's pending fill.
2. Same-nonce substitution: the user signs order A (1,000 USDC) and order B (1 unit) with
   one nonce, submits A, and when A is awarded front-runs the solver's openFor(A) with
   openFor(B) naming the solver as filler.
"""

from __future__ import annotations

import dataclasses
import json

from eth_abi import encode as abi_encode
from eth_account import Account

from actors.book import IntentRow
from clients import IntentStatus, OrbitalClient
from protocol import FillData, GaslessOrder, parse_order_typed_data

from .conftest import erc20, settler, wait_until

S = IntentStatus
ONE_USDC = 10**6
GWEI = 10**9


def _users(devnet_info):
    return [x for x in devnet_info.accounts if "user" in x.roles]


def _pending(w3, sender: str) -> list[dict]:
    """Transactions of ``sender`` waiting in the node's pool (automine off)."""
    pool = w3.provider.make_request("txpool_content", [])["result"]["pending"]
    txs = next((v for k, v in pool.items() if k.lower() == sender.lower()), {})
    return list(txs.values())


def _automine(w3, on: bool) -> None:
    assert "error" not in w3.provider.make_request("evm_setAutomine", [on])


def _front_run(w3, victim: dict, fn, sender: str) -> str:
    """Send ``fn`` from ``sender`` with a higher tip than ``victim`` (a pending tx)."""
    tip = int(victim["maxPriorityFeePerGas"], 16) + 10 * GWEI
    fee = int(victim["maxFeePerGas"], 16) + 20 * GWEI
    return "0x" + bytes(fn.transact({"from": sender, "gas": 400_000, "maxPriorityFeePerGas": tip,
                                     "maxFeePerGas": fee})).hex()


def _usdc_balances(devnet_info, w3s, **who: str):
    """``balances()`` -> {"<name>_a": USDC on devnet-a, "<name>_b": on devnet-b} of ``who``."""
    tokens = [erc20(w3, c.contracts.tokens["USDC"].address)
              for w3, c in zip(w3s, devnet_info.chains)]

    def balances() -> dict[str, int]:
        return {f"{name}_{side}": t.functions.balanceOf(addr).call()
                for name, addr in who.items() for side, t in zip("ab", tokens)}
    return balances


def _receipt(w3, tx: str) -> dict:
    return w3.eth.wait_for_transaction_receipt(tx, timeout=30)


def test_shadow_fill_is_a_foreign_fill_and_the_honest_filler_is_repaid(system, solver, devnet_info,
                                                                       w3s):
    node = system()
    ref = solver(node)
    a, b = devnet_info.chains
    wa, wb = w3s
    user, attacker = _users(devnet_info)[0], _users(devnet_info)[5]
    filler = devnet_info.account("solver").address
    dest = settler(wb, b.contracts.settler)
    bal = _usdc_balances(devnet_info, w3s, user=user.address, solver=filler,
                         attacker=attacker.address)
    before = bal()
    _automine(wb, False)                      # the destination's pool is held
    try:
        with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
            quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 100 * ONE_USDC, user.address)
            intent = client.sign_and_submit(quote, user.private_key)
            # The solver opened on A and its fill waits in B's pool: the attacker sees it.
            [honest] = wait_until(lambda: _pending(wb, filler), what="the solver's pending fill")
            call = dest.decode_function_input(honest["input"])[1]
            real = FillData.decode(call["originData"])
            shadow = dataclasses.replace(real, fill_deadline=real.fill_deadline + 1)
            attack = _front_run(wb, honest, dest.functions.fill(
                real.order_id, shadow.encode(), abi_encode(["address"], [attacker.address])),
                attacker.address)
            assert "error" not in wb.provider.make_request("evm_mine", [])
            r_attack, r_honest = _receipt(wb, attack), _receipt(wb, honest["hash"])
            assert r_attack["status"] == r_honest["status"] == 1          # both fills succeeded
            assert r_attack["blockNumber"] == r_honest["blockNumber"]
            assert r_attack["transactionIndex"] < r_honest["transactionIndex"]  # attacker first
            _automine(wb, True)
            client.wait(intent.id, until=[S.SETTLED])
            done = client.get(intent.id)
    finally:
        _automine(wb, True)
    after = bal()
    assert done.status is S.SETTLED and done.solver == filler
    findings = [(t.status, t.finding) for t in done.history]
    # The attacker's fill came first in the block: a history entry, then the real fill.
    assert findings[-4:] == [(S.OPENED, ""), (S.OPENED, "foreign_fill"), (S.FILLED, ""),
                             (S.SETTLED, "")], findings
    foreign = next(t for t in done.history if t.finding == "foreign_fill")
    assert foreign.evidence.tx_hash == attack and foreign.solver == attacker.address
    filled = next(t for t in done.history if t.status is S.FILLED and not t.finding)
    assert filled.evidence.tx_hash == honest["hash"]
    # Money: the escrow went to the honest filler, never to the attacker.
    assert before["user_a"] - after["user_a"] == 100 * ONE_USDC
    assert after["solver_a"] - before["solver_a"] == 100 * ONE_USDC
    assert after["attacker_a"] == before["attacker_a"]
    assert before["solver_b"] - after["solver_b"] == done.awarded_output_amount
    assert before["attacker_b"] - after["attacker_b"] == done.min_output_amount
    assert after["user_b"] - before["user_b"] == \
        done.awarded_output_amount + done.min_output_amount
    print("\nshadow fill, after:", json.dumps({k: after[k] - before[k] for k in after}))
    assert ref.outcomes[intent.id].status == "filled"


def _sign(order: GaslessOrder, key: str) -> bytes:
    return bytes(Account.sign_typed_data(key, full_message=order.typed_data()).signature)


def test_same_nonce_substitution_is_a_conflicting_open_and_nothing_is_filled(
        system, solver, devnet_info, w3s):
    node = system()
    ref = solver(node)
    a, b = devnet_info.chains
    wa, wb = w3s
    user = _users(devnet_info)[1]
    filler = devnet_info.account("solver").address
    origin = settler(wa, a.contracts.settler)
    bal = _usdc_balances(devnet_info, w3s, user=user.address, solver=filler)
    before = bal()
    _automine(wa, False)                      # the origin's pool is held
    try:
        with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
            quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 1000 * ONE_USDC,
                                 user.address)
            order_a = parse_order_typed_data(quote.typed_data)
            # B: same user, same nonce (so the same order id), 1 base unit in and out.
            order_b = dataclasses.replace(order_a, order=dataclasses.replace(
                order_a.order, input_amount=1, output_amount=1))
            assert order_b.order_id == order_a.order_id
            intent = client.sign_and_submit(quote, user.private_key)
            assigned = client.wait(intent.id, until=[S.ASSIGNED])
            assert assigned.solver == filler
            [honest] = wait_until(lambda: _pending(wa, filler), what="the solver's pending openFor")
            sneak = _front_run(wa, honest, origin.functions.openFor(
                order_b.to_abi(), _sign(order_b, user.private_key),
                abi_encode(["address"], [filler])), user.address)
            assert "error" not in wa.provider.make_request("evm_mine", [])
            assert _receipt(wa, sneak)["status"] == 1
            assert _receipt(wa, honest["hash"])["status"] == 0            # OrderAlreadyOpened
            _automine(wa, True)
            outcome = wait_until(lambda: ref.outcomes.get(intent.id), what="the solver's outcome")
            got = wait_until(lambda: (i := client.get(intent.id)).status is S.OPENED
                             and any(t.finding == "escrow_mismatch" for t in i.history) and i,
                             what="OPENED with the conflicting open and the solver's report")
    finally:
        _automine(wa, True)
    assert outcome.status == "mismatch" and not outcome.fill_tx, outcome
    conflict = next(t for t in got.history if t.finding == "conflicting_open")
    assert conflict.status is S.OPENED and conflict.evidence.tx_hash == sneak
    assert "inputAmount 1 on chain, 1000000000 signed" in conflict.reason
    assert conflict.solver == filler and "award to" in conflict.reason
    # The intent follows the order the chain holds: B's terms, no award.
    assert (got.input_amount, got.min_output_amount, got.solver) == (1, 1, "")
    after = bal()
    assert before["solver_b"] == after["solver_b"]            # the solver paid nothing
    assert before["user_b"] == after["user_b"]
    assert before["user_a"] - after["user_a"] == 1            # B's escrow, 1 base unit
    assert before["solver_a"] == after["solver_a"]            # and nothing settled to anyone
    with node.store.connection():
        row = IntentRow.get_by_id(intent.id)
    assert row.status == "OPENED" and int(row.input_amount) == 1
    print("\nsame-nonce substitution, after:", json.dumps({k: after[k] - before[k] for k in after}))


def test_a_shortfall_fill_is_held_until_an_operator_decides(system, devnet_info, w3s):
    """The winner bid more than it delivers: FILLED with a shortfall in the history, the
    escrow held by the attester (alert), then repaid by an operator's decision."""
    import grpc

    from orbital.v1 import admin_pb2, admin_pb2_grpc

    from .conftest import ADMIN
    node = system()
    a, b = devnet_info.chains
    wa, wb = w3s
    user, solver_acct = _users(devnet_info)[2], devnet_info.account("solver")
    usdc_a = erc20(wa, a.contracts.tokens["USDC"].address)
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 50 * ONE_USDC, user.address)
        intent = client.sign_and_submit(quote, user.private_key)
        order = parse_order_typed_data(quote.typed_data)
        # A solver session that bids above the minimum (within the bound) and wins.
        from tests.solvers.conftest import SolverClient
        ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
        session = SolverClient(ch, Account.from_key(solver_acct.private_key)).connect()
        session.wait_for("offer", lambda m: m.intent.id == intent.id, timeout=10)
        bid = order.order.output_amount + 10_000
        session.bid(intent.id, bid)
        award = session.wait_for("award", lambda m: m.intent_id == intent.id, timeout=10)
        assert int(award.output_amount) == bid
        # It opens, then delivers only the signed minimum.
        with node.store.connection():
            sig = IntentRow.get_by_id(intent.id).signature
        _receipt(wa, settler(wa, a.contracts.settler).functions.openFor(
            order.to_abi(), bytes.fromhex(sig[2:]), abi_encode(["address"], [solver_acct.address])
        ).transact({"from": solver_acct.address}))
        origin_data = FillData(order.order_id, a.chain_id, b.chain_id, order.order.output_token,
                               order.order.output_amount, order.order.recipient,
                               order.fill_deadline).encode()
        _receipt(wb, settler(wb, b.contracts.settler).functions.fill(
            order.order_id, origin_data, b"").transact({"from": solver_acct.address}))
        filled = wait_until(lambda: (i := client.get(intent.id)).status is S.FILLED and i,
                            what="FILLED")
        assert filled.shortfall_amount == 10_000 and filled.filled_output_amount == bid - 10_000
        assert filled.history[-1].finding == "shortfall" and "(shortfall)" in filled.history[-1].reason
        escrow_before = usdc_a.functions.balanceOf(solver_acct.address).call()
        admin = admin_pb2_grpc.AdminServiceStub(ch)
        alert = wait_until(lambda: [x for x in admin.ListAlerts(admin_pb2.ListAlertsRequest(),
                                                                 metadata=ADMIN).alerts
                                    if x.name == "settlement_shortfall_held"],
                           what="the held-settlement alert")[0]
        assert intent.id in alert.message
        assert client.get(intent.id).status is S.FILLED          # held: not settled
        wait_until(lambda: _shortfalls(node, solver_acct.address) == 1, what="solver record")
        reply = admin.DecideShortfall(admin_pb2.DecideShortfallRequest(
            intent_id=intent.id, decision=admin_pb2.DecideShortfallRequest.DECISION_REPAY,
            note="delivered late price; accepted"), metadata=ADMIN)
        assert reply.status == "retry"
        assert client.wait(intent.id, until=[S.SETTLED]).status is S.SETTLED
        assert usdc_a.functions.balanceOf(solver_acct.address).call() - escrow_before == 50 * ONE_USDC
        again = None
        try:
            admin.DecideShortfall(admin_pb2.DecideShortfallRequest(
                intent_id=intent.id, decision=admin_pb2.DecideShortfallRequest.DECISION_WITHHOLD),
                metadata=ADMIN)
        except grpc.RpcError as exc:
            again = exc
        assert again is not None and again.code() is grpc.StatusCode.FAILED_PRECONDITION
        session.cancel()
        ch.close()


def _shortfalls(node, solver: str) -> int:
    from actors.book import SolverRecord
    with node.store.connection():
        rec = SolverRecord.get_or_none(SolverRecord.solver == solver)
    return rec.shortfalls if rec is not None else 0
