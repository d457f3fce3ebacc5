"""gRPC plumbing: the aio server, method wrappers, the error -> status mapping."""

from ._methods import stream, unary
from ._server import GrpcServer, Service
from ._status import bad_request_fields, to_status

__all__ = ["stream", "unary", "GrpcServer", "Service", "bad_request_fields", "to_status"]
