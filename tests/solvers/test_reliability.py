"""Solver reliability ranks the auction (issue 12): a real book, quoter and solver sessions
over gRPC on loopback, the node on a FakeClock (exclusivity lapses when the test says).

- Hostage: two Sybil keys bid the maximum admitted and never open; a proven solver wins the
  intent within one exclusivity window plus one round.
- Decline: the intent is re-auctioned at once, the decliner is offered it in no later round.
- Suspension: a solver that lets awards lapse is suspended, told why, gets no offers.
- Records: AdminService ListSolvers / GetSolverRecord and the session's get_record.
"""

from __future__ import annotations

import grpc
import pytest

from actors.book import IntentRow, SolverMark
from actors.quoter import GetQuote, ReferenceOutput
from orbital.v1 import admin_pb2, admin_pb2_grpc, intents_pb2, solver_pb2

from .conftest import ADMIN, SolverClient, fake_clock
from .test_auction import ONE_USDC, bid_in_order, submit
from .test_bid_bound import QUOTER, _app

EXCLUSIVITY = 5.0
# The clock jumps over exclusivity windows and cooldowns: no session may time out meanwhile.
QUIET = {"heartbeat_interval": 600, "heartbeat_timeout": 3600}


def offers_of(client: SolverClient, intent_id: str, seq: int) -> int:
    """Offers of ``intent_id`` this session got, once everything pushed before now arrived
    (a heartbeat's ack comes after whatever was queued before it)."""
    client.heartbeat(seq)
    client.wait_for("heartbeat_ack", lambda m: m.seq == seq)
    return len([o for o in client.of("offer") if o.intent.id == intent_id])


def prove(node, solver: str, clock, opens: int = 10) -> None:
    """A solver with ``opens`` awards opened on time in the window (its history in the
    store), read back by the book when it starts: restart it."""
    with node.store.connection():
        SolverMark.insert_many([{"solver": solver, "kind": "open", "intent": f"0x{i:064x}",
                                 "at": clock.wall() - 60} for i in range(opens)]).execute()
    node.restart_actor("intents/book")


def test_two_sybils_cannot_hold_an_intent_hostage(solver_node, channel_to, database_url,
                                                  devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, app=_app(), extra=QUOTER,
                       auction_window=0.25, exclusivity=EXCLUSIVITY, **QUIET)
    ch = channel_to(node)
    honest = SolverClient(ch)
    prove(node, honest.address, clock)
    sybil_a, sybil_b = SolverClient(ch).connect(), SolverClient(ch).connect()
    intent = submit(ch, devnet_info)
    for c in (sybil_a, sybil_b):
        c.wait_for("offer", lambda m: m.intent.id == intent.id)
    expected = max(node.registry.ask("quoter", ReferenceOutput(GetQuote(
        intent.origin_chain, intent.destination_chain, intent.input_token, intent.output_token,
        intent.input_amount, intent.user, intent.recipient))), 9 * ONE_USDC)
    most = expected * 12_000 // 10_000                # the most admitted (20 % over)

    # Round 1, before the honest solver is there: a Sybil wins with the most admitted.
    bid_in_order(sybil_a, intent.id, most, 1)
    bid_in_order(sybil_b, intent.id, most, 2)
    clock.advance(0.3)
    assert sybil_a.wait_for("award", lambda m: m.intent_id == intent.id).output_amount == str(most)
    honest.connect()

    # It never opens: one exclusivity window later the intent is auctioned again, at once,
    # without it; the other Sybil bids the most again, the proven solver bids the quote.
    clock.advance(EXCLUSIVITY + 0.1)
    assert "exclusivity lapsed" in sybil_a.wait_for("loss", lambda m: m.intent_id == intent.id).reason
    for c in (sybil_b, honest):
        c.wait_for("offer", lambda m: m.intent.id == intent.id, count=2 if c is sybil_b else 1)
    bid_in_order(sybil_b, intent.id, most, 3)
    bid_in_order(honest, intent.id, expected, 4)
    clock.advance(0.3)
    award = honest.wait_for("award", lambda m: m.intent_id == intent.id)
    assert award.output_amount == str(expected)
    assert sybil_b.wait_for("loss", lambda m: m.intent_id == intent.id).reason == "outbid"
    assert offers_of(sybil_a, intent.id, 5) == 1      # not offered the second round
    with node.store.connection():
        row = IntentRow.get_by_id(intent.id)
    assert (row.status, row.solver, row.auctions) == ("ASSIGNED", honest.address, 2)


def test_fresh_sybils_lose_a_fresh_honest_solver_little_time(solver_node, channel_to,
                                                            database_url, devnet_info):
    """Nobody has a record: ranking cannot tell the honest key from the Sybils, and both
    Sybils win before it (they bid the most admitted). Each holds the intent only for the
    probation window, so the honest solver wins within one exclusivity window plus one round;
    once it has opened on time enough, it gets the full window."""
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, app=_app(), extra=QUOTER, auction_window=0.25,
                       exclusivity=30, probation_exclusivity=5, probation_opens=3, **QUIET)
    ch = channel_to(node)
    sybil_a, sybil_b, honest = (SolverClient(ch).connect() for _ in range(3))
    intent = submit(ch, devnet_info)
    for c in (sybil_a, sybil_b, honest):
        c.wait_for("offer", lambda m: m.intent.id == intent.id)
    started = clock.wall()
    expected = max(node.registry.ask("quoter", ReferenceOutput(GetQuote(
        intent.origin_chain, intent.destination_chain, intent.input_token, intent.output_token,
        intent.input_amount, intent.user, intent.recipient))), 9 * ONE_USDC)
    most = expected * 12_000 // 10_000

    seq = 0
    for rnd, (sybil, others) in enumerate([(sybil_a, (sybil_b,)), (sybil_b, ())], start=1):
        if rnd > 1:
            for c in (sybil_b, honest):
                c.wait_for("offer", lambda m: m.intent.id == intent.id, count=rnd)
        for c in (sybil, *others):
            seq += 1
            bid_in_order(c, intent.id, most, seq)
        seq += 1
        bid_in_order(honest, intent.id, expected, seq)
        clock.advance(0.3)
        award = sybil.wait_for("award", lambda m: m.intent_id == intent.id)
        assert award.exclusivity_deadline.seconds == pytest.approx(clock.wall() + 5, abs=1)
        clock.advance(5.1)                           # it never opens: the probation lapses
        assert "exclusivity lapsed" in sybil.wait_for(
            "loss", lambda m: m.intent_id == intent.id, count=rnd).reason

    honest.wait_for("offer", lambda m: m.intent.id == intent.id, count=3)
    bid_in_order(honest, intent.id, expected, seq + 1)
    clock.advance(0.3)
    assert honest.wait_for("award", lambda m: m.intent_id == intent.id).output_amount \
        == str(expected)
    assert clock.wall() - started < 30 + 0.3         # within one window plus one round

    # A solver out of probation (three on-time opens) gets the full exclusivity window.
    prove(node, honest.address, clock, opens=3)
    honest.heartbeat(99)
    honest.wait_for("heartbeat_ack", lambda m: m.seq == 99)
    second = submit(ch, devnet_info)
    honest.wait_for("offer", lambda m: m.intent.id == second.id)
    bid_in_order(honest, second.id, expected, seq + 2)
    clock.advance(0.3)
    award = honest.wait_for("award", lambda m: m.intent_id == second.id)
    assert award.exclusivity_deadline.seconds == pytest.approx(clock.wall() + 30, abs=1)


def test_declines_do_not_use_up_the_auctions(solver_node, channel_to, database_url, devnet_info):
    """max_auctions 2: two winners decline in turn, and the third solver is still awarded
    (counted, the two declines would leave the intent unauctioned until it expires)."""
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25, max_auctions=2, **QUIET)
    ch = channel_to(node)
    solvers = [SolverClient(ch).connect() for _ in range(3)]
    intent = submit(ch, devnet_info)
    for rnd, winner in enumerate(solvers, start=1):
        winner.wait_for("offer", lambda m: m.intent.id == intent.id, count=rnd)
        bid_in_order(winner, intent.id, 9_500_000, rnd)
        clock.advance(0.3)
        winner.wait_for("award", lambda m: m.intent_id == intent.id)
        if rnd < 3:
            winner.send(decline=solver_pb2.Decline(intent_id=intent.id, reason="no inventory"))
            winner.wait_for("loss", lambda m: m.intent_id == intent.id)
    with node.store.connection():
        row = IntentRow.get_by_id(intent.id)
    assert (row.status, row.solver, row.auctions) == ("ASSIGNED", solvers[2].address, 1)


def test_decline_reauctions_at_once_and_bars_the_decliner(solver_node, channel_to, database_url,
                                                         devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25, exclusivity=30)
    ch = channel_to(node)
    first, second, third = (SolverClient(ch).connect() for _ in range(3))
    intent = submit(ch, devnet_info)
    for c in (first, second, third):
        c.wait_for("offer", lambda m: m.intent.id == intent.id)
    bid_in_order(first, intent.id, 9_900_000, 1)
    bid_in_order(second, intent.id, 9_500_000, 2)
    clock.advance(0.3)
    first.wait_for("award", lambda m: m.intent_id == intent.id)

    # Someone else's award cannot be declined; nothing changes.
    second.send(decline=solver_pb2.Decline(intent_id=intent.id, reason="not mine"))
    refused = second.wait_for("decline_rejected", lambda m: m.intent_id == intent.id)
    assert refused.reason == "the intent is not awarded to this solver"

    # The winner releases it: re-auctioned at once (the clock does not move), without it.
    first.send(decline=solver_pb2.Decline(intent_id=intent.id, reason="no inventory on devnet-b"))
    assert first.wait_for("loss", lambda m: m.intent_id == intent.id).reason.startswith("declined")
    for c in (second, third):
        c.wait_for("offer", lambda m: m.intent.id == intent.id, count=2)
    assert offers_of(first, intent.id, 3) == 1
    bid_in_order(first, intent.id, 9_900_000, 4)      # barred: its bid is refused
    assert "excluded from this intent's auctions" in first.wait_for(
        "bid_rejected", lambda m: m.intent_id == intent.id).reason
    bid_in_order(second, intent.id, 9_500_000, 5)
    clock.advance(0.3)
    second.wait_for("award", lambda m: m.intent_id == intent.id)

    # Declined again: the third round goes to the third solver only (every later round).
    second.send(decline=solver_pb2.Decline(intent_id=intent.id))
    third.wait_for("offer", lambda m: m.intent.id == intent.id, count=3)
    assert offers_of(first, intent.id, 6) == 1 and offers_of(second, intent.id, 7) == 2
    first.send(decline=solver_pb2.Decline(intent_id=intent.id))   # no longer its award
    assert first.wait_for("decline_rejected", lambda m: m.intent_id == intent.id).reason \
        == "the intent is PENDING; only an ASSIGNED intent can be declined"
    history = intents_pb2_grpc_stub(ch).GetIntent(intents_pb2.GetIntentRequest(id=intent.id)).history
    reasons = [t.reason for t in history if t.status == intents_pb2.INTENT_STATUS_PENDING]
    assert f"declined by {first.address}: no inventory on devnet-b" in reasons
    assert f"declined by {second.address}" in reasons

    # The decline is on each record, lighter than a fade.
    first.send(get_record=solver_pb2.GetRecord())
    rec = first.wait_for("record")
    assert (rec.solver, rec.wins, rec.declines, rec.fades) == (first.address, 1, 1, 0)
    assert rec.reliability == pytest.approx(3 / 4.5) and not rec.suspended

    # A malformed decline is a protocol error: the stream ends with the field.
    third.send(decline=solver_pb2.Decline(intent_id="0x12"))
    code, _ = third.wait_closed()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "decline.intent_id" in third.details


def test_a_bar_outlives_a_book_restart(solver_node, channel_to, database_url, devnet_info):
    """The solvers barred from an intent are read back from its history by a new book."""
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25, **QUIET)
    ch = channel_to(node)
    decliner = SolverClient(ch).connect()
    intent = submit(ch, devnet_info)
    decliner.wait_for("offer", lambda m: m.intent.id == intent.id)
    bid_in_order(decliner, intent.id, 9_500_000, 1)
    clock.advance(0.3)
    decliner.wait_for("award", lambda m: m.intent_id == intent.id)
    decliner.send(decline=solver_pb2.Decline(intent_id=intent.id, reason="changed my mind"))
    decliner.wait_for("loss", lambda m: m.intent_id == intent.id)   # PENDING, nobody else

    node.restart_actor("intents/book")
    assert offers_of(decliner, intent.id, 2) == 1      # rejoined (its heartbeat): not offered
    other = SolverClient(ch).connect()
    other.wait_for("offer", lambda m: m.intent.id == intent.id)
    assert offers_of(decliner, intent.id, 3) == 1
    decliner.send(get_record=solver_pb2.GetRecord())   # its window read back from the store
    assert decliner.wait_for("record").declines == 1


def intents_pb2_grpc_stub(ch):
    from orbital.v1 import intents_pb2_grpc
    return intents_pb2_grpc.IntentServiceStub(ch)


def test_a_solver_that_lets_awards_lapse_is_suspended(solver_node, channel_to, database_url,
                                                      devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25, exclusivity=EXCLUSIVITY,
                       suspend_below=0.5, suspend_cooldown=60, **QUIET)
    ch = channel_to(node)
    admin = admin_pb2_grpc.AdminServiceStub(ch)
    fader = SolverClient(ch).connect()
    intents = [submit(ch, devnet_info) for _ in range(3)]
    for i, intent in enumerate(intents):
        fader.wait_for("offer", lambda m, id=intent.id: m.intent.id == id)
        bid_in_order(fader, intent.id, 9_500_000, i + 1)
    clock.advance(0.3)
    for intent in intents:
        fader.wait_for("award", lambda m, id=intent.id: m.intent_id == id)

    clock.advance(EXCLUSIVITY + 0.1)                  # three fades: 3 / 7 < 0.5
    told = fader.wait_for("suspended")
    assert "reliability 0.43 fell below 0.5 after a fade" in told.reason
    assert "3 let lapse" in told.reason and told.reliability == pytest.approx(3 / 7)
    assert told.until.seconds == pytest.approx(clock.wall() + 60, abs=1)

    # Suspended: no offers (old intents or new), bids refused; an honest solver gets them.
    honest = SolverClient(ch).connect()
    fresh = submit(ch, devnet_info)
    honest.wait_for("offer", lambda m: m.intent.id == fresh.id)
    for intent in intents:
        honest.wait_for("offer", lambda m, id=intent.id: m.intent.id == id)
    assert offers_of(fader, fresh.id, 10) == 0
    fader.bid(fresh.id, 9_500_000)
    assert "suspended until" in fader.wait_for("bid_rejected",
                                               lambda m: m.intent_id == fresh.id).reason

    # Operators and the solver itself read the record.
    listed = admin.ListSolvers(admin_pb2.ListSolversRequest(), metadata=ADMIN).solvers
    assert [s.solver for s in listed] == [fader.address, honest.address]   # worst first
    rec = admin.GetSolverRecord(admin_pb2.GetSolverRecordRequest(solver=fader.address.lower()),
                                metadata=ADMIN)
    assert rec.suspended and (rec.wins, rec.fades, rec.opens, rec.fades_total) == (3, 3, 0, 3)
    assert rec.suspension_reason == told.reason and rec.offers_total == 3
    only = admin.ListSolvers(admin_pb2.ListSolversRequest(suspended_only=True), metadata=ADMIN)
    assert [s.solver for s in only.solvers] == [fader.address]
    worst = admin.ListSolvers(admin_pb2.ListSolversRequest(limit=1), metadata=ADMIN)
    assert [s.solver for s in worst.solvers] == [fader.address]
    with pytest.raises(grpc.RpcError) as over:
        admin.ListSolvers(admin_pb2.ListSolversRequest(limit=1001), metadata=ADMIN)
    assert over.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fader.send(get_record=solver_pb2.GetRecord())
    mine = fader.wait_for("record")
    assert mine.suspended and mine.fades == 3 and mine.suspended_until == told.until
    with pytest.raises(grpc.RpcError) as bad:
        admin.GetSolverRecord(admin_pb2.GetSolverRecordRequest(solver="0x12"), metadata=ADMIN)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as unknown:
        admin.GetSolverRecord(admin_pb2.GetSolverRecordRequest(solver="0x" + "ab" * 20),
                              metadata=ADMIN)
    assert unknown.value.code() == grpc.StatusCode.NOT_FOUND

    # The cooldown over, it is offered work again.
    clock.advance(60.1)
    later = submit(ch, devnet_info)
    fader.wait_for("offer", lambda m: m.intent.id == later.id)
