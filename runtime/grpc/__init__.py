"""gRPC plumbing: the aio server, method wrappers, the error -> status mapping."""

from ._convert import timestamp
from ._forward import CLUSTER_SECRET, FORWARDED_BY, FORWARDED_FOR, Forwarder
from ._limits import DEFAULT_LIMITS, DEFAULT_POOLS, DEFAULT_ROUTES, MethodLimit, peer_host
from ._methods import stream, unary
from ._outbox import Outbox, push_all
from ._paging import decode_token, encode_token, filters_digest
from ._server import GrpcServer, Service
from ._status import Relayed, status_proto, to_status
from ._tls import ServerTls

__all__ = ["timestamp", "DEFAULT_LIMITS", "DEFAULT_POOLS", "DEFAULT_ROUTES", "MethodLimit",
           "peer_host", "stream", "unary", "Outbox", "push_all", "decode_token", "encode_token",
           "filters_digest", "GrpcServer", "Service", "status_proto", "to_status", "Relayed",
           "Forwarder", "FORWARDED_BY", "FORWARDED_FOR", "CLUSTER_SECRET", "ServerTls"]
