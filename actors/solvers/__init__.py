"""``intents/solvers``: one session actor per connected solver (started on demand by
``orbital.v1.SolverService``, no provider), and the service itself.

Modules: :mod:`._session` the session actor and the messages its stream reader tells it,
:mod:`._service` the servicer (challenge login, the bidirectional stream). The messages
exchanged with the book are the book's (:mod:`actors.book`). docs/solvers.md.
"""

from __future__ import annotations

from runtime.config import App

from ._service import Challenges, SolverServicer, capabilities, solver_service
from ._session import (SessionSpec, SolverBid, SolverDecline, SolverFill, SolverGetRecord,
                       SolverHeartbeat, SolverMismatch, SolverSession, StreamEnded, session_id_of,
                       session_spec)

__all__ = ["install", "SolverSession", "SessionSpec", "SolverBid", "SolverFill",
           "SolverHeartbeat", "SolverMismatch", "SolverDecline", "SolverGetRecord", "StreamEnded",
           "session_id_of", "session_spec",
           "Challenges", "SolverServicer", "capabilities", "solver_service"]


def install(app: App) -> None:
    """The kind's entry point: the SolverService (sessions start on demand, no provider)."""
    app.service(solver_service)
