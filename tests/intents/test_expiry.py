"""Keeper task expire_intents: PENDING intents past openDeadline become EXPIRED (announced,
stored with the reason); intents still in time are untouched. The node runs on a FakeClock."""

from __future__ import annotations

import time

from orbital.v1 import admin_pb2, admin_pb2_grpc, intents_pb2
from runtime.testing import FakeClock
from tests._node import ADMIN

from .conftest import make_order, signed_request

P = intents_pb2


def test_expire_task_expires_only_what_is_past_open_deadline(intents_node, nodes):
    start = time.monotonic()
    clock = FakeClock(start=start, wall_offset=time.time() - start)
    node, stub = intents_node(
        extra="keeper:\n  tasks:\n    expire: {cron: '0 0 1 1 *', action: expire_intents}\n",
        clock=clock)
    admin = nodes.stub(node, admin_pb2_grpc.AdminServiceStub)
    soon = stub.SubmitIntent(signed_request(make_order(nonce=1, open_in=60)))
    later = stub.SubmitIntent(signed_request(make_order(nonce=2, open_in=600)))
    # The orders' deadlines are real time (signed now); the fake wall stood still while the
    # node started: catch it up with the real time first, then pass the first deadline.
    clock.advance(max(0.0, time.time() - clock.wall()) + 61)
    admin.RunTask(admin_pb2.RunTaskRequest(name="expire"), metadata=ADMIN)
    deadline = time.monotonic() + 15
    while stub.GetIntent(P.GetIntentRequest(id=soon.id)).status != P.INTENT_STATUS_EXPIRED:
        assert time.monotonic() < deadline, "not expired"
        time.sleep(0.05)
    got = stub.GetIntent(P.GetIntentRequest(id=soon.id))
    assert [h.status for h in got.history] == [P.INTENT_STATUS_PENDING, P.INTENT_STATUS_EXPIRED]
    assert "openDeadline passed" in got.history[-1].reason
    assert stub.GetIntent(P.GetIntentRequest(id=later.id)).status == P.INTENT_STATUS_PENDING
    tasks = admin.ListTasks(admin_pb2.ListTasksRequest(), metadata=ADMIN)
    [task] = [t for t in tasks.tasks if t.name == "expire"]
    deadline = time.monotonic() + 10
    while "expired 1" not in task.last_result:
        assert time.monotonic() < deadline, task
        time.sleep(0.05)
        tasks = admin.ListTasks(admin_pb2.ListTasksRequest(), metadata=ADMIN)
        [task] = [t for t in tasks.tasks if t.name == "expire"]
