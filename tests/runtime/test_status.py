"""The one status mapper: typed errors keep their code, message, field violations and
precondition violations through pickling (pykka copies exc_info) and into the rich status."""

from __future__ import annotations

import pickle

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from runtime import FailedPrecondition, InvalidArgument
from runtime.grpc import to_status

PRE = [("ALLOWANCE", "0x" + "aa" * 20, "allowance 0 < 100: approve the settler ...")]


def _details(status: grpc.Status) -> list:
    md = dict(status.trailing_metadata)
    rich = rpc_status.status_pb2.Status.FromString(md["grpc-status-details-bin"])
    return list(rich.details)


def test_precondition_violations_survive_pickling_and_become_precondition_failure():
    err = pickle.loads(pickle.dumps(FailedPrecondition("not executable", preconditions=PRE)))
    assert type(err) is FailedPrecondition and err.preconditions == PRE and err.violations == []
    status = to_status(err)
    assert status.code == grpc.StatusCode.FAILED_PRECONDITION and status.details == "not executable"
    [detail] = _details(status)
    failure = error_details_pb2.PreconditionFailure()
    assert detail.Unpack(failure)
    assert [(v.type, v.subject, v.description) for v in failure.violations] == PRE


def test_field_violations_are_still_bad_request_alone():
    [detail] = _details(to_status(InvalidArgument("bad", field="x")))
    assert detail.Is(error_details_pb2.BadRequest.DESCRIPTOR)
