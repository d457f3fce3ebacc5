"""IntentService/SubmitIntents through a real server: one result per order, in order; each
refused order answered as SubmitIntent would have answered it alone; one group commit."""

from __future__ import annotations

import grpc
import pytest

from clients import Intent, OrbitalClient, OrbitalRpcError, from_status
from orbital.v1 import intents_pb2

from .conftest import USERS, make_order, signed_request

P = intents_pb2


def _bad_signature(order) -> P.SubmitIntentRequest:
    """Signed by another user: well formed, refused as UNAUTHENTICATED on `signature`."""
    return signed_request(order, USERS[1].private_key)


def test_results_follow_the_request_order_and_refusals_are_precise(intents_node):
    node, stub = intents_node()
    good = [make_order(nonce=n) for n in (101, 102, 103)]
    forged = make_order(nonce=104)
    stale = make_order(nonce=105, open_in=-10)
    reqs = [signed_request(good[0]), _bad_signature(forged), signed_request(good[1]),
            signed_request(good[0]), signed_request(stale), signed_request(good[2])]
    reply = stub.SubmitIntents(P.SubmitIntentsRequest(orders=reqs))
    kinds = [r.WhichOneof("result") for r in reply.results]
    assert kinds == ["intent", "error", "intent", "error", "error", "intent"]
    assert [reply.results[i].intent.id for i in (0, 2, 5)] == \
        ["0x" + o.order_id.hex() for o in (good[0], good[1], good[2])]
    assert all(reply.results[i].intent.status == P.INTENT_STATUS_PENDING for i in (0, 2, 5))
    forged_err, dup_err, stale_err = (from_status(reply.results[i].error) for i in (1, 3, 4))
    assert forged_err.code == grpc.StatusCode.UNAUTHENTICATED
    assert [f for f, _ in forged_err.violations] == ["signature"]
    assert dup_err.code == grpc.StatusCode.ALREADY_EXISTS
    assert [f for f, _ in dup_err.violations] == ["typed_data.message.nonce"]
    assert stale_err.code == grpc.StatusCode.INVALID_ARGUMENT
    assert stale_err.violations and stale_err.violations[0][0].startswith("typed_data.message")

    # Each refused order is answered exactly as SubmitIntent answers it alone.
    with pytest.raises(grpc.RpcError) as alone:
        stub.SubmitIntent(reqs[1])
    assert (alone.value.code(), alone.value.details()) == (forged_err.code, forged_err.message)

    listed = stub.ListIntents(P.ListIntentsRequest())
    assert sorted(i.id for i in listed.intents) == sorted("0x" + o.order_id.hex() for o in good)


def test_a_replayed_batch_stores_nothing_twice(intents_node):
    node, stub = intents_node()
    req = P.SubmitIntentsRequest(orders=[signed_request(make_order(nonce=n)) for n in (1, 2)])
    first = stub.SubmitIntents(req)
    assert [r.WhichOneof("result") for r in first.results] == ["intent", "intent"]
    again = stub.SubmitIntents(req)
    assert [from_status(r.error).code for r in again.results] == \
        [grpc.StatusCode.ALREADY_EXISTS] * 2
    assert len(stub.ListIntents(P.ListIntentsRequest()).intents) == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_empty_and_oversized_batches_are_refused_whole(intents_node):
    node, stub = intents_node(intents="max_batch: 3")
    with pytest.raises(grpc.RpcError) as empty:
        stub.SubmitIntents(P.SubmitIntentsRequest())
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "orders is empty" in empty.value.details()
    four = [signed_request(make_order(nonce=n)) for n in range(10, 14)]
    with pytest.raises(grpc.RpcError) as big:
        stub.SubmitIntents(P.SubmitIntentsRequest(orders=four))
    assert big.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "4 orders in one call; the limit is 3" in big.value.details()
    assert stub.ListIntents(P.ListIntentsRequest()).intents == []
    ok = stub.SubmitIntents(P.SubmitIntentsRequest(orders=four[:3]))
    assert [r.WhichOneof("result") for r in ok.results] == ["intent"] * 3


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_client_library_submit_many(intents_node):
    node, _ = intents_node()
    orders = [signed_request(make_order(nonce=n)) for n in (21, 22)]
    forged = _bad_signature(make_order(nonce=23))
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        got = client.submit_many([(r.typed_data, r.signature) for r in (*orders, forged)])
    assert [type(g) for g in got] == [Intent, Intent, OrbitalRpcError]
    assert got[2].code == grpc.StatusCode.UNAUTHENTICATED
    assert got[2].violations and got[2].violations[0][0] == "signature"
    assert got[0].id == "0x" + make_order(nonce=21).order_id.hex()
