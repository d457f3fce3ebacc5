"""SubmitIntent / GetIntent / ListIntents through a real server: durable, exact, refusing."""

from __future__ import annotations

import concurrent.futures
import json

import grpc
import pytest

from clients import field_violations
from orbital.v1 import intents_pb2

from .conftest import ADDR, USERS, make_order, sign_typed, signed_request

P = intents_pb2


def test_submit_get_list_round_trip(intents_node):
    node, stub = intents_node()
    order = make_order(nonce=1, amount=2**255)
    got = stub.SubmitIntent(signed_request(order))
    assert got.id == "0x" + order.order_id.hex()
    assert got.status == P.INTENT_STATUS_PENDING and got.version == 1
    assert got.input_amount == str(2**255) and got.user == order.user
    assert got.origin_chain == "devnet-a" and got.destination_chain == "devnet-b"
    fetched = stub.GetIntent(P.GetIntentRequest(id=got.id))
    assert fetched.input_amount == str(2**255)
    assert [h.status for h in fetched.history] == [P.INTENT_STATUS_PENDING]
    listed = stub.ListIntents(P.ListIntentsRequest(user=order.user.lower()))
    assert [i.id for i in listed.intents] == [got.id]


def test_replay_is_already_exists_and_changes_nothing(intents_node):
    node, stub = intents_node()
    req = signed_request(make_order(nonce=7))
    stub.SubmitIntent(req)
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitIntent(req)
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert len(stub.ListIntents(P.ListIntentsRequest()).intents) == 1


def _refused(stub, req, code, field=None):
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitIntent(req)
    assert err.value.code() == code, err.value.details()
    if field is not None:
        assert [f for f, _ in field_violations(err.value)] == [field], err.value.details()
    return err.value


def _tamper(order, key, sign=True, **edit):
    typed = json.loads(signed_request(order).typed_data)
    for path, value in edit.items():
        target = typed
        parts = path.split(".")
        for p in parts[:-1]:
            target = target[p]
        target[parts[-1]] = value
    # Typed data eth_account cannot hash gets a well-formed dummy signature: parsing refuses it first.
    sig = sign_typed(typed, key) if sign else "0x" + "11" * 64 + "1b"
    return P.SubmitIntentRequest(typed_data=json.dumps(typed), signature=sig)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_refusal_class_is_precise_and_stores_nothing(intents_node):
    node, stub = intents_node()
    user = USERS[0]
    inv, unauth = grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.UNAUTHENTICATED
    good = make_order(nonce=11)
    cases = [
        (_tamper(good, user.private_key, **{"domain.verifyingContract": ADDR["bridge"],
                                            "message.originSettler": ADDR["bridge"]}),
         inv, "typed_data.message.originSettler"),
        (_tamper(good, user.private_key, **{"domain.name": "Other"}), inv, "typed_data.domain"),
        (_tamper(good, user.private_key, **{"domain.chainId": 1, "message.originChainId": "1"}),
         inv, "typed_data.message.originChainId"),
        (signed_request(make_order(nonce=12, dest=5)), inv, "typed_data.message.orderData.destinationChainId"),
        (signed_request(make_order(nonce=12, dest=31337)), inv, "typed_data.message.orderData.destinationChainId"),
        (_tamper(good, user.private_key, **{"message.orderData.outputToken": ADDR["bridge"]}),
         inv, "typed_data.message.orderData.outputToken"),
        (signed_request(make_order(nonce=13, amount=0)), inv, "typed_data.message.orderData.inputAmount"),
        (_tamper(good, user.private_key, False, **{"message.orderData.inputAmount": str(2**256)}),
         inv, "typed_data.message.orderData.inputAmount"),
        (signed_request(make_order(nonce=14, open_in=-5)), inv, "typed_data.message.openDeadline"),
        (signed_request(make_order(nonce=15, open_in=600, fill_in=300)), inv, "typed_data.message.fillDeadline"),
        (_tamper(good, user.private_key, False, **{"types.OrbitalOrder": []}), inv, "typed_data.types.OrbitalOrder"),
        (P.SubmitIntentRequest(typed_data="{not json", signature="0x" + "11" * 65), inv, "typed_data"),
        (P.SubmitIntentRequest(typed_data=signed_request(good).typed_data, signature="0x1234"), inv, "signature"),
        (signed_request(good, key=USERS[1].private_key), unauth, "signature"),
    ]
    # A malleable (high-s) twin of a valid signature recovers the same signer: refused.
    req = signed_request(make_order(nonce=16))
    sig = bytes.fromhex(req.signature[2:])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = n - int.from_bytes(sig[32:64], "big")
    high = sig[:32] + s.to_bytes(32, "big") + bytes([55 - sig[64]])
    cases.append((P.SubmitIntentRequest(typed_data=req.typed_data, signature="0x" + high.hex()), unauth, "signature"))
    cases.append((P.SubmitIntentRequest(typed_data=" " * 20000 + req.typed_data, signature=req.signature),
                  grpc.StatusCode.RESOURCE_EXHAUSTED, "typed_data"))
    for request, code, field in cases:
        _refused(stub, request, code, field)
    assert stub.ListIntents(P.ListIntentsRequest()).intents == []


def test_rate_limit_per_user(intents_node):
    node, stub = intents_node(intents="user_rate: {rate: 0.001, burst: 3}")
    for nonce in range(3):
        stub.SubmitIntent(signed_request(make_order(nonce=100 + nonce)))
    err = _refused(stub, signed_request(make_order(nonce=200)), grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "too many submissions" in err.details()
    stub.SubmitIntent(signed_request(make_order(USERS[1], nonce=200)))  # another user is not limited


def test_200_concurrent_submissions_no_loss_no_duplicate(intents_node):
    node, stub = intents_node(intents="user_rate: {rate: 10000, burst: 10000}")
    orders = [make_order(USERS[i % len(USERS)], nonce=1000 + i) for i in range(200)]
    reqs = [signed_request(o) for o in orders]
    reqs += reqs[:20]  # 20 replays racing their originals
    with concurrent.futures.ThreadPoolExecutor(32) as pool:
        outcomes = list(pool.map(lambda r: _outcome(stub, r), reqs))
    ok = [o for o in outcomes if isinstance(o, str)]
    dup = [o for o in outcomes if o == grpc.StatusCode.ALREADY_EXISTS]
    assert len(ok) == 200 and len(set(ok)) == 200 and len(dup) == 20
    listed, token = [], ""
    while True:
        page = stub.ListIntents(P.ListIntentsRequest(page_size=37, page_token=token))
        listed += [i.id for i in page.intents]
        token = page.next_page_token
        if not token:
            break
    assert sorted(listed) == sorted(ok)


def _outcome(stub, req):
    try:
        return stub.SubmitIntent(req).id
    except grpc.RpcError as exc:
        return exc.code()


def test_unknown_and_malformed_ids(intents_node):
    node, stub = intents_node()
    with pytest.raises(grpc.RpcError) as err:
        stub.GetIntent(P.GetIntentRequest(id="0x" + "ab" * 32))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        stub.GetIntent(P.GetIntentRequest(id="nope"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        stub.ListIntents(P.ListIntentsRequest(page_token="garbage"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
