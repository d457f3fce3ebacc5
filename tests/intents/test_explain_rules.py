"""The rules of ExplainIntent on their own (actors.book.explanation is pure): why a terminal
intent ended, why a closed round's winner lost its award, the ETA arithmetic, and a failed
admission check read from the history when the book's live state is not at hand. The
end-to-end cases (a real node, both databases) are in tests/solvers, tests/e2e and
tests/admission (test_explain.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from actors.book import (FINDINGS, NO_BIDS, NO_SESSION, ChainDepth, IntentView, LiveBid,
                         LiveState, KeptBid, RouteDurations, Status, StoredRound, TransitionView,
                         expired_note, explanation)
from orbital.v1 import intents_pb2 as P

NOW = 1_800_000_000.0
A, B = "0x" + "aa" * 20, "0x" + "bb" * 20


def view(status: Status, *history: TransitionView, **kw) -> IntentView:
    base = IntentView(id="0x" + "11" * 32, status=status, version=len(history) + 1, user=A,
                      nonce=1, origin_chain="devnet-a", origin_chain_id=31337,
                      destination_chain="devnet-b", destination_chain_id=31338,
                      origin_settler=B, input_token=A, input_amount=100, output_token=A,
                      min_output=90, recipient=A, open_deadline=int(NOW) + 600,
                      fill_deadline=int(NOW) + 3600, source="gasless", created_at=NOW - 10,
                      updated_at=NOW - 1,
                      history=(TransitionView(1, None, Status.PENDING, NOW - 10, "accepted"),
                               *history))
    return replace(base, **kw)


def t(version: int, frm: Status, to: Status, reason: str, solver: str = "",
      finding: str = "") -> TransitionView:
    return TransitionView(version, frm, to, NOW - 5 + version, reason, solver, finding=finding)


WON = t(2, Status.PENDING, Status.ASSIGNED, "won the auction with output 95 (2 bid(s))", B)


@pytest.mark.parametrize("v, ended", [
    (view(Status.EXPIRED, t(2, Status.PENDING, Status.EXPIRED, "openDeadline passed")), "no_bids"),
    (view(Status.EXPIRED, WON, t(3, Status.ASSIGNED, Status.PENDING,
                                 f"exclusivity lapsed: {B} did not open in time", B),
          t(4, Status.PENDING, Status.EXPIRED, "openDeadline passed")), "expired_before_open"),
    (view(Status.EXPIRED, t(2, Status.PENDING, Status.PENDING, "not executable ...; not auctioned",
                            finding="not_executable"),
          t(3, Status.PENDING, Status.EXPIRED, "openDeadline passed")), "not_executable"),
    (view(Status.CANCELLED, t(2, Status.PENDING, Status.CANCELLED, "cancelled by its user")),
     "cancelled"),
    (view(Status.REFUNDED, t(2, Status.OPENED, Status.REFUNDED, "fillDeadline passed")),
     "refunded_after_fill_deadline"),
    (view(Status.SETTLED, t(2, Status.FILLED, Status.SETTLED, "settled")), "settled"),
    (view(Status.FAILED, t(2, Status.FILLED, Status.FAILED, "settlement failed: x")), "failed"),
])
def test_why_a_terminal_intent_ended(v, ended):
    live = LiveState(1, NOW + 1, 1, (), (), 1, 1, ("BALANCE",), NOW)   # ignored once terminal
    x = explanation(v, None, RouteDurations((5, 1.0, 2.0), (5, 1.0, 2.0)), None, NOW)
    assert x.ended == ended and x.ended_reason == v.history[-1].reason
    assert not x.HasField("eta") and not x.admission
    assert x.summary
    assert explanation(v, live, None, None, NOW).ended == ended


@pytest.mark.parametrize("reason, lost", [
    (f"exclusivity lapsed: {B} did not open in time", "late: exclusivity lapsed before it opened"),
    (f"declined by {B}: no inventory", "declined"),
])
def test_a_closed_round_says_why_its_winner_lost_the_award(reason, lost):
    v = view(Status.PENDING, WON, t(3, Status.ASSIGNED, Status.PENDING, reason, B))
    live = LiveState(2, NOW + 0.4, 3, (LiveBid(A, 97, NOW - 0.1, False),
                                       LiveBid(B, 96, NOW - 0.2, True)), (B,), 3, 3, (), NOW)
    x = explanation(v, live, None, None, NOW)
    first, second = x.rounds
    assert (first.round, first.open, first.winner, first.winning_amount) == (1, False, B, "95")
    assert first.bids[0].lost_because == lost
    assert (second.round, second.open, second.offered) == (2, True, 3)
    assert [(b.solver, b.amount, b.lost_because) for b in second.bids] == [
        (A, "97", ""), (B, "96", "suspended")]
    assert x.summary == "waiting for the auction: 2 bid(s) so far, window closes in 0.4 s"


def test_eta_is_what_is_left_of_the_route_durations():
    durations = RouteDurations((3, 30.0, 60.0), (3, 5.0, 8.0))
    x = explanation(view(Status.PENDING), None, durations, None, NOW)   # 10 s old
    assert (x.eta.p50_seconds, x.eta.p90_seconds, x.eta.samples) == (25.0, 58.0, 3)
    late = explanation(replace(view(Status.PENDING), created_at=NOW - 100), None, durations,
                       None, NOW)
    assert (late.eta.p50_seconds, late.eta.p90_seconds) == (5.0, 8.0)   # never negative
    filled = view(Status.FILLED, t(2, Status.OPENED, Status.FILLED, "filled"))   # 3 s ago
    x = explanation(filled, None, durations, ChainDepth("devnet-b", 2, 12), NOW)
    assert (x.eta.p50_seconds, x.eta.p90_seconds) == (2.0, 5.0)
    assert [(w.chain, w.confirmations, w.depth) for w in x.chain_waits] == [("devnet-b", 2, 12)]
    assert x.summary == "filled; waiting for settlement: 2/12 confirmations on devnet-b"
    none = RouteDurations((0, 0.0, 0.0), (0, 0.0, 0.0))
    assert not explanation(view(Status.PENDING), None, none, None, NOW).HasField("eta")
    assert not explanation(filled, None, RouteDurations((3, 1.0, 2.0), (0, 0.0, 0.0)), None,
                           NOW).HasField("eta")


def test_assigned_names_the_holder_and_deadline():
    v = view(Status.ASSIGNED, WON, solver=B, awarded_amount=95, exclusivity_deadline=NOW + 7)
    x = explanation(v, None, None, None, NOW)
    assert x.status == P.INTENT_STATUS_ASSIGNED
    assert (x.exclusivity.holder, x.exclusivity.until.seconds) == (B, int(NOW) + 7)
    assert "(in 7.0 s) to open the order on devnet-a" in x.summary


def test_a_failed_admission_check_is_read_from_the_history_without_the_book():
    entry = t(2, Status.PENDING, Status.PENDING,
              "not executable on devnet-a at block 9: allowance 0 < 100: approve the settler; "
              "not auctioned", finding="not_executable")
    x = explanation(view(Status.PENDING, entry), None, None, None, NOW)
    [check] = x.admission
    assert check.check == "ALLOWANCE: " + entry.reason
    assert check.fix.startswith("approve the origin settler")
    # once a round is held again (a later entry), the old check is not shown
    later = view(Status.PENDING, entry, WON, t(3, Status.ASSIGNED, Status.PENDING,
                                               f"declined by {B}", B))
    assert not explanation(later, None, None, None, NOW).admission


ROUTE = "devnet-a -> devnet-b"


@pytest.mark.parametrize("offered, covered, whole_life, note, finding", [
    # the book led for the intent's whole life: counts claimed
    (2, 2, True, "; offered to 2 session(s), no bids", NO_BIDS),
    (1, 3, True, "; offered to 1 session(s), no bids", NO_BIDS),
    (0, 0, True, f"; no connected solver session covered {ROUTE}", NO_SESSION),
    # covered, never offered (admission refused every round, or every covering solver was
    # barred): the history says why, nothing added
    (0, 1, True, "", ""),
    # the book restarted during the intent's life: no count, no "no session" claim
    (3, 3, False, "; offered to solver sessions, no bids", NO_BIDS),
    (0, 0, False, "", ""),
    (0, 2, False, "", ""),
])
def test_why_an_intent_nobody_won_expired(offered, covered, whole_life, note, finding):
    assert expired_note(ROUTE, offered, covered, whole_life) == (note, finding)
    assert not finding or finding in FINDINGS


@pytest.mark.parametrize("reason, finding, ended, summary", [
    (f"openDeadline passed before it was opened; no connected solver session covered {ROUTE}",
     NO_SESSION, "no_session",
     "expired: no connected solver session covered its route before openDeadline"),
    ("openDeadline passed before it was opened; offered to 2 session(s), no bids", NO_BIDS,
     "no_bids", "expired: no solver bid on it before openDeadline"),
    ("openDeadline passed before it was opened", "", "no_bids",
     "expired: no solver bid on it (or none covered its route) before openDeadline"),
])
def test_an_expired_intent_says_no_session_or_no_bids(reason, finding, ended, summary):
    v = view(Status.EXPIRED, t(2, Status.PENDING, Status.EXPIRED, reason, finding=finding))
    x = explanation(v, None, None, None, NOW)
    assert (x.ended, x.ended_reason) == (ended, reason)
    assert x.summary == f"{summary} ({reason})"


def test_a_closed_round_shows_its_stored_bids():
    C = "0x" + "cc" * 20
    lapsed = t(3, Status.ASSIGNED, Status.PENDING, f"exclusivity lapsed: {B} did not open in time", B)
    v = view(Status.PENDING, WON, lapsed)
    stored = {2: StoredRound(1, 14, (KeptBid(C, 99, NOW - 3, "lower bid once weighed by reliability"),
                                     KeptBid(B, 95, NOW - 4, ""),
                                     KeptBid(A, 2**255, NOW - 4.5, "suspended")))}
    [r] = explanation(v, None, None, None, NOW, stored).rounds
    assert (r.round, r.open, r.winner, r.winning_amount, r.bids_received) == (1, False, B, "95", 14)
    assert [(b.solver, b.amount, b.lost_because) for b in r.bids] == [
        (C, "99", "lower bid once weighed by reliability"),
        (B, "95", "late: exclusivity lapsed before it opened"),
        (A, str(2**255), "suspended")]
    # a round closed before rounds were stored: the winner, and the count its award names
    [r] = explanation(v, None, None, None, NOW).rounds
    assert [(b.solver, b.amount) for b in r.bids] == [(B, "95")] and r.bids_received == 2
