"""ExplainIntent for an intent the origin chain would not let be opened: the user emptied
its balance after the intent was admitted, so the book does not auction it; the
explanation names the failed check, its numbers and the fix (a real devnet, both
databases)."""

from __future__ import annotations

import grpc
from eth_account import Account

from orbital.v1 import intents_pb2 as P
from runtime.testing import wait_until
from tests.solvers.conftest import SolverClient

from .conftest import ONE_USDC, make_order, signed_request


def test_explain_names_the_failed_admission_check_and_its_fix(admission_node, chain_a):
    node, stub = admission_node()
    user = chain_a.user(funded=100 * ONE_USDC, approved=10**30)
    order = make_order(user, nonce=1, amount=100 * ONE_USDC)
    got = stub.SubmitIntent(signed_request(order, user.key.hex()))   # admitted; no solver yet
    chain_a.send(chain_a.usdc.functions.transfer(Account.create().address, 100 * ONE_USDC),
                 user.address)                                       # now unfunded
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()                          # a round would start now

        def refused():
            x = stub.ExplainIntent(P.ExplainIntentRequest(id=got.id))
            return x if x.admission else None
        x = wait_until(refused, what="admission check in the explanation")
        assert x.status == P.INTENT_STATUS_PENDING and not x.rounds
        [check] = x.admission
        assert check.check.startswith("BALANCE: not executable on devnet-a at block ")
        assert f"balance 0 < 100000000: fund {user.address}" in check.check
        assert check.fix.startswith("fund the user's address with at least input_amount")
        assert x.summary.startswith("not auctioned: the origin chain would not let it be "
                                    "opened (BALANCE); fund the user's address")
        assert solver.of("offer") == []
        solver.cancel()
    finally:
        ch.close()
