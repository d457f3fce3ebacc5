"""``orbital.v1.AdminService``: the operator's view and levers on the tree."""

from __future__ import annotations

import hmac
import types

from google.protobuf.timestamp_pb2 import Timestamp

from orbital.v1 import admin_pb2, admin_pb2_grpc

from ._errors import InvalidArgument, Unauthenticated, Unavailable, Unimplemented
from ._spec import ActorInfo
from .store import STALE_HEARTBEATS, NodeRecord
from .grpc import unary

__all__ = ["AdminServicer", "admin_service", "check_bearer"]

_MAX_PATH = 512


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
    started = _timestamp(a.started_at) if a.started_at else Timestamp()
    return admin_pb2.ActorInfo(path=a.path, kind=a.kind, state=a.state, restarts=a.restarts,
                               started_at=started, last_error=a.last_error,
                               dynamic=a.dynamic, mailbox_depth=depth)


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _node(n: NodeRecord, this: str) -> admin_pb2.NodeInstance:
    return admin_pb2.NodeInstance(
        instance=n.instance, name=n.name, pid=n.pid, host=n.host, grpc_listen=n.grpc_listen,
        started_at=_timestamp(n.started_at), last_seen=_timestamp(n.last_seen),
        leases=[admin_pb2.NodeLease(name=lease.name, expires_at=_timestamp(lease.expires_at),
                                    epoch=lease.epoch)
                for lease in n.leases],
        this_node=n.instance == this, advertise=n.advertise)


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    """The runtime's own methods (GetTree, ReloadConfig, RestartActor, StopActor, ListNodes)
    are here; every other method of the service is an actor kind's (``App.admin``): it is
    handled by :meth:`_plugged` (auth, then the kind's blocking function on the worker
    pool), and is UNIMPLEMENTED on a node whose kinds do not serve it."""

    OWN = frozenset({"GetTree", "ReloadConfig", "RestartActor", "StopActor", "ListNodes"})

    def __init__(self, node) -> None:
        self.node = node
        self.metrics = node.metrics
        for method in admin_pb2.DESCRIPTOR.services_by_name["AdminService"].methods:
            if method.name not in self.OWN:
                setattr(self, method.name, types.MethodType(_plugged_method(method.name), self))

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

    @unary("AdminService/ListNodes")
    async def ListNodes(self, request, context):
        self._auth(context)
        store = self.node.store
        if store is None:
            raise Unavailable("the node is not running (starting or shutting down)")
        within = STALE_HEARTBEATS * self.node.config.node.heartbeat_interval
        nodes = await self.node.grpc.call(store.list_nodes, within)
        return admin_pb2.ListNodesResponse(nodes=[_node(n, self.node.instance) for n in nodes],
                                           seen_within_seconds=within)

    # ---- methods served by actor kinds (App.admin) -----------------------------------
    async def _plugged(self, method: str, request, context):
        self._auth(context)
        fn = self.node.app.admin_methods.get(method)
        if fn is None:
            raise Unimplemented(f"AdminService/{method} is not served by this node's actor kinds")
        return await self.node.grpc.call(fn, self.node, request)


def _plugged_method(name: str):
    """The handler of ``AdminService/<name>``, served by an actor kind (``App.admin``)."""
    @unary(f"AdminService/{name}")
    async def handler(self, request, context):
        return await self._plugged(name, request, context)
    handler.__name__ = name
    return handler


ADMIN_SERVICE = admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name


def admin_service(node):
    return (ADMIN_SERVICE, admin_pb2_grpc.add_AdminServiceServicer_to_server, AdminServicer(node))
