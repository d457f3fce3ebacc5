"""``AdminService/ListSolvers`` and ``GetSolverRecord``: every solver's record, from the book.

Asked of the book (it holds the reliability windows and counters not yet written); a book
that is not running answers UNAVAILABLE through the registry (retry).
"""

from __future__ import annotations

from actors import BOOK_PATH
from chains import fields
from orbital.v1 import admin_pb2, solver_pb2
from runtime import InvalidArgument, NotFound

from ._messages import SolverRecords
from ._proto import solver_record_pb

__all__ = ["list_solvers", "get_solver_record", "MAX_LIST"]

MAX_LIST = 1000


def list_solvers(node, request: admin_pb2.ListSolversRequest) -> admin_pb2.ListSolversResponse:
    if request.limit > MAX_LIST:
        raise InvalidArgument(f"limit is {request.limit}; at most {MAX_LIST} (0: 100)",
                              field="limit")
    views = node.registry.ask(BOOK_PATH, SolverRecords("", request.suspended_only))
    return admin_pb2.ListSolversResponse(
        solvers=[solver_record_pb(v) for v in views[:request.limit or 100]])


def get_solver_record(node, request: admin_pb2.GetSolverRecordRequest) -> solver_pb2.SolverRecord:
    solver = fields.address(request.solver, "solver")
    views = node.registry.ask(BOOK_PATH, SolverRecords(solver))
    if not views:
        raise NotFound(f"no record of solver {solver}: it never connected to this node's "
                       "book", field="solver")
    return solver_record_pb(views[0])
