"""The reference solver declines an award it cannot execute (issue 12): its inventory is gone
between its bid and the award, so instead of sitting on the award for the exclusivity
window it sends ``decline``; the node re-auctions the intent at once without it. A real
node (FakeClock: the auction closes when the test says) and a real devnet."""

from __future__ import annotations

import json

import grpc

from orbital.v1 import intents_pb2, intents_pb2_grpc
from protocol import abi
from tests.solvers.conftest import fake_clock

from .conftest import wait_until


def test_an_award_without_inventory_is_declined(node_factory, solver_factory, orders, web3s,
                                                devnet_info, chain_pair):
    clock = fake_clock()
    node = node_factory(clock=clock, heartbeat_interval=600, heartbeat_timeout=3600,
                        exclusivity=30)
    solver = solver_factory(node)
    assert solver.connected.wait(10)
    order, signature = orders.make(orders.users[2])
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        stub = intents_pb2_grpc.IntentServiceStub(ch)
        intent = stub.SubmitIntent(intents_pb2.SubmitIntentRequest(
            typed_data=json.dumps(order.typed_data()), signature=signature), timeout=10)
        wait_until(lambda: solver.stats["bids"] >= 1, what="the solver's bid")

        # Its output tokens leave between the bid and the award.
        b = devnet_info.chains[1]
        w3 = web3s[b.chain_id]
        token = w3.eth.contract(address=b.contracts.tokens["USDC"].address, abi=abi("TestToken"))
        who = solver.config.address
        w3.provider.make_request("anvil_impersonateAccount", [who])
        tx = token.functions.transfer(orders.users[5].address,
                                      token.functions.balanceOf(who).call()).transact({"from": who})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1

        clock.advance(0.3)                       # the auction closes: the award
        outcome = solver.wait_outcome(intent.id, timeout=30)
        assert outcome is not None and outcome.status == "failed" and outcome.release
        assert outcome.reason.startswith("inventory:")
        wait_until(lambda: solver.stats["declined"] == 1, what="the decline")

        def declined():
            got = stub.GetIntent(intents_pb2.GetIntentRequest(id=intent.id), timeout=10)
            return got if got.status == intents_pb2.INTENT_STATUS_PENDING else None
        got = wait_until(declined, what="the intent back to PENDING")
    last = got.history[-1]
    assert last.reason.startswith(f"declined by {who}: inventory:")
    assert last.solver == who and got.solver == ""
    assert chain_pair[0].escrow(order.order_id).status_name == "none"   # nothing was opened
