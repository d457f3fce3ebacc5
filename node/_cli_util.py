"""What every operator command of ``orbital`` shares: the target options, the admin stub,
JSON output and the one place a refusal becomes a line on stderr.

Exit codes (all operator commands): 0 ok; 1 the node refused (one line on stderr: the gRPC
status code, its message, then the field violations and failed preconditions in brackets);
2 a local error (bad option, no admin token). Never a traceback: a script reads the exit
code, a person reads the line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from clients import field_violations, open_channel, precondition_violations
from clients.cli import tls_arguments, tls_options

__all__ = ["UsageError", "add_target_arguments", "admin_stub", "as_dict", "guarded",
           "print_json", "rpc_error_line", "when"]

EXIT_OK, EXIT_RPC, EXIT_LOCAL = 0, 1, 2


class UsageError(Exception):
    """A local mistake (bad option, unreadable admin token): exit 2, nothing was sent."""


def add_target_arguments(p: argparse.ArgumentParser, *, json_output: bool = True,
                         admin: bool = True) -> None:
    """``--address`` (env ORBITAL_ADDRESS), TLS, and for admin calls ``--state-dir`` (where
    ``admin-token`` is read unless ORBITAL_ADMIN_TOKEN is set); ``--json`` when the command
    prints a reply."""
    p.add_argument("--address", default=os.environ.get("ORBITAL_ADDRESS", "127.0.0.1:50051"),
                   help="the node's gRPC address (env ORBITAL_ADDRESS; default %(default)s)")
    if admin:
        p.add_argument("--state-dir", default="var",
                       help="the node's state dir, for its admin-token (default %(default)s; "
                            "env ORBITAL_ADMIN_TOKEN wins)")
    tls_arguments(p)
    if json_output:
        p.add_argument("--json", action="store_true", help="the reply as JSON, for scripts")


def admin_stub(args: argparse.Namespace) -> tuple[Any, list[tuple[str, str]]]:
    """An AdminService stub on ``args.address`` and the bearer metadata every call needs.

    The token comes from ORBITAL_ADMIN_TOKEN, else ``<state-dir>/admin-token`` (written by
    the node at its first start); it is never printed."""
    from orbital.v1 import admin_pb2_grpc
    token = os.environ.get("ORBITAL_ADMIN_TOKEN")
    if not token:
        path = os.path.join(args.state_dir, "admin-token")
        try:
            with open(path) as fh:
                token = fh.read().strip()
        except OSError as exc:
            raise UsageError(f"no admin token: set ORBITAL_ADMIN_TOKEN or --state-dir to the "
                             f"node's state dir ({path}: {exc.strerror})") from None
    channel = open_channel(args.address, tls_options(args))
    return admin_pb2_grpc.AdminServiceStub(channel), [("authorization", f"Bearer {token}")]


def as_dict(message: Message) -> dict[str, Any]:
    """A reply for ``--json``: proto field names, 64-bit integers as strings (protobuf's
    JSON mapping), unset fields left out."""
    return MessageToDict(message, preserving_proto_field_name=True)


def print_json(doc: Any) -> None:
    print(json.dumps(doc), flush=True)


def when(ts: Timestamp) -> str:
    """A timestamp as UTC ``YYYY-MM-DD HH:MM:SS``; ``-`` when unset."""
    if not ts.seconds and not ts.nanos:
        return "-"
    return ts.ToDatetime().strftime("%Y-%m-%d %H:%M:%S")


def rpc_error_line(exc: grpc.RpcError) -> str:
    """``CODE: message [field: why; ...]``: the refusal as one line, the fields at fault
    (BadRequest) and failed preconditions (PreconditionFailure) included."""
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    details = exc.details() if callable(getattr(exc, "details", None)) else str(exc)
    parts = [f"{f}: {d}" for f, d in field_violations(exc)]
    parts += [f"{kind} {subject}: {d}" for kind, subject, d in precondition_violations(exc)]
    line = f"{code.name if code is not None else 'UNKNOWN'}: {details or '(no message)'}"
    return line + (f" [{'; '.join(parts)}]" if parts else "")


def guarded(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``fn`` with its refusals and local errors turned into one stderr line and an exit
    code (1 refused, 2 local), so no operator command ends in a traceback."""
    def run(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except UsageError as exc:
            print(f"orbital {args.command}: {exc}", file=sys.stderr)
            return EXIT_LOCAL
        except grpc.RpcError as exc:
            print(rpc_error_line(exc), file=sys.stderr)
            return EXIT_RPC
    run.__doc__ = fn.__doc__
    return run
