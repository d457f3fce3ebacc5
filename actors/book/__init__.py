"""``intents/book``: the intent book (validation, auction, lifecycle) and IntentService.

Private modules: :mod:`._config` (the ``intents:`` section), :mod:`._models` (tables),
:mod:`._views` (immutable snapshots handed to other threads), :mod:`._messages` (the
contract with sessions, services, watchers and the keeper), :mod:`._auction`,
:mod:`._chain` (what a chain event does), :mod:`._events` (catch-up and reorgs),
:mod:`._validate`, :mod:`._proto` (views -> protobuf), :mod:`._score` (reliability and
the ranking rule, pure), :mod:`._reliability` (windows, suspensions, exclusions),
:mod:`._admin` (ListSolvers, GetSolverRecord), :mod:`._tally` (submissions by code, for
the analytics), :mod:`._actor` (the Book).
"""

from __future__ import annotations

from chains.directory import intent_chains_of
from chains.solana import MIGRATIONS as SOLANA_MIGRATIONS

from actors import BOOK_PATH
from actors.admission import admission_config
from runtime import ChildSpec
from runtime.config import App

from ._actor import Book, BookSpec, CloseAuction, ExclusivityLapsed, FollowTick, SettlementFailed
from ._auction import Auction, AuctionBid
from ._config import IntentsConfig, RateLimit
from ._admin import get_solver_record, list_solvers
from ._messages import (AwardWork, BookMoved, BookStarted, BidRefused, Cancel, Capabilities, Decline,
                        DeclineRefused, EscrowMismatch, ExpireDue, ExplainLive, FillReported,
                        IntentChanged, LostWork, OfferWork, PlaceBid, ReadRecord, ReauctionLapsed,
                        RecordOf, SessionJoined, SessionLeft, SolverRecords, SolverRecordView, LiveBid, LiveState,
                        Submit, SubmitBatch, Subscribe, Suspended, Unsubscribe)
from ._chain import (CONFLICTING_OPEN, ESCROW_MISMATCH, FINDINGS, FOREIGN_FILL, NO_BIDS,
                     NO_SESSION, NOT_EXECUTABLE, SHORTFALL, Decision, decide, intent_terms)
from ._explain import ChainDepth, RouteDurations, expired_note, explanation
from ._rounds import KEPT_BIDS, KeptBid, StoredRound, kept_bids, lost_because
from ._forward import book_forwarder
from ._models import (FILL_ENTRY, MIGRATION, MIGRATIONS, SETTLE_ENTRY, AuctionRoundRow,
                      BookCursor, BookRequest, IntentRow, IntentTransition, SolverMark,
                      SolverRecord, SubmissionCount)
from ._tally import SubmissionTally
from ._metrics import BookMetrics, register_counts
from ._service import IntentServicer, intent_service
from ._store import fill_times, insert_intents, transitions_after, write_transition
from ._proto import (intent_pb, solver_record_pb, status_from_pb, status_pb, transition_pb,
                     update_pb)
from ._score import Ranked, Window, rank, reliability, suspension
from ._validate import check_order
from ._views import TERMINAL, IntentUpdateView, IntentView, Status, TransitionView

__all__ = [
    "install", "BOOK_PATH", "Book", "BookSpec", "CloseAuction", "ExclusivityLapsed",
    "SettlementFailed", "Auction", "AuctionBid", "IntentsConfig", "RateLimit", "AwardWork",
    "BidRefused", "BookMoved", "BookStarted", "Cancel", "SubmitBatch",
    "Capabilities", "EscrowMismatch", "ExpireDue", "FillReported", "IntentChanged",
    "LostWork", "OfferWork", "PlaceBid", "ReauctionLapsed", "SessionJoined", "SessionLeft",
    "Submit", "Subscribe", "Unsubscribe", "book_forwarder", "MIGRATION", "BookCursor", "BookRequest", "IntentRow",
    "IntentTransition", "SolverRecord", "intent_pb", "status_from_pb", "status_pb",
    "transition_pb", "update_pb", "check_order", "TERMINAL", "IntentUpdateView", "IntentView",
    "Status", "TransitionView", "MIGRATIONS", "intent_terms", "decide", "Decision", "FINDINGS", "CONFLICTING_OPEN",
    "FOREIGN_FILL", "SHORTFALL", "ESCROW_MISMATCH", "NOT_EXECUTABLE", "NO_SESSION", "NO_BIDS",
    "expired_note", "IntentServicer", "intent_service", "AuctionRoundRow", "KEPT_BIDS",
    "KeptBid", "StoredRound", "kept_bids", "lost_because", "FILL_ENTRY", "SETTLE_ENTRY",
    "fill_times",
    "Decline", "DeclineRefused", "ReadRecord", "RecordOf", "SolverRecords", "SolverRecordView",
    "Suspended", "SolverMark", "solver_record_pb", "list_solvers", "get_solver_record",
    "Ranked", "Window", "rank", "reliability", "suspension", "FollowTick", "transitions_after",
    "SubmissionCount", "SubmissionTally", "BookMetrics", "ExplainLive", "LiveBid", "LiveState",
    "explanation", "RouteDurations", "ChainDepth",
    "intents_config", "insert_intents", "write_transition", "register_counts",
]



def intents_config(config) -> IntentsConfig:
    return config.section("intents", IntentsConfig)


def install(app: App) -> None:
    app.section("intents", IntentsConfig)
    # the memo-tagged SPL transfers the book reads (Solana destinations): the table is the
    # Solana watchers', registered here too so a book runs on a store that has it
    for migration in [*MIGRATIONS, *SOLANA_MIGRATIONS]:
        app.migration(migration)

    @app.provide("intents")
    def book(config) -> list[ChildSpec]:
        chains = tuple(sorted(intent_chains_of(config).items()))
        admission = admission_config(config)   # off where the kind is not installed
        return [ChildSpec("book", Book, BookSpec(intents_config(config), chains,
                                                 admission.enabled, admission.head_ttl))]

    app.service(intent_service)
    app.admin("ListSolvers", list_solvers)
    app.admin("GetSolverRecord", get_solver_record)

    from actors.keeper import ask_actor, no_args, register_action
    # The book's sweeps run where the book leads (lease "book"; docs/intents.md).
    register_action("expire_intents", ask_actor(BOOK_PATH, ExpireDue(), "expired"), no_args,
                    lease="book")
    register_action("reauction_lapsed", ask_actor(BOOK_PATH, ReauctionLapsed(), "re-auctioned"),
                    no_args, lease="book")
