"""``AdminService/ListTasks``, ``PauseTask``, ``ResumeTask``, ``RunTask``: asked of the keeper
actor (``actors.KEEPER_PATH``); registered with ``App.admin`` by :func:`actors.keeper.install`.

Each is a blocking ``fn(node, request) -> reply`` (the runtime authenticates the call and
maps errors to statuses): no keeper running -> UNAVAILABLE; unknown task -> NOT_FOUND; a
run while one is in progress -> FAILED_PRECONDITION.
"""

from __future__ import annotations

from actors import KEEPER_PATH
from orbital.v1 import admin_pb2
from runtime import InvalidArgument
from runtime.grpc import timestamp as _ts

from ._messages import ListTasks, PauseTask, ResumeTask, RunTask, TaskInfo

__all__ = ["ADMIN_METHODS", "list_tasks", "pause_task", "resume_task", "run_task"]

_MAX_TASK_NAME = 200


def _task_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidArgument("name is required: a task of keeper.tasks in supervisor.yaml "
                              "(see ListTasks)", field="name")
    if len(name) > _MAX_TASK_NAME:
        raise InvalidArgument(f"name longer than {_MAX_TASK_NAME} characters", field="name")
    return name


def _task(t: TaskInfo) -> admin_pb2.TaskInfo:
    return admin_pb2.TaskInfo(name=t.name, cron=t.cron, action=t.action, paused=t.paused,
                              running=t.running, last_run_at=_ts(t.last_run_at),
                              last_result=t.last_result, last_error=t.last_error,
                              next_run_at=_ts(t.next_run_at), misfire=t.misfire,
                              runs=t.runs, skipped=t.skipped)


def list_tasks(node, request: admin_pb2.ListTasksRequest) -> admin_pb2.ListTasksResponse:
    tasks = node.registry.ask(KEEPER_PATH, ListTasks())
    return admin_pb2.ListTasksResponse(tasks=[_task(t) for t in tasks])


def pause_task(node, request: admin_pb2.PauseTaskRequest) -> admin_pb2.PauseTaskResponse:
    info = node.registry.ask(KEEPER_PATH, PauseTask(_task_name(request.name)))
    return admin_pb2.PauseTaskResponse(task=_task(info))


def resume_task(node, request: admin_pb2.ResumeTaskRequest) -> admin_pb2.ResumeTaskResponse:
    info = node.registry.ask(KEEPER_PATH, ResumeTask(_task_name(request.name)))
    return admin_pb2.ResumeTaskResponse(task=_task(info))


def run_task(node, request: admin_pb2.RunTaskRequest) -> admin_pb2.RunTaskResponse:
    started = node.registry.ask(KEEPER_PATH, RunTask(_task_name(request.name)))
    return admin_pb2.RunTaskResponse(task=_task(started.task), run_id=started.run_id)


ADMIN_METHODS = {"ListTasks": list_tasks, "PauseTask": pause_task, "ResumeTask": resume_task,
                 "RunTask": run_task}
