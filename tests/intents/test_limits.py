"""Submission limits through a real server: per peer and node-wide before any signature
work, open intents per user in the book. Rates are 0.001/s: within a test the buckets
never refill, so what is sent beyond the burst is over the limit on any machine."""

from __future__ import annotations

import grpc
import pytest
from eth_account import Account

import actors.book._service as service
from orbital.v1 import intents_pb2

from .conftest import USERS, cancel_signature, make_order, signed_request

P = intents_pb2


def _fresh() -> tuple[object, str]:
    """A user nobody has seen: keys cost an attacker nothing."""
    acct = Account.create()
    return acct, acct.key.hex()


def _code(stub, req) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitIntent(req)
    return err.value.code(), err.value.details()


def test_fresh_keys_from_one_peer_are_cut_off_before_signature_work(intents_node, monkeypatch):
    recovered = []
    real = service.recover_order_signer
    monkeypatch.setattr(service, "recover_order_signer",
                        lambda *a: recovered.append(1) or real(*a))
    node, stub = intents_node(intents="submit_peer_rate: {rate: 0.001, burst: 5}")
    for i in range(5):
        user, key = _fresh()
        stub.SubmitIntent(signed_request(make_order(user, nonce=i), key))
    assert len(recovered) == 5
    user, key = _fresh()
    code, details = _code(stub, signed_request(make_order(user, nonce=9), key))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "too many submissions from 127.0.0.1" in details
    assert "intents.submit_peer_rate" in details and "retry in" in details
    # Refused before parsing and recovery: garbage gets the same answer, no signature work.
    code, _ = _code(stub, P.SubmitIntentRequest(typed_data="{}", signature="0x00"))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert len(recovered) == 5
    # The node keeps serving the rest: reads are not limited by the submit buckets.
    assert len(stub.ListIntents(P.ListIntentsRequest()).intents) == 5


def test_node_wide_submission_rate(intents_node):
    node, stub = intents_node(intents="submit_rate: {rate: 0.001, burst: 3}")
    for i in range(3):
        stub.SubmitIntent(signed_request(make_order(USERS[i], nonce=i)))
    code, details = _code(stub, signed_request(make_order(USERS[3], nonce=3)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the node takes at most 0.001 submissions/s, burst 3 (intents.submit_rate)" in details


def test_open_intents_per_user_are_capped(intents_node):
    node, stub = intents_node(intents="max_open_per_user: 2")
    first = make_order(nonce=1)
    got = stub.SubmitIntent(signed_request(first))
    stub.SubmitIntent(signed_request(make_order(nonce=2)))
    code, details = _code(stub, signed_request(make_order(nonce=3)))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"{USERS[0].address} has 2 open intents" in details
    assert "intents.max_open_per_user" in details
    assert stub.GetIntent(P.GetIntentRequest(id=got.id)).status == P.INTENT_STATUS_PENDING
    stub.SubmitIntent(signed_request(make_order(USERS[1], nonce=3)))   # another user
    # A terminal intent frees its place.
    stub.CancelIntent(P.CancelIntentRequest(
        id=got.id, signature=cancel_signature(first, USERS[0].private_key)))
    stub.SubmitIntent(signed_request(make_order(nonce=3)))
    assert len(stub.ListIntents(P.ListIntentsRequest(user=USERS[0].address)).intents) == 3
