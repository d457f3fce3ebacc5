"""Retry policy and error mapping through a real loopback gRPC server.

The servicer is scripted (answers UNAVAILABLE a given number of times, loses a reply after
storing) because a real node cannot be made to fail on cue; the client side is the real one.
"""

from __future__ import annotations

import json
import random
import threading

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from clients import IntentStatus, OrbitalClient, OrbitalRpcError, RetryPolicy
from orbital.v1 import intents_pb2, intents_pb2_grpc
from protocol import parse_order_typed_data, recover_order_signer

from .conftest import USER, intent_pb, make_order

UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


class Scripted(intents_pb2_grpc.IntentServiceServicer):
    """GetIntent/SubmitIntent with a script of failures; stores what it accepts."""

    def __init__(self, fail_first: int = 0, code=UNAVAILABLE, lose_reply: bool = False,
                 submit_unavailable: int = 0):
        self.fail_first = fail_first
        self.submit_unavailable = submit_unavailable
        self.code = code
        self.lose_reply = lose_reply
        self.calls: list[str] = []
        self.stored: dict[str, intents_pb2.Intent] = {}
        self.lock = threading.Lock()

    def _script(self, context, method):
        with self.lock:
            self.calls.append(method)
            n = len([c for c in self.calls if c == method])
        if n <= self.fail_first:
            context.abort(self.code, f"scripted {self.code.name} #{n}")

    def GetIntent(self, request, context):
        self._script(context, "get")
        if request.id not in self.stored:
            context.abort(grpc.StatusCode.NOT_FOUND, f"no intent {request.id}")
        return self.stored[request.id]

    def SubmitIntent(self, request, context):
        with self.lock:
            self.calls.append("submit")
        if self.calls.count("submit") <= self.submit_unavailable:
            context.abort(UNAVAILABLE, "book restarting (scripted)")
        order = parse_order_typed_data(request.typed_data)
        if recover_order_signer(order, request.signature) != order.user:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad signature")
        iid = "0x" + order.order_id.hex()
        if iid in self.stored:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"order {iid} already submitted")
        self.stored[iid] = intent_pb(order)
        if self.lose_reply and len(self.calls) == 1:
            context.abort(UNAVAILABLE, "connection lost after commit (scripted)")
        return self.stored[iid]


def client_for(serve, servicer, clock, attempts=5, timeout=10.0) -> OrbitalClient:
    target = serve(intents_pb2_grpc.add_IntentServiceServicer_to_server, servicer)
    policy = RetryPolicy(attempts=attempts, initial=0.1, maximum=1.0, sleep=clock.sleep,
                         clock=clock, rng=random.Random(1))
    return OrbitalClient(target, retries=policy, timeout=timeout)


def test_unavailable_is_retried_with_growing_jittered_backoff(serve, clock):
    order = make_order()
    svc = Scripted(fail_first=3)
    svc.stored["0x" + order.order_id.hex()] = intent_pb(order)
    with client_for(serve, svc, clock) as client:
        intent = client.get("0x" + order.order_id.hex())
    assert intent.id == "0x" + order.order_id.hex() and intent.status is IntentStatus.PENDING
    assert svc.calls == ["get"] * 4
    assert len(clock.sleeps) == 3
    for n, slept in enumerate(clock.sleeps):  # base 0.1 * 2**n, jitter takes off at most half
        base = 0.1 * 2**n
        assert base / 2 <= slept <= base


@pytest.mark.parametrize("code", [grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT,
                                  grpc.StatusCode.RESOURCE_EXHAUSTED,
                                  grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.INTERNAL])
def test_other_codes_are_never_retried(serve, clock, code):
    svc = Scripted(fail_first=1, code=code)
    with client_for(serve, svc, clock) as client, pytest.raises(OrbitalRpcError) as err:
        client.get("0x" + "11" * 32)
    assert err.value.code == code and err.value.message == f"scripted {code.name} #1"
    assert err.value.method == "IntentService/GetIntent"
    assert svc.calls == ["get"] and clock.sleeps == []


def test_gives_up_after_the_attempts(serve, clock):
    svc = Scripted(fail_first=100)
    with client_for(serve, svc, clock, attempts=3) as client, pytest.raises(OrbitalRpcError) as err:
        client.get("0x" + "11" * 32)
    assert err.value.code == UNAVAILABLE and svc.calls == ["get"] * 3


def test_gives_up_when_the_next_wait_would_pass_the_call_deadline(serve, clock):
    svc = Scripted(fail_first=100)
    with client_for(serve, svc, clock, attempts=50, timeout=1.0) as client, pytest.raises(OrbitalRpcError) as err:
        client.get("0x" + "11" * 32)
    assert err.value.code == UNAVAILABLE
    assert sum(clock.sleeps) < 1.0 and len(svc.calls) == len(clock.sleeps) + 1


def test_nothing_listening_is_unavailable_after_retries(clock):
    policy = RetryPolicy(attempts=2, initial=0.01, sleep=clock.sleep, clock=clock)
    with OrbitalClient("127.0.0.1:1", retries=policy, timeout=5) as client, pytest.raises(OrbitalRpcError) as err:
        client.get("0x" + "11" * 32)
    assert err.value.code == UNAVAILABLE and len(clock.sleeps) == 1


def test_retried_submit_returns_the_copy_the_lost_reply_stored(serve, clock):
    svc = Scripted(lose_reply=True)
    order = make_order()
    with client_for(serve, svc, clock) as client:
        intent = client.sign_and_submit(json.dumps(order.typed_data()), USER.private_key)
    assert intent.id == "0x" + order.order_id.hex()
    assert intent.user == USER.address and intent.input_amount == order.order.input_amount
    assert svc.calls == ["submit", "submit", "get"]
    assert len(svc.stored) == 1


def test_retried_submit_of_a_different_order_with_the_same_nonce_is_refused(serve, clock):
    svc = Scripted(submit_unavailable=1)
    first, second = make_order(nonce=9, amount=5_000_000), make_order(nonce=9, amount=6_000_000)
    svc.stored["0x" + first.order_id.hex()] = intent_pb(first)   # same nonce -> same order id
    with client_for(serve, svc, clock) as client, pytest.raises(OrbitalRpcError) as err:
        client.sign_and_submit(second.typed_data(), USER.private_key)
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert svc.calls == ["submit", "submit", "get"]  # looked, did not match, refused


def test_first_attempt_already_exists_is_an_answer(serve, clock):
    svc = Scripted()
    order = make_order()
    with client_for(serve, svc, clock) as client:
        client.sign_and_submit(order.typed_data(), USER.private_key)
        with pytest.raises(OrbitalRpcError) as err:
            client.sign_and_submit(order.typed_data(), USER.private_key)
    assert err.value.code == grpc.StatusCode.ALREADY_EXISTS
    assert svc.calls == ["submit", "submit"]


class Refusing(intents_pb2_grpc.IntentServiceServicer):
    """Refuses like the node does: rich status with BadRequest field violations."""

    def SubmitIntent(self, request, context):
        status = status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0],
                                   message="openDeadline is in the past")
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field="message.openDeadline",
                                                        description="must be in the future"),
            error_details_pb2.BadRequest.FieldViolation(field="signature",
                                                        description="65 bytes expected")]))
        status.details.append(detail)
        context.abort_with_status(rpc_status.to_status(status))


def test_refusal_carries_code_message_and_field_violations(serve, clock):
    with client_for(serve, Refusing(), clock) as client, pytest.raises(OrbitalRpcError) as err:
        client.submit("{}", "0x00")
    e = err.value
    assert e.code == grpc.StatusCode.INVALID_ARGUMENT
    assert e.message == "openDeadline is in the past"
    assert e.violations == [("message.openDeadline", "must be in the future"),
                            ("signature", "65 bytes expected")]
    assert str(e) == ("INVALID_ARGUMENT: openDeadline is in the past (message.openDeadline: "
                      "must be in the future; signature: 65 bytes expected)")
    assert e.to_json()["violations"][0] == {"field": "message.openDeadline",
                                            "description": "must be in the future"}
    assert clock.sleeps == []


def test_policy_rejects_nonsense():
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)
    p = RetryPolicy(initial=1, maximum=4, multiplier=2, jitter=0)
    assert [p.delay(n) for n in range(5)] == [1, 2, 4, 4, 4]
