"""ListIntents / GetIntent / CancelIntent with bad queries: each refusal is
INVALID_ARGUMENT with the field at fault and changes nothing; ids are case-insensitive."""

from __future__ import annotations

import grpc
import pytest

from clients import field_violations
from orbital.v1 import intents_pb2

from .conftest import USERS, cancel_signature, make_order, signed_request

P = intents_pb2


def _invalid(call, req, field: str, needle: str) -> None:
    with pytest.raises(grpc.RpcError) as err:
        call(req)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert needle in err.value.details() and len(err.value.details()) < 1000
    assert field_violations(err.value)[0][0] == field


def test_list_refusals_name_the_field_and_change_nothing(intents_node):
    node, stub = intents_node()
    for nonce in (1, 2, 3):
        stub.SubmitIntent(signed_request(make_order(nonce=nonce)))
    user = make_order(nonce=1).user
    page = stub.ListIntents(P.ListIntentsRequest(page_size=1))
    assert page.next_page_token
    _invalid(stub.ListIntents, P.ListIntentsRequest(page_size=1_000_000), "page_size",
             "page_size must be at most")
    _invalid(stub.ListIntents, P.ListIntentsRequest(status=99), "status", "unknown status 99")
    for bad in ("0x1234", "not an address", "0x" + "g" * 40, "0x" + "a" * 1_000_000):
        with pytest.raises(grpc.RpcError) as err:
            stub.ListIntents(P.ListIntentsRequest(user=bad))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(err.value)[0][0] == "user"
        assert len(err.value.details()) < 1000
    # a page token is bound to its filter: reusing it with another filter is refused
    for other in (P.ListIntentsRequest(page_size=1, page_token=page.next_page_token,
                                       user=user.lower()),
                  P.ListIntentsRequest(page_size=1, page_token=page.next_page_token,
                                       status=P.INTENT_STATUS_PENDING)):
        with pytest.raises(grpc.RpcError) as err:
            stub.ListIntents(other)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(err.value)[0][0] == "page_token"
    _invalid(stub.ListIntents, P.ListIntentsRequest(page_token="x" * 100_000), "page_token", "")
    # nothing changed: the same three intents, the token still works with its own filter
    assert len(stub.ListIntents(P.ListIntentsRequest()).intents) == 3
    assert len(stub.ListIntents(P.ListIntentsRequest(
        page_size=1, page_token=page.next_page_token)).intents) == 1


def test_ids_are_case_insensitive(intents_node):
    node, stub = intents_node()
    order = make_order(nonce=5)
    intent = stub.SubmitIntent(signed_request(order))
    upper = "0x" + intent.id[2:].upper()
    assert stub.GetIntent(P.GetIntentRequest(id=upper)).id == intent.id
    done = stub.CancelIntent(P.CancelIntentRequest(
        id=upper, signature=cancel_signature(order, USERS[0].private_key)))
    assert done.id == intent.id and done.status == P.INTENT_STATUS_CANCELLED
    _invalid(stub.GetIntent, P.GetIntentRequest(id="0x" + "ab" * 100_000), "id", "64 hex digits")
    _invalid(stub.CancelIntent, P.CancelIntentRequest(
        id="0x" + "zz" * 32, signature=cancel_signature(order, USERS[0].private_key)), "id",
        "64 hex digits")
