"""Typed errors of the client library.

Why a class of our own: callers branch on the status code and show the offending fields
(``google.rpc.BadRequest`` violations the node attaches to INVALID_ARGUMENT and friends)
without touching grpc internals; the CLI prints exactly what the node said.
"""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

__all__ = ["ClientError", "OrbitalRpcError", "field_violations", "from_rpc_error", "from_status",
           "precondition_violations"]


class ClientError(Exception):
    """A local problem before any RPC: bad key, bad amount, unreadable keystore."""


class OrbitalRpcError(Exception):
    """A failed RPC: the gRPC ``code``, the node's ``message``, its field ``violations`` and
    its ``preconditions`` ((type, subject, description): what on chain is at fault, e.g.
    ``("ALLOWANCE", "<token>", "allowance 0 < 100: approve the settler ...")``)."""

    def __init__(self, code: grpc.StatusCode, message: str,
                 violations: list[tuple[str, str]] | tuple = (), method: str = "",
                 preconditions: list[tuple[str, str, str]] | tuple = ()) -> None:
        self.code = code
        self.message = message
        self.violations = list(violations)
        self.preconditions = list(preconditions)
        self.method = method
        super().__init__(str(self))

    @property
    def code_name(self) -> str:
        return self.code.name

    def __str__(self) -> str:
        text = f"{self.code.name}: {self.message}"
        if self.violations:
            text += " (" + "; ".join(f"{f}: {d}" for f, d in self.violations) + ")"
        return text

    def __repr__(self) -> str:
        return (f"OrbitalRpcError(code={self.code.name}, message={self.message!r}, "
                f"violations={self.violations!r}, preconditions={self.preconditions!r}, "
                f"method={self.method!r})")

    def to_json(self) -> dict:
        return {"code": self.code.name, "message": self.message, "method": self.method,
                "violations": [{"field": f, "description": d} for f, d in self.violations],
                "preconditions": [{"type": t, "subject": s, "description": d}
                                  for t, s, d in self.preconditions]}


def field_violations(error: grpc.RpcError) -> list[tuple[str, str]]:
    """(field, description) pairs of the BadRequest details in a failed call's rich status.

    The one parser of those details (the node only writes them, runtime.grpc.to_status), so
    the client library and the node's own tests read a refusal the same way; [] when the
    error carries no rich status."""
    return _bad_request(_details(error))


def precondition_violations(error: grpc.RpcError) -> list[tuple[str, str, str]]:
    """(type, subject, description) triples of the PreconditionFailure details (a
    FAILED_PRECONDITION about state outside the request: a balance, an allowance, a nonce
    used on chain); [] when there are none."""
    return _preconditions(_details(error))


def from_status(status: status_pb2.Status, method: str = "") -> OrbitalRpcError:
    """A ``google.rpc.Status`` message (one refused item of a batch call) as the error its
    own call would have raised."""
    code = next((c for c in grpc.StatusCode if c.value[0] == status.code),
                grpc.StatusCode.UNKNOWN)
    details = list(status.details)
    return OrbitalRpcError(code, status.message, _bad_request(details), method,
                           _preconditions(details))


def _details(error: grpc.RpcError) -> list:
    try:
        status = rpc_status.from_call(error)
    except (ValueError, AttributeError):  # no trailing metadata (e.g. a local failure)
        return []
    return list(status.details) if status is not None else []


def _bad_request(details: list) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for detail in details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            out += [(v.field, v.description) for v in bad.field_violations]
    return out


def _preconditions(details: list) -> list[tuple[str, str, str]]:
    out: list[tuple[str, str, str]] = []
    for detail in details:
        if detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            out += [(v.type, v.subject, v.description) for v in failure.violations]
    return out


def from_rpc_error(error: grpc.RpcError, method: str = "") -> OrbitalRpcError:
    """Map a grpc error (sync or aio) to :class:`OrbitalRpcError`."""
    code = error.code() if callable(getattr(error, "code", None)) else grpc.StatusCode.UNKNOWN
    details = error.details() if callable(getattr(error, "details", None)) else str(error)
    return OrbitalRpcError(code or grpc.StatusCode.UNKNOWN, details or "", field_violations(error),
                           method, precondition_violations(error))
