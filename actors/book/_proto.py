"""IntentView / IntentUpdateView -> orbital.v1 messages (one conversion for every service)."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from orbital.v1 import intents_pb2, solver_pb2

from ._messages import SolverRecordView
from ._views import IntentUpdateView, IntentView, Status, TransitionView
from runtime.grpc import timestamp

__all__ = ["intent_pb", "transition_pb", "update_pb", "status_pb", "status_from_pb",
           "solver_record_pb"]

_STATUS: dict[Status, intents_pb2.IntentStatus] = {
    s: getattr(intents_pb2, f"INTENT_STATUS_{s.value}") for s in Status}
_FROM_PB: dict[int, Status] = {v: k for k, v in _STATUS.items()}


def status_pb(status: Status | None) -> intents_pb2.IntentStatus:
    return intents_pb2.INTENT_STATUS_UNSPECIFIED if status is None else _STATUS[status]


def status_from_pb(value: int) -> Status | None:
    return _FROM_PB.get(value)


def _ts(seconds: float) -> Timestamp | None:
    """0 means unset (no deadline, not yet)."""
    return timestamp(seconds or None)


def transition_pb(t: TransitionView) -> intents_pb2.Transition:
    msg = intents_pb2.Transition(version=t.version, from_status=status_pb(t.from_status),
                                 status=status_pb(t.status), at=_ts(t.at), reason=t.reason,
                                 solver=t.solver, finding=t.finding)
    if t.tx_hash:
        msg.evidence.CopyFrom(intents_pb2.Evidence(
            chain=t.chain, block_number=t.block_number, block_hash=t.block_hash,
            tx_hash=t.tx_hash, log_index=t.log_index))
    return msg


def intent_pb(v: IntentView) -> intents_pb2.Intent:
    return intents_pb2.Intent(
        id=v.id, status=status_pb(v.status), user=v.user,
        nonce="" if v.nonce is None else str(v.nonce),
        origin_chain=v.origin_chain, origin_chain_id=v.origin_chain_id,
        destination_chain=v.destination_chain, destination_chain_id=v.destination_chain_id,
        origin_settler=v.origin_settler, input_token=v.input_token,
        input_amount=str(v.input_amount), output_token=v.output_token,
        min_output_amount=str(v.min_output), recipient=v.recipient,
        open_deadline=_ts(v.open_deadline), fill_deadline=_ts(v.fill_deadline),
        solver=v.solver, awarded_output_amount=str(v.awarded_amount) if v.awarded_amount else "",
        exclusivity_deadline=_ts(v.exclusivity_deadline),
        history=[transition_pb(t) for t in v.history],
        created_at=_ts(v.created_at), updated_at=_ts(v.updated_at), version=v.version,
        source=v.source, filled_output_amount=str(v.fill_amount) if v.fill_amount else "",
        shortfall_amount=str(v.shortfall) if v.shortfall else "")


def update_pb(u: IntentUpdateView) -> intents_pb2.IntentUpdate:
    msg = intents_pb2.IntentUpdate(intent=intent_pb(u.intent), snapshot=u.snapshot)
    if u.transition is not None:
        msg.transition.CopyFrom(transition_pb(u.transition))
    return msg


def solver_record_pb(v: SolverRecordView) -> solver_pb2.SolverRecord:
    """The one conversion of a solver's record (AdminService and the solver's session)."""
    w = v.window
    return solver_pb2.SolverRecord(
        solver=v.solver, reliability=v.reliability, suspended=v.suspended,
        suspended_until=_ts(v.suspended_until if v.suspended else 0.0),
        suspension_reason=v.suspension_reason if v.suspended else "",
        window_seconds=v.window_seconds, wins=w.get("win", 0), opens=w.get("open", 0),
        fades=w.get("fade", 0), declines=w.get("decline", 0), shortfalls=w.get("shortfall", 0),
        foreign_fills=w.get("foreign_fill", 0), voided=w.get("voided", 0),
        offers_total=v.offers, bids_total=v.bids, wins_total=v.wins, fills_total=v.fills,
        fades_total=v.fades, median_bid_ms=v.median_bid_ms or 0.0, last_seen=_ts(v.last_seen))
