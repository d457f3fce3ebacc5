"""Admission of Permit2-form orders (docs/erc7683.md 3b): the allowance that counts is the
user's to Permit2 and the nonce must be clear in Permit2's nonce bitmap, at submission and
again before each auction round."""

from __future__ import annotations

import grpc
import pytest

from clients import precondition_violations
from orbital.v1 import intents_pb2
from protocol import PERMIT2_ADDRESS, abi
from runtime.testing import wait_until
from tests.solvers.conftest import SolverClient

from .conftest import ONE_USDC, make_order, signed_request

P = intents_pb2


def _permit2(chain_a):
    return chain_a.w3.eth.contract(address=PERMIT2_ADDRESS, abi=abi("Permit2"))


def test_the_allowance_to_permit2_counts_not_the_settlers(admission_node, chain_a):
    node, stub = admission_node()
    user = chain_a.user(funded=500 * ONE_USDC, approved=10**30)      # the settler, not Permit2
    order = make_order(user, nonce=(3 << 8) | 7, permit2=True)
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitIntent(signed_request(order, user.key.hex()))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    token = chain_a.usdc.address
    assert precondition_violations(err.value) == [
        ("ALLOWANCE", token, f"allowance 0 < 100000000: approve Permit2 {PERMIT2_ADDRESS} for the "
                             f"input token {token} (at least 100000000)")]
    chain_a.send(chain_a.usdc.functions.approve(PERMIT2_ADDRESS, 10**30), user.address)
    chain_a.send(chain_a.usdc.functions.approve(chain_a.settler.address, 0), user.address)
    got = stub.SubmitIntent(signed_request(order, user.key.hex()))
    assert got.status == P.INTENT_STATUS_PENDING and got.source == "permit2"


def test_a_permit2_nonce_burnt_after_acceptance_is_not_auctioned(admission_node, chain_a):
    node, stub = admission_node()
    user = chain_a.user(funded=500 * ONE_USDC)
    chain_a.send(chain_a.usdc.functions.approve(PERMIT2_ADDRESS, 10**30), user.address)
    nonce = (9 << 8) | 200
    got = stub.SubmitIntent(signed_request(make_order(user, nonce=nonce, permit2=True), user.key.hex()))
    # the user cancels on Permit2 (its nonce bit), not on the settler
    chain_a.send(_permit2(chain_a).functions.invalidateUnorderedNonces(9, 1 << 200), user.address)
    assert not chain_a.settler.functions.usedNonces(user.address, nonce).call()
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()
        entry = wait_until(lambda: [h for h in stub.GetIntent(P.GetIntentRequest(id=got.id)).history
                                    if h.finding == "not_executable"], what="not_executable entry")[0]
        assert f"Permit2 nonce {nonce} of {user.address} is already used on Permit2" in entry.reason
        assert "word 9, bit 200" in entry.reason
        assert solver.of("offer") == []
        solver.cancel()
    finally:
        ch.close()
