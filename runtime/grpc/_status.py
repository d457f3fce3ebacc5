"""The one place where errors become gRPC statuses.

An :class:`OrbitalError` keeps its code and message and, when fields are at fault, carries
``google.rpc.BadRequest`` field violations in the rich status details, and when the state
of the world is at fault (a balance, an allowance, a nonce on chain),
``google.rpc.PreconditionFailure`` violations (grpcurl prints both; clients read them with
``clients.field_violations`` and ``clients.precondition_violations``, the parsers, in the
client library). Anything else is a bug: the client gets INTERNAL with an incident id, and the
traceback goes to the log under that id.
"""

from __future__ import annotations

import logging
import uuid

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from .._errors import OrbitalError

__all__ = ["to_status", "status_proto", "Relayed"]

log = logging.getLogger("orbital.grpc")


class Relayed(Exception):
    """Another node's answer to a call this node forwarded (a status other than OK),
    passed on to the caller unchanged: code, message and rich details."""

    def __init__(self, status: status_pb2.Status) -> None:
        super().__init__(status.message)
        self.status = status


def to_status(exc: BaseException, method: str = "") -> grpc.Status:
    """The status a call that raised ``exc`` ends with."""
    return rpc_status.to_status(status_proto(exc, method))


def status_proto(exc: BaseException, method: str = "") -> status_pb2.Status:
    """``exc`` as a ``google.rpc.Status`` message: for a call's end (:func:`to_status`) and
    for the per-item results of a batch call, which answer each item as its own call would."""
    if isinstance(exc, Relayed):
        return exc.status
    if isinstance(exc, OrbitalError):
        code, message, violations = exc.code, exc.message, exc.violations
        preconditions = exc.preconditions
    else:
        incident = uuid.uuid4().hex[:12]
        log.error("unhandled error in rpc", exc_info=(type(exc), exc, exc.__traceback__),
                  extra={"method": method, "incident": incident})
        code, message, violations = (grpc.StatusCode.INTERNAL,
                                     f"internal error (incident {incident})", [])
        preconditions = []
    status = status_pb2.Status(code=code.value[0], message=message)
    if violations:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.BadRequest(field_violations=[
            error_details_pb2.BadRequest.FieldViolation(field=f, description=d)
            for f, d in violations]))
        status.details.append(detail)
    if preconditions:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.PreconditionFailure(violations=[
            error_details_pb2.PreconditionFailure.Violation(type=t, subject=s, description=d)
            for t, s, d in preconditions]))
        status.details.append(detail)
    return status


assert grpc.StatusCode.INVALID_ARGUMENT.value[0] == code_pb2.INVALID_ARGUMENT
