"""WatchIntents resume and CancelIntent signing, through a real loopback gRPC server.

The servicer plays scripted connections (drop after N messages, refuse a reconnect) that a
real node produces only under a restart; the resume logic under test is the client's.
"""

from __future__ import annotations

import random

import grpc
import pytest

from clients import ClientError, IntentStatus, OrbitalClient, OrbitalRpcError, RetryPolicy
from orbital.v1 import intents_pb2, intents_pb2_grpc
from protocol import CancelMessage, recover_cancel_signer

from .conftest import OTHER_USER, USER, intent_pb, make_order

S = IntentStatus


def update(order, version, status, prev=None, snapshot=False):
    msg = intents_pb2.IntentUpdate(intent=intent_pb(order, status=status, version=version),
                                   snapshot=snapshot)
    if prev is not None:
        msg.transition.version = version
        msg.transition.from_status = prev
        msg.transition.status = status
        msg.transition.at.GetCurrentTime()
    return msg


class Watchable(intents_pb2_grpc.IntentServiceServicer):
    """Each WatchIntents call plays the next script: a list of updates, then an optional
    abort code (None: the stream ends normally)."""

    def __init__(self, scripts, stored=()):
        self.scripts = list(scripts)
        self.requests: list[intents_pb2.WatchIntentsRequest] = []
        self.stored = {i.id: i for i in stored}     # what GetIntent answers

    def GetIntent(self, request, context):
        return self.stored[request.id]

    def WatchIntents(self, request, context):
        self.requests.append(request)
        messages, code = self.scripts.pop(0)
        yield from messages
        if code is not None:
            context.abort(code, f"scripted {code.name}")


def client(serve, servicer, clock, attempts=4):
    target = serve(intents_pb2_grpc.add_IntentServiceServicer_to_server, servicer)
    return OrbitalClient(target, retries=RetryPolicy(attempts=attempts, sleep=clock.sleep,
                                                     clock=clock, rng=random.Random(2)))


def test_watch_resumes_by_after_version_and_yields_each_update_once(serve, clock):
    o = make_order()
    svc = Watchable([
        ([update(o, 1, S.PENDING, snapshot=True), update(o, 2, S.ASSIGNED, S.PENDING)],
         grpc.StatusCode.UNAVAILABLE),
        ([], grpc.StatusCode.UNAVAILABLE),                       # node still down
        ([update(o, 2, S.ASSIGNED, snapshot=True),               # replayed: skipped
          update(o, 3, S.OPENED, S.ASSIGNED), update(o, 4, S.FILLED, S.OPENED),
          update(o, 5, S.SETTLED, S.FILLED)], None),
    ])
    with client(serve, svc, clock) as c:
        got = [(u.intent.version, u.intent.status, u.snapshot)
               for u in c.watch(["0x" + o.order_id.hex()])]
    assert got == [(1, S.PENDING, True), (2, S.ASSIGNED, False), (3, S.OPENED, False),
                   (4, S.FILLED, False), (5, S.SETTLED, False)]
    assert [r.after_version for r in svc.requests] == [0, 2, 2]
    assert len(clock.sleeps) == 2


def test_watch_of_several_ids_resumes_only_the_unfinished_ones(serve, clock):
    a, b = make_order(nonce=1), make_order(nonce=2)
    ida, idb = "0x" + a.order_id.hex(), "0x" + b.order_id.hex()
    svc = Watchable([
        ([update(a, 1, S.PENDING, snapshot=True), update(b, 3, S.ASSIGNED, snapshot=True),
          update(a, 2, S.CANCELLED, S.PENDING)], grpc.StatusCode.UNAVAILABLE),
        ([update(b, 4, S.EXPIRED, S.ASSIGNED)], None),
    ])
    with client(serve, svc, clock) as c:
        got = [(u.intent.id, u.intent.status) for u in c.watch([ida, idb])]
    assert got == [(ida, S.PENDING), (idb, S.ASSIGNED), (ida, S.CANCELLED), (idb, S.EXPIRED)]
    assert list(svc.requests[1].ids) == [idb] and svc.requests[1].after_version == 3


def test_a_reader_cut_off_for_lagging_resumes_but_a_refusal_does_not(serve, clock):
    o = make_order()
    svc = Watchable([
        ([update(o, 1, S.PENDING, snapshot=True)], grpc.StatusCode.RESOURCE_EXHAUSTED),
        ([update(o, 2, S.EXPIRED, S.PENDING)], None),
    ])
    with client(serve, svc, clock) as c:
        assert [u.intent.version for u in c.watch(["0x" + o.order_id.hex()])] == [1, 2]

    svc = Watchable([([], grpc.StatusCode.RESOURCE_EXHAUSTED)])   # e.g. too many ids
    with client(serve, svc, clock) as c, pytest.raises(OrbitalRpcError) as err:
        list(c.watch(["0x" + o.order_id.hex()]))
    assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and len(svc.requests) == 1


def test_watch_gives_up_after_the_attempts_without_progress(serve, clock):
    o = make_order()
    svc = Watchable([([], grpc.StatusCode.UNAVAILABLE)] * 3)
    with client(serve, svc, clock, attempts=3) as c, pytest.raises(OrbitalRpcError) as err:
        list(c.watch(["0x" + o.order_id.hex()]))
    assert err.value.code == grpc.StatusCode.UNAVAILABLE and len(svc.requests) == 3


def test_an_ids_watch_ended_before_all_are_terminal_is_resumed(serve, clock):
    o = make_order()
    svc = Watchable([
        ([update(o, 1, S.PENDING, snapshot=True)], None),    # node shutting down: ends early
        ([update(o, 2, S.CANCELLED, S.PENDING)], None),
    ])
    with client(serve, svc, clock) as c:
        assert [u.intent.status for u in c.watch(["0x" + o.order_id.hex()])] == [S.PENDING,
                                                                                  S.CANCELLED]
    assert [r.after_version for r in svc.requests] == [0, 1]


def test_a_user_watch_catches_up_on_intents_that_ended_while_disconnected(serve, clock):
    a, b = make_order(nonce=1), make_order(nonce=2)
    done = intent_pb(a, status=S.EXPIRED, version=2)
    tr = done.history.add(version=2, from_status=S.PENDING, status=S.EXPIRED, reason="deadline")
    svc = Watchable([
        ([update(a, 1, S.PENDING, snapshot=True)], grpc.StatusCode.UNAVAILABLE),
        ([update(b, 1, S.PENDING, snapshot=True)], grpc.StatusCode.PERMISSION_DENIED),
    ], stored=[done])
    got = []
    with client(serve, svc, clock) as c, pytest.raises(OrbitalRpcError) as err:
        for u in c.watch(user=USER.address):
            got.append((u.intent.id, u.intent.status, u.snapshot))
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED   # not a disconnect: raised
    ida, idb = done.id, "0x" + b.order_id.hex()
    assert got == [(ida, S.PENDING, True), (ida, S.EXPIRED, True), (idb, S.PENDING, True)]
    assert [r.user for r in svc.requests] == [USER.address] * 2 and tr.reason == "deadline"


def test_watch_deadline_while_reconnecting(serve, clock):
    o = make_order()
    svc = Watchable([([], grpc.StatusCode.UNAVAILABLE)] * 5)
    target = serve(intents_pb2_grpc.add_IntentServiceServicer_to_server, svc)
    policy = RetryPolicy(attempts=5, initial=1.0, jitter=0, sleep=clock.sleep, clock=clock)
    with OrbitalClient(target, retries=policy) as c, pytest.raises(OrbitalRpcError) as err:
        list(c.watch(["0x" + o.order_id.hex()], timeout=2.5))
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "while reconnecting" in err.value.message and clock.sleeps == [1.0]


def test_watch_needs_ids_or_user():
    with OrbitalClient("127.0.0.1:1") as c, pytest.raises(ValueError):
        next(c.watch())


class Cancellable(intents_pb2_grpc.IntentServiceServicer):
    """Checks the CancelOrder signature the way the node does (recover == the intent's user)."""

    def __init__(self, order):
        self.intent = intent_pb(order)
        self.cancels = 0

    def GetIntent(self, request, context):
        return self.intent

    def CancelIntent(self, request, context):
        self.cancels += 1
        i = self.intent
        cancel = CancelMessage(i.origin_chain_id, i.origin_settler, bytes.fromhex(i.id[2:]),
                               int(i.nonce))
        if recover_cancel_signer(cancel, request.signature) != i.user:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "not signed by the intent's user")
        self.intent.status = S.CANCELLED
        self.intent.version += 1
        return self.intent


def test_cancel_signs_cancel_order_in_the_origin_settler_domain(serve, clock):
    svc = Cancellable(make_order())
    with client(serve, svc, clock) as c:
        intent = c.cancel(svc.intent.id, USER.private_key)
    assert intent.status is S.CANCELLED and intent.version == 2 and svc.cancels == 1


def test_cancel_with_another_users_key_is_refused_locally(serve, clock):
    svc = Cancellable(make_order())
    with client(serve, svc, clock) as c, pytest.raises(ClientError) as err:
        c.cancel(svc.intent.id, OTHER_USER.private_key)
    assert OTHER_USER.address in str(err.value) and svc.cancels == 0
    assert OTHER_USER.private_key[2:] not in str(err.value)
