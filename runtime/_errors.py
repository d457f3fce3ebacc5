"""Typed errors of the runtime and of everything built on it.

Every error a user can see is an :class:`OrbitalError` subclass carrying the gRPC status
it maps to; the one place that turns them into a gRPC status is
:mod:`runtime._grpc.status`. Code raises the most precise class it can, with a message a
person can act on and, where one field is at fault, that field's name.
"""

from __future__ import annotations

import grpc

__all__ = [
    "OrbitalError",
    "LeaseLost",
    "Unimplemented",
    "DeadlineExceeded",
    "InvalidArgument",
    "Unauthenticated",
    "PermissionDenied",
    "AlreadyExists",
    "NotFound",
    "FailedPrecondition",
    "ResourceExhausted",
    "Unavailable",
    "ActorUnavailable",
    "ConfigError",
    "Escalation",
]


class OrbitalError(Exception):
    """An expected, typed failure: mapped to a gRPC status, never a crash of the actor."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str, *, field: str | None = None,
                 violations: list[tuple[str, str]] | None = None,
                 preconditions: list[tuple[str, str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        # (field, description) pairs for google.rpc.BadRequest.
        self.violations: list[tuple[str, str]] = list(violations or [])
        if field is not None:
            self.violations.insert(0, (field, message))
        # (type, subject, description) triples for google.rpc.PreconditionFailure: what
        # state of the world (not of the request) is at fault, e.g. ("ALLOWANCE",
        # "<token>", "allowance 0 < 100: approve ...").
        self.preconditions: list[tuple[str, str, str]] = list(preconditions or [])

    def __reduce__(self):  # keep pickling (pykka futures copy exc_info) lossless
        return (_rebuild, (type(self), self.message, self.violations, self.preconditions))


def _rebuild(cls, message, violations, preconditions=()):
    err = cls.__new__(cls)
    OrbitalError.__init__(err, message, violations=violations, preconditions=list(preconditions))
    return err


class InvalidArgument(OrbitalError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class Unauthenticated(OrbitalError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(OrbitalError):
    code = grpc.StatusCode.PERMISSION_DENIED


class AlreadyExists(OrbitalError):
    code = grpc.StatusCode.ALREADY_EXISTS


class NotFound(OrbitalError):
    code = grpc.StatusCode.NOT_FOUND


class FailedPrecondition(OrbitalError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhausted(OrbitalError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unimplemented(OrbitalError):
    code = grpc.StatusCode.UNIMPLEMENTED


class DeadlineExceeded(OrbitalError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class Unavailable(OrbitalError):
    """Retryable: the store is down, the node is shutting down, an actor is restarting."""

    code = grpc.StatusCode.UNAVAILABLE


class LeaseLost(Unavailable):
    """This node no longer holds a singleton's lease (another node took it over): the
    write it fenced rolled back, and the singleton stands by."""


class ActorUnavailable(Unavailable):
    """The addressed actor is not running (never started, restarting, or stopped).

    Messages are never queued for an actor that is not there: the sender learns at once
    and may retry (the OTP behaviour of sending to an unregistered name).
    """

    def __init__(self, path: str, why: str = "not running") -> None:
        super().__init__(f"actor {path!r} is {why}")
        self.path = path


class ConfigError(InvalidArgument):
    """A configuration file that does not validate: names the file, line and key."""

    def __init__(self, file: str, line: int | None, key: str, expected: str) -> None:
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {key}: {expected}" if key else f"{where}: {expected}",
                         field=key or None)
        self.file, self.line, self.key, self.expected = file, line, key, expected

    def __reduce__(self):
        return (ConfigError, (self.file, self.line, self.key, self.expected))


class Escalation(Exception):
    """A supervisor exceeded its restart intensity and gives up, passing the failure up."""

    def __init__(self, path: str, cause: BaseException | None) -> None:
        super().__init__(f"supervisor {path!r} exceeded its restart intensity"
                         + (f" (last failure: {cause!r})" if cause else ""))
        self.path = path
        self.cause = cause
