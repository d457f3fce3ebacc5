"""``IntentService/ExplainIntent``: why an intent has not filled yet, or why it ended.

Pure: the intent as stored (with its history), what the book knows live (its open round,
the sessions covering the route, a failing admission check: :class:`LiveState`), the
route's observed durations and the destination chain's depth in, one
``IntentExplanation`` out. The reads happen in the service (store, book ask, analytics
query), so the rules here are tested without a node.

Closed rounds come from the history (each award is an ASSIGNED entry naming the winner
and its bid; a lapse or decline names the winner again) and from ``auction_round`` (the
bids each award's round kept, with why each lost, and how many it took; written with the
award, so they survive restarts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, UTC

from orbital.v1 import intents_pb2 as P
from runtime.grpc import timestamp

from ._chain import NO_BIDS, NO_SESSION, NOT_EXECUTABLE
from ._messages import LiveState
from ._proto import status_pb
from ._rounds import StoredRound
from ._views import TERMINAL, IntentView, Status, TransitionView

__all__ = ["RouteDurations", "ChainDepth", "explanation", "FIXES", "ENDED", "EXPIRED_REASON",
           "expired_note"]

# What a user does about each admission check the origin chain failed (actors.admission).
FIXES = {
    "BALANCE": "fund the user's address with at least input_amount of the input token on "
               "the origin chain; the order is checked again before each round",
    "ALLOWANCE": "approve the origin settler for at least input_amount of the input token; "
                 "the order is checked again before each round",
    "NONCE": "the nonce is used: sign a new order with a fresh nonce",
    "SIGNATURE": "the user's contract wallet no longer accepts the order's signature "
                 "(isValidSignature): restore the signer the wallet had when the order was "
                 "submitted (its owner or module), or cancel and sign a new order with a key "
                 "the wallet accepts now; the order is checked again before each round",
}

# Why a terminal intent ended (IntentExplanation.ended).
ENDED = {Status.SETTLED: "settled", Status.CANCELLED: "cancelled",
         Status.REFUNDED: "refunded_after_fill_deadline", Status.FAILED: "failed"}

# The EXPIRED entry's reason (Book._expire_due); an intent nobody won gets expired_note's
# words after it.
EXPIRED_REASON = "openDeadline passed before it was opened"


def expired_note(route: str, offered: int, covered: int, whole_life: bool) -> tuple[str, str]:
    """What the book appends to :data:`EXPIRED_REASON` for an intent no solver was ever
    awarded, and the entry's finding: ``(suffix, finding)``.

    ``offered``: sessions it was offered to; ``covered``: the most connected sessions that
    covered ``route`` at one auction attempt; ``whole_life``: the book led for the
    intent's whole life (it counts in memory, so after a restart it knows only the part
    since; then no count is claimed, and "no session covered" is not said at all, since a
    session before the restart may have been offered it). Covered but never offered (the
    admission check refused every round, or every covering solver was barred): nothing
    added, the history has the checks."""
    if offered:
        if whole_life:
            return f"; offered to {offered} session(s), no bids", NO_BIDS
        return "; offered to solver sessions, no bids", NO_BIDS
    if not covered and whole_life:
        return f"; no connected solver session covered {route}", NO_SESSION
    return "", ""


_WON = re.compile(r"won the auction with output (\d+)")
_RECEIVED = re.compile(r"\((\d+) bid\(s\)\)")


@dataclass(frozen=True)
class RouteDurations:
    """p50/p90 seconds observed on the intent's route (actors.analytics.summary)."""

    to_fill: tuple[int, float, float]     # (samples, p50, p90): submit -> fill
    to_settle: tuple[int, float, float]   # fill -> settle


@dataclass(frozen=True)
class ChainDepth:
    """The fill's depth on the destination chain as the attester counts it."""

    chain: str
    confirmations: int
    depth: int


def _in(seconds: float) -> str:
    return f"{max(0.0, seconds):.1f} s"


def _utc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _rounds(history: tuple[TransitionView, ...],
            closed: Mapping[int, StoredRound]) -> list[P.AuctionRound]:
    out: list[P.AuctionRound] = []
    for t in history:
        if t.status is Status.ASSIGNED and t.from_status is Status.PENDING:
            m = _WON.search(t.reason)
            amount = m.group(1) if m else ""
            stored = closed.get(t.version)
            if stored is not None:
                bids = [P.ExplainedBid(solver=b.solver, amount=str(b.amount), at=timestamp(b.at),
                                       lost_because=b.lost_because) for b in stored.bids]
                received = stored.bids_received
            else:   # closed before rounds were stored: the award names the winner and count
                bids = [P.ExplainedBid(solver=t.solver, amount=amount, at=timestamp(t.at))]
                n = _RECEIVED.search(t.reason)
                received = int(n.group(1)) if n else 1
            out.append(P.AuctionRound(round=stored.round if stored else len(out) + 1,
                                      winner=t.solver, winning_amount=amount, bids=bids,
                                      bids_received=received))
        elif (t.status is Status.PENDING and t.from_status is Status.ASSIGNED and out
              and t.solver and out[-1].winner == t.solver):
            for b in out[-1].bids:
                if b.solver == t.solver:
                    b.lost_because = ("declined" if t.reason.startswith("declined")
                                      else "late: exclusivity lapsed before it opened")
    return out


def _open_round(live: LiveState) -> P.AuctionRound:
    bids = []
    for i, b in enumerate(live.bids):
        why = "suspended" if b.suspended else ("lower bid" if i else "")
        bids.append(P.ExplainedBid(solver=b.solver, amount=str(b.amount), at=timestamp(b.at),
                                   lost_because=why))
    return P.AuctionRound(round=live.round, open=True, closes_at=timestamp(live.closes_at),
                          bids=bids, offered=live.offered, bids_received=len(bids))


def _admission(view: IntentView, live: LiveState | None) -> list[P.AdmissionCheck]:
    if view.status is not Status.PENDING:
        return []
    last = next((t for t in reversed(view.history) if t.finding == NOT_EXECUTABLE), None)
    if live is not None:
        failed = live.not_executable
    elif last is not None and view.history and view.history[-1] is last:
        failed = tuple(k for k in FIXES if k.lower() in last.reason.lower()) or ("",)
    else:
        failed = ()
    detail = last.reason if last is not None else ""
    return [P.AdmissionCheck(check=f"{k}: {detail}" if k and detail else k or detail,
                             fix=FIXES.get(k, "make the order executable on the origin chain"))
            for k in failed]


def _eta(view: IntentView, durations: RouteDurations | None, now: float) -> P.Eta | None:
    if durations is None or view.status in TERMINAL:
        return None
    (nf, f50, f90), (ns, s50, s90) = durations.to_fill, durations.to_settle
    if view.status is Status.FILLED:
        if not ns:
            return None
        filled_at = next((t.at for t in reversed(view.history) if t.status is Status.FILLED),
                         view.updated_at)
        since = now - filled_at
        return P.Eta(p50_seconds=max(0.0, s50 - since), p90_seconds=max(0.0, s90 - since),
                     samples=ns)
    if not nf:
        return None
    age = now - view.created_at
    return P.Eta(p50_seconds=max(0.0, f50 - age) + (s50 if ns else 0.0),
                 p90_seconds=max(0.0, f90 - age) + (s90 if ns else 0.0), samples=nf)


def _ended(view: IntentView) -> str:
    if view.status is Status.EXPIRED:
        last = view.history[-1].finding if view.history else ""
        if last == NO_SESSION:
            return "no_session"
        if last == NO_BIDS:
            return "no_bids"
        if any(t.status is Status.ASSIGNED for t in view.history):
            return "expired_before_open"
        if any(t.finding == NOT_EXECUTABLE for t in view.history):
            return "not_executable"
        return "no_bids"
    return ENDED.get(view.status, "")


_ENDED_TEXT = {
    "settled": "settled: the filler was repaid on the origin chain",
    "cancelled": "cancelled by its user before it was opened",
    "refunded_after_fill_deadline": "refunded: opened but not filled by fillDeadline; the "
                                    "escrow went back to the user",
    "failed": "failed",
    "expired_before_open": "expired: a solver won it but did not open it before openDeadline",
    "not_executable": "expired: the origin chain would not let it be opened (admission) "
                      "before openDeadline",
    "no_bids": "expired: no solver bid on it (or none covered its route) before openDeadline",
    "no_session": "expired: no connected solver session covered its route before openDeadline",
}
# no_bids when the book saw the offers (the EXPIRED entry's finding is no_bids)
_OFFERED_NO_BIDS = "expired: no solver bid on it before openDeadline"


def _summary(view: IntentView, live: LiveState | None, x: P.IntentExplanation,
             now: float) -> str:
    route = f"{view.origin_chain} -> {view.destination_chain}"
    if x.ended:
        text = _ENDED_TEXT[x.ended]
        if x.ended == "no_bids" and view.history and view.history[-1].finding == NO_BIDS:
            text = _OFFERED_NO_BIDS
        return f"{text} ({x.ended_reason})" if x.ended_reason and x.ended != "settled" else text
    if view.status is Status.PENDING:
        if x.admission:
            return (f"not auctioned: the origin chain would not let it be opened "
                    f"({', '.join(a.check.split(':')[0] for a in x.admission)}); "
                    f"{x.admission[0].fix}")
        if live is None:
            return "waiting for an auction round (the book's live state is not on this node)"
        if live.round:
            return (f"waiting for the auction: {len(live.bids)} bid(s) so far, window closes "
                    f"in {_in(live.closes_at - now)}")
        if not live.covering:
            return (f"waiting for a solver: none of the {live.sessions} connected solver "
                    f"session(s) covers {route}")
        return "waiting for the next auction round"
    if view.status is Status.ASSIGNED:
        return (f"assigned to {view.solver}: it has until {_utc(view.exclusivity_deadline)} "
                f"(in {_in(view.exclusivity_deadline - now)}) to open the order on "
                f"{view.origin_chain}; then it is auctioned again")
    if view.status is Status.OPENED:
        return (f"opened on {view.origin_chain}; waiting for the fill on "
                f"{view.destination_chain} (fillDeadline in {_in(view.fill_deadline - now)})")
    if x.chain_waits:
        w = x.chain_waits[0]
        return (f"filled; waiting for settlement: {w.confirmations}/{w.depth} confirmations "
                f"on {w.chain}")
    return f"filled; waiting for the attester to settle it on {view.origin_chain}"


def explanation(view: IntentView, live: LiveState | None, durations: RouteDurations | None,
                depth: ChainDepth | None, now: float,
                closed: Mapping[int, StoredRound] | None = None) -> P.IntentExplanation:
    """``closed``: the stored rounds of the intent (``auction_round``), by the version of
    their award's history entry."""
    x = P.IntentExplanation(id=view.id, status=status_pb(view.status))
    x.rounds.extend(_rounds(view.history, closed or {}))
    if live is not None and live.round and view.status is Status.PENDING:
        x.rounds.append(_open_round(live))
    if view.status is Status.ASSIGNED and view.solver:
        x.exclusivity.CopyFrom(P.Exclusivity(holder=view.solver,
                                             until=timestamp(view.exclusivity_deadline)))
    x.admission.extend(_admission(view, live))
    if depth is not None and view.status is Status.FILLED:
        x.chain_waits.append(P.ChainWait(chain=depth.chain, waits_for="fill settlement depth",
                                         confirmations=max(0, depth.confirmations),
                                         depth=depth.depth))
    eta = _eta(view, durations, now)
    if eta is not None:
        x.eta.CopyFrom(eta)
    x.ended = _ended(view)
    if x.ended and view.history:
        x.ended_reason = view.history[-1].reason
    x.summary = _summary(view, live, x, now)
    return x
