"""CancelIntent and WatchIntents through a real server: signed by the user, resumable."""

from __future__ import annotations

import threading

import grpc
import pytest

from clients import field_violations
from orbital.v1 import intents_pb2, intents_pb2_grpc
from runtime import RestartChild

from .conftest import USERS, cancel_signature, make_order, signed_request

P = intents_pb2


def test_cancel_by_user_only_and_only_before_open(intents_node):
    node, stub = intents_node()
    order = make_order(nonce=1)
    intent = stub.SubmitIntent(signed_request(order))
    with pytest.raises(grpc.RpcError) as err:
        stub.CancelIntent(P.CancelIntentRequest(id=intent.id, signature=cancel_signature(order, USERS[1].private_key)))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert field_violations(err.value) and field_violations(err.value)[0][0] == "signature"
    done = stub.CancelIntent(P.CancelIntentRequest(id=intent.id, signature=cancel_signature(order, USERS[0].private_key)))
    assert done.status == P.INTENT_STATUS_CANCELLED and done.version == 2
    with pytest.raises(grpc.RpcError) as err:
        stub.CancelIntent(P.CancelIntentRequest(id=intent.id, signature=cancel_signature(order, USERS[0].private_key)))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    # the state is checked before the signature is recovered: a cancelled intent refuses
    # even a stranger's signature with FAILED_PRECONDITION, not after a recovery
    with pytest.raises(grpc.RpcError) as err:
        stub.CancelIntent(P.CancelIntentRequest(id=intent.id, signature=cancel_signature(order, USERS[1].private_key)))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    history = stub.GetIntent(P.GetIntentRequest(id=intent.id)).history
    assert [(h.version, h.status) for h in history] == [(1, P.INTENT_STATUS_PENDING), (2, P.INTENT_STATUS_CANCELLED)]
    with pytest.raises(grpc.RpcError) as err:
        stub.CancelIntent(P.CancelIntentRequest(id="0x" + "00" * 32, signature=cancel_signature(order, USERS[0].private_key)))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def _collect(stream, out: list, started: threading.Event | None = None):
    try:
        for update in stream:
            out.append(update)
            if started is not None:
                started.set()
    except grpc.RpcError as exc:
        out.append(exc)


def test_watch_sends_state_first_then_transitions_and_ends_when_terminal(intents_node):
    node, stub = intents_node()
    order = make_order(nonce=2)
    intent = stub.SubmitIntent(signed_request(order))
    got, first = [], threading.Event()
    t = threading.Thread(target=_collect, args=(stub.WatchIntents(P.WatchIntentsRequest(ids=[intent.id])), got, first))
    t.start()
    assert first.wait(10)
    stub.CancelIntent(P.CancelIntentRequest(id=intent.id, signature=cancel_signature(order, USERS[0].private_key)))
    t.join(10)
    assert not t.is_alive(), "the stream must end once every watched intent is terminal"
    assert [(u.snapshot, u.intent.status, u.intent.version) for u in got] == [
        (True, P.INTENT_STATUS_PENDING, 1), (False, P.INTENT_STATUS_CANCELLED, 2)]
    assert got[1].transition.from_status == P.INTENT_STATUS_PENDING

    # Resume after version 1: only what came later, then the end.
    resumed = list(stub.WatchIntents(P.WatchIntentsRequest(ids=[intent.id], after_version=1), timeout=10))
    assert [(u.snapshot, u.transition.version) for u in resumed] == [(False, 2)]


def test_watch_by_user_sees_new_intents_and_refuses_bad_requests(intents_node):
    node, stub = intents_node()
    got, first = [], threading.Event()
    call = stub.WatchIntents(P.WatchIntentsRequest(user=USERS[2].address))
    stub.SubmitIntent(signed_request(make_order(USERS[2], nonce=1)))  # before the stream reads: still seen
    t = threading.Thread(target=_collect, args=(call, got, first))
    t.start()
    assert first.wait(10)
    stub.SubmitIntent(signed_request(make_order(USERS[2], nonce=2)))
    stub.SubmitIntent(signed_request(make_order(USERS[3], nonce=3)))  # another user: not seen
    deadline = threading.Event()
    while len(got) < 2 and not deadline.wait(0.05):
        pass
    call.cancel()
    t.join(10)
    updates = [u for u in got if not isinstance(u, Exception)]
    assert {u.intent.nonce for u in updates} == {"1", "2"}
    for bad in (P.WatchIntentsRequest(), P.WatchIntentsRequest(ids=["0x12"]),
                P.WatchIntentsRequest(ids=["0x" + "aa" * 32], user=USERS[0].address)):
        with pytest.raises(grpc.RpcError) as err:
            list(stub.WatchIntents(bad, timeout=5))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as err:
        list(stub.WatchIntents(P.WatchIntentsRequest(ids=["0x" + "aa" * 32]), timeout=5))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_book_restart_ends_watches_with_unavailable_and_keeps_intents(intents_node):
    node, stub = intents_node()
    order = make_order(nonce=9)
    intent = stub.SubmitIntent(signed_request(order))
    got, first = [], threading.Event()
    t = threading.Thread(target=_collect, args=(stub.WatchIntents(P.WatchIntentsRequest(ids=[intent.id])), got, first))
    t.start()
    assert first.wait(10)
    node.root.ask(RestartChild("intents/book"))
    t.join(30)   # a bound, not a timing: the stream ends once the old book has stopped
    assert not t.is_alive(), f"the watch did not end after the book restart; got {got!r}"
    assert isinstance(got[-1], grpc.RpcError) and got[-1].code() == grpc.StatusCode.UNAVAILABLE, got
    assert "after_version" in got[-1].details()
    # Restarted from the store: the intent is there and still cancellable.
    done = stub.CancelIntent(P.CancelIntentRequest(id=intent.id, signature=cancel_signature(order, USERS[0].private_key)))
    assert done.status == P.INTENT_STATUS_CANCELLED
    with pytest.raises(grpc.RpcError) as err:
        stub.SubmitIntent(signed_request(order))
    assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_a_watcher_that_stops_reading_is_disconnected_with_a_reason(intents_node):
    # 300 open intents of one user (the watched one): above the default per-user cap.
    node, stub = intents_node(intents="stream_buffer: 8\nuser_rate: {rate: 10000, burst: 10000}\n"
                                      "max_open_per_user: 1000")
    # A small receive window and no window growth: the server's writes stall quickly.
    slow = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}",
                                 options=[("grpc.http2.lookahead_bytes", 1024), ("grpc.http2.bdp_probe", 0)])
    # Opened and then left unread while the updates pile up.
    call = intents_pb2_grpc.IntentServiceStub(slow).WatchIntents(P.WatchIntentsRequest(user=USERS[4].address))
    for nonce in range(300):      # ~300 updates for a reader that reads none of them
        stub.SubmitIntent(signed_request(make_order(USERS[4], nonce=10_000 + nonce)))
    with pytest.raises(grpc.RpcError) as err:
        for _ in call:
            pass
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "fell 8 messages behind" in err.value.details()
    slow.close()
    # The node is fine and keeps serving others.
    assert stub.GetIntent(P.GetIntentRequest(id="0x" + make_order(USERS[4], nonce=10_000).order_id.hex())).version == 1
