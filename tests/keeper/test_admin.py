"""ListTasks, PauseTask, ResumeTask, RunTask through a real node's gRPC server on loopback."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from clients import field_violations
from orbital.v1 import admin_pb2, admin_pb2_grpc
from runtime.node import Node
from runtime.testing import EventRecorder
from tests._node import ADMIN, TestNodes, yaml_value

from .conftest import CALLS, gate, make_app

TASKS = {
    "rec": "{cron: '0 0 3 * * *', action: record, args: {note: done}}",
    "slow": "{cron: '0 0 3 * * *', action: block, args: {gate: slow}}",
}


@pytest.fixture
def node(tmp_path, database_url):
    """``start(tasks)`` -> a started keeper node with ``rec`` (its events), ``stub`` (its
    AdminService) and ``rewrite(tasks)`` (write its config again, for a reload)."""
    with TestNodes(tmp_path) as nodes:
        def write(tasks: dict[str, str]) -> str:
            return nodes.config(database_url, {"keeper": {"tasks": yaml_value(tasks)}})

        def start(tasks: dict[str, str] = TASKS) -> Node:
            n = nodes.start(write(tasks), make_app)
            n.rec = EventRecorder(n.events)
            n.stub = nodes.stub(n, admin_pb2_grpc.AdminServiceStub)
            n.rewrite = write
            return n
        yield start


def tasks(n) -> dict[str, admin_pb2.TaskInfo]:
    reply = n.stub.ListTasks(admin_pb2.ListTasksRequest(), metadata=ADMIN, timeout=10)
    return {t.name: t for t in reply.tasks}


def code_of(fn, *args, **kw) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        fn(*args, metadata=kw.pop("metadata", ADMIN), timeout=10, **kw)
    return err.value


def test_list_pause_resume_run_now(node):
    n = node()
    listed = tasks(n)
    assert list(listed) == ["rec", "slow"]
    rec = listed["rec"]
    assert (rec.cron, rec.action, rec.misfire, rec.paused, rec.running) == \
        ("0 0 3 * * *", "record", "run_once", False, False)
    assert rec.HasField("next_run_at") and not rec.HasField("last_run_at")

    reply = n.stub.RunTask(admin_pb2.RunTaskRequest(name="rec"), metadata=ADMIN, timeout=10)
    assert reply.run_id and reply.task.running
    n.rec.wait_for("task_finished", "keeper", task="rec", run_id=reply.run_id)
    rec = tasks(n)["rec"]
    assert rec.last_result == "done" and rec.last_error == "" and rec.runs == 1
    assert rec.HasField("last_run_at") and not rec.running

    paused = n.stub.PauseTask(admin_pb2.PauseTaskRequest(name="rec"), metadata=ADMIN,
                              timeout=10).task
    assert paused.paused and not paused.HasField("next_run_at")
    assert tasks(n)["rec"].paused
    resumed = n.stub.ResumeTask(admin_pb2.ResumeTaskRequest(name="rec"), metadata=ADMIN,
                                timeout=10).task
    assert not resumed.paused and resumed.HasField("next_run_at")
    assert resumed.next_run_at.ToSeconds() > rec.last_run_at.ToSeconds()


def test_errors(node):
    n = node()
    err = code_of(n.stub.RunTask, admin_pb2.RunTaskRequest(name="nope"))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "no task 'nope'" in err.details()
    for rpc, req in ((n.stub.PauseTask, admin_pb2.PauseTaskRequest),
                     (n.stub.ResumeTask, admin_pb2.ResumeTaskRequest),
                     (n.stub.RunTask, admin_pb2.RunTaskRequest)):
        err = code_of(rpc, req(name=" "))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in field_violations(err)] == ["name"]
        assert code_of(rpc, req(name="rec"), metadata=[]).code() == \
            grpc.StatusCode.UNAUTHENTICATED
    assert code_of(n.stub.ListTasks, admin_pb2.ListTasksRequest(),
                   metadata=[("authorization", "Bearer wrong-token-0000000000")]).code() == \
        grpc.StatusCode.UNAUTHENTICATED


def test_run_task_during_a_run_is_failed_precondition(node):
    g = gate("slow")
    n = node()
    first = n.stub.RunTask(admin_pb2.RunTaskRequest(name="slow"), metadata=ADMIN, timeout=10)
    err = code_of(n.stub.RunTask, admin_pb2.RunTaskRequest(name="slow"))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "is running" in err.details() and first.run_id in err.details()
    assert tasks(n)["slow"].running
    g.set()
    n.rec.wait_for("task_finished", "keeper", task="slow")
    assert not tasks(n)["slow"].running and len(CALLS) == 1
    n.stub.RunTask(admin_pb2.RunTaskRequest(name="slow"), metadata=ADMIN, timeout=10)
    n.rec.wait_for("task_finished", "keeper", task="slow", count=2)


def test_no_keeper_is_unavailable(node):
    n = node(tasks={})
    err = code_of(n.stub.ListTasks, admin_pb2.ListTasksRequest())
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "keeper" in err.details()
    assert code_of(n.stub.RunTask, admin_pb2.RunTaskRequest(name="rec")).code() == \
        grpc.StatusCode.UNAVAILABLE


def test_reload_adds_and_removes_tasks(node):
    n = node(tasks={"rec": TASKS["rec"]})
    n.stub.PauseTask(admin_pb2.PauseTaskRequest(name="rec"), metadata=ADMIN, timeout=10)
    n.rewrite(TASKS)
    reply = n.stub.ReloadConfig(admin_pb2.ReloadConfigRequest(), metadata=ADMIN, timeout=20)
    assert reply.restarted == ["keeper"]
    listed = tasks(n)
    assert list(listed) == ["rec", "slow"] and listed["rec"].paused  # state kept
    n.rewrite({"slow": TASKS["slow"]})
    n.stub.ReloadConfig(admin_pb2.ReloadConfigRequest(), metadata=ADMIN, timeout=20)
    assert list(tasks(n)) == ["slow"]
    assert code_of(n.stub.RunTask, admin_pb2.RunTaskRequest(name="rec")).code() == \
        grpc.StatusCode.NOT_FOUND
    n.rewrite({})
    reply = n.stub.ReloadConfig(admin_pb2.ReloadConfigRequest(), metadata=ADMIN, timeout=20)
    assert reply.stopped == ["keeper"]
    assert code_of(n.stub.ListTasks, admin_pb2.ListTasksRequest()).code() == \
        grpc.StatusCode.UNAVAILABLE
    n.rewrite({"rec": TASKS["rec"]})
    reply = n.stub.ReloadConfig(admin_pb2.ReloadConfigRequest(), metadata=ADMIN, timeout=20)
    assert reply.started == ["keeper"] and tasks(n)["rec"].paused  # back, still paused


def test_invalid_cron_on_reload_is_refused_and_tree_untouched(node):
    n = node(tasks={"rec": TASKS["rec"]})
    path = n.rewrite({"rec": "{cron: '0 0 3 * * * *', action: record}"})
    lines = Path(path).read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "0 0 3 * * * *" in text)
    err = code_of(n.stub.ReloadConfig, admin_pb2.ReloadConfigRequest())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"supervisor.yaml:{line}: keeper.tasks.rec.cron" in err.details(), err.details()
    assert list(tasks(n)) == ["rec"]
