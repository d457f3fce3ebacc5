"""``orbital.v1.AdminService``: the operator's view and levers on the tree."""

from __future__ import annotations

import hmac

from google.protobuf.timestamp_pb2 import Timestamp

from orbital.v1 import admin_pb2, admin_pb2_grpc

from ._errors import InvalidArgument, Unauthenticated, Unimplemented
from ._spec import ActorInfo
from ._tasks import TASKS_PATH, ListTasks, PauseTask, ResumeTask, RunTask, TaskInfo
from .grpc import unary
from .grpc import timestamp as _ts

__all__ = ["AdminServicer", "admin_service", "check_bearer"]

_MAX_PATH = 512
_MAX_TASK_NAME = 200


def check_bearer(context, token: str) -> None:
    """Raise UNAUTHENTICATED unless the call carries ``authorization: Bearer <token>``."""
    header = dict(context.invocation_metadata() or ()).get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not header:
        raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise Unauthenticated("invalid admin token")


def _path(path: str) -> str:
    path = path.strip().strip("/")
    if not path:
        raise InvalidArgument("path is required, e.g. 'chains/watcher/devnet-a'", field="path")
    if len(path) > _MAX_PATH:
        raise InvalidArgument(f"path longer than {_MAX_PATH} characters", field="path")
    if path == "root":
        raise InvalidArgument("the root supervisor cannot be restarted or stopped; "
                              "restart the node instead", field="path")
    return path


def _info(a: ActorInfo, depth: int = 0) -> admin_pb2.ActorInfo:
    started = Timestamp()
    if a.started_at:
        started.FromNanoseconds(int(a.started_at * 1e9))
    return admin_pb2.ActorInfo(path=a.path, kind=a.kind, state=a.state, restarts=a.restarts,
                               started_at=started, last_error=a.last_error,
                               dynamic=a.dynamic, mailbox_depth=depth)


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


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, node) -> None:
        self.node = node
        self.metrics = node.metrics

    def _auth(self, context) -> None:
        check_bearer(context, self.node.admin_token)

    @unary("AdminService/GetTree")
    async def GetTree(self, request, context):
        self._auth(context)
        actors = await self.node.grpc.call(self.node.describe)
        depths = self.node.registry.mailbox_depths()
        return admin_pb2.GetTreeResponse(
            node=self.node.config.node.name,
            actors=[_info(a, depths.get(a.path, 0)) for a in actors])

    @unary("AdminService/ReloadConfig")
    async def ReloadConfig(self, request, context):
        self._auth(context)
        result = await self.node.grpc.call(self.node.reload)
        return admin_pb2.ReloadConfigResponse(
            started=result.started, stopped=result.stopped, restarted=result.restarted,
            unchanged=result.unchanged, file=self.node.config_path)

    @unary("AdminService/RestartActor")
    async def RestartActor(self, request, context):
        self._auth(context)
        path = _path(request.path)
        await self.node.grpc.call(self.node.restart_actor, path)
        actors = await self.node.grpc.call(self.node.describe)
        info = next((a for a in actors if a.path == path), None)
        return admin_pb2.RestartActorResponse(
            actor=_info(info) if info else admin_pb2.ActorInfo(path=path, state="stopped"))

    @unary("AdminService/StopActor")
    async def StopActor(self, request, context):
        self._auth(context)
        path = _path(request.path)
        await self.node.grpc.call(self.node.stop_actor, path)
        return admin_pb2.StopActorResponse(path=path)


    # ---- scheduled tasks: asked of the actor at TASKS_PATH ("keeper") -------------------
    async def _ask_tasks(self, message):
        return await self.node.grpc.call(self.node.registry.ask, TASKS_PATH, message)

    @unary("AdminService/ListTasks")
    async def ListTasks(self, request, context):
        self._auth(context)
        tasks = await self._ask_tasks(ListTasks())
        return admin_pb2.ListTasksResponse(tasks=[_task(t) for t in tasks])

    @unary("AdminService/PauseTask")
    async def PauseTask(self, request, context):
        self._auth(context)
        info = await self._ask_tasks(PauseTask(_task_name(request.name)))
        return admin_pb2.PauseTaskResponse(task=_task(info))

    @unary("AdminService/ResumeTask")
    async def ResumeTask(self, request, context):
        self._auth(context)
        info = await self._ask_tasks(ResumeTask(_task_name(request.name)))
        return admin_pb2.ResumeTaskResponse(task=_task(info))

    @unary("AdminService/RunTask")
    async def RunTask(self, request, context):
        self._auth(context)
        started = await self._ask_tasks(RunTask(_task_name(request.name)))
        return admin_pb2.RunTaskResponse(task=_task(started.task), run_id=started.run_id)


    # ---- methods served by actor kinds (App.admin) -----------------------------------
    async def _plugged(self, method: str, request, context):
        self._auth(context)
        fn = self.node.app.admin_methods.get(method)
        if fn is None:
            raise Unimplemented(f"AdminService/{method} is not served by this node's actor kinds")
        return await self.node.grpc.call(fn, self.node, request)

    @unary("AdminService/ListFundingAccounts")
    async def ListFundingAccounts(self, request, context):
        return await self._plugged("ListFundingAccounts", request, context)

    @unary("AdminService/ListStrategies")
    async def ListStrategies(self, request, context):
        return await self._plugged("ListStrategies", request, context)

    @unary("AdminService/ListAlerts")
    async def ListAlerts(self, request, context):
        return await self._plugged("ListAlerts", request, context)

    @unary("AdminService/DecideShortfall")
    async def DecideShortfall(self, request, context):
        return await self._plugged("DecideShortfall", request, context)


def admin_service(node):
    name = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name
    return (name, admin_pb2_grpc.add_AdminServiceServicer_to_server, AdminServicer(node))
