"""Bids reach the real book through the sessions: an intent submitted with IntentService is
offered to the solvers that cover it, the highest output wins (ties: the earlier bid),
the winner gets the award with the signed order, the losers are told. The node runs on a
FakeClock, so the auction window closes exactly when the test says."""

from __future__ import annotations

import json

import pytest
import secrets
import time

from eth_account import Account

from orbital.v1 import intents_pb2, intents_pb2_grpc
from protocol import GaslessOrder, OrbitalOrder, order_typed_data

from .conftest import SolverClient, fake_clock, wait_until

ONE_USDC = 10**6


def submit(channel, devnet_info, *, min_out: int = 9 * ONE_USDC) -> intents_pb2.Intent:
    a, b = devnet_info.chains
    user = devnet_info.account(4)
    now = int(time.time())
    order = GaslessOrder(
        origin_settler=a.contracts.settler, user=user.address, nonce=secrets.randbits(64),
        origin_chain_id=a.chain_id, open_deadline=now + 600, fill_deadline=now + 3600,
        order=OrbitalOrder(a.contracts.tokens["USDC"].address, 10 * ONE_USDC,
                           b.contracts.tokens["USDC"].address, min_out, user.address, b.chain_id))
    typed = order_typed_data(order)
    sig = "0x" + bytes(Account.sign_typed_data(user.private_key, full_message=typed).signature).hex()
    stub = intents_pb2_grpc.IntentServiceStub(channel)
    return stub.SubmitIntent(intents_pb2.SubmitIntentRequest(typed_data=json.dumps(typed),
                                                             signature=sig))


def bid_in_order(client: SolverClient, intent_id: str, amount: int, seq: int) -> None:
    """Bid, then wait for a heartbeat's ack: the session handles messages in order, so
    the bid has reached the book's mailbox before this returns (a defined arrival order)."""
    client.bid(intent_id, amount)
    client.heartbeat(seq)
    client.wait_for("heartbeat_ack", lambda m: m.seq == seq)


def test_auction_among_three_solvers(solver_node, channel_to, database_url, devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25, exclusivity=30)
    ch = channel_to(node)
    low, early, late = (SolverClient(ch).connect() for _ in range(3))
    # serves devnet-b only: cannot open on devnet-a, so it is never offered the intent
    elsewhere = SolverClient(ch).connect(chains=("devnet-b",))
    intent = submit(ch, devnet_info)
    assert intent.status == intents_pb2.INTENT_STATUS_PENDING

    for client in (low, early, late):
        offer = client.wait_for("offer", lambda m: m.intent.id == intent.id)
        assert offer.intent.min_output_amount == str(9 * ONE_USDC)
        assert offer.auction_closes_at.ToNanoseconds() > 0
    low.bid(intent.id, 8 * ONE_USDC)               # below the signed minimum: refused
    refused = low.wait_for("bid_rejected", lambda m: m.intent_id == intent.id)
    assert "below the intent's minimum" in refused.reason
    bid_in_order(low, intent.id, 9_500_000, 1)
    bid_in_order(early, intent.id, 9_800_000, 2)
    bid_in_order(late, intent.id, 9_800_000, 3)    # same output, later: loses the tie

    clock.advance(0.3)                             # the auction window closes
    award = early.wait_for("award", lambda m: m.intent_id == intent.id)
    assert award.output_amount == "9800000" and award.signature and award.typed_data
    assert json.loads(award.typed_data)["message"]["nonce"] is not None
    # a fresh solver is on probation: 10 s to open (probation_exclusivity), not 30
    assert award.exclusivity_deadline.seconds == pytest.approx(clock.wall() + 10, abs=1)
    assert award.intent.status == intents_pb2.INTENT_STATUS_ASSIGNED
    assert award.intent.solver == early.address
    update = early.wait_for("update", lambda m: m.intent.id == intent.id)  # winner follows it
    assert update.intent.status == intents_pb2.INTENT_STATUS_ASSIGNED
    assert update.transition.status == intents_pb2.INTENT_STATUS_ASSIGNED
    for loser in (low, late):
        loss = loser.wait_for("loss", lambda m: m.intent_id == intent.id)
        assert loss.winning_output_amount == "9800000" and loss.reason == "outbid"
    assert not early.of("loss") and not low.of("award") and not late.of("award")
    assert not elsewhere.of("offer")

    got = intents_pb2_grpc.IntentServiceStub(ch).GetIntent(intents_pb2.GetIntentRequest(id=intent.id))
    assert got.status == intents_pb2.INTENT_STATUS_ASSIGNED and got.solver == early.address
    assert got.awarded_output_amount == "9800000"

    # Per-solver records (the leaderboard's input), written every second.
    clock.advance(1.1)
    rec = wait_until(lambda: _record(node, early.address, wins=1), what="solver records")
    assert (rec.offers, rec.bids, rec.wins, rec.failures) == (1, 1, 1, 0)
    assert rec.median_response_ms is not None and rec.median_response_ms >= 0
    low_rec = _record(node, low.address)
    assert (low_rec.offers, low_rec.bids, low_rec.wins) == (1, 1, 0)   # the refused bid is not counted
    assert _record(node, elsewhere.address) is None                    # never offered


def _record(node, solver, **want):
    from actors.book import SolverRecord
    with node.store.connection():
        rec = SolverRecord.get_or_none(SolverRecord.solver == solver)
    if rec is not None and any(getattr(rec, k) != v for k, v in want.items()):
        return None
    return rec


def test_late_bid_and_unknown_intent_are_refused(solver_node, channel_to, tmp_path, devnet_info):
    clock = fake_clock()
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", clock=clock, auction_window=0.25)
    ch = channel_to(node)
    solver = SolverClient(ch).connect()
    solver.bid("0x" + "00" * 32, ONE_USDC * 10)
    assert "no auction is open" in solver.wait_for("bid_rejected").reason
    intent = submit(ch, devnet_info)
    solver.wait_for("offer", lambda m: m.intent.id == intent.id)
    clock.advance(0.3)     # closes with no bid (the round that closes it is queued in the book now)
    solver.bid(intent.id, 10 * ONE_USDC)
    rejected = solver.wait_for("bid_rejected", lambda m: m.intent_id == intent.id)
    assert "no auction is open" in rejected.reason


def test_sessions_join_a_restarted_book(solver_node, channel_to, tmp_path, devnet_info):
    """A book restarted on its own (operator, reload) knows no sessions: each session joins
    the new one with its next message from the solver, and gets offers again."""
    from orbital.v1 import admin_pb2, admin_pb2_grpc

    from .conftest import ADMIN
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db")
    ch = channel_to(node)
    solver = SolverClient(ch).connect()
    old = node.registry.lookup("intents/book")
    admin_pb2_grpc.AdminServiceStub(ch).RestartActor(
        admin_pb2.RestartActorRequest(path="intents/book"), metadata=ADMIN)
    assert node.registry.lookup("intents/book") is not old
    solver.heartbeat(1)
    solver.wait_for("heartbeat_ack")
    intent = submit(ch, devnet_info)
    assert solver.wait_for("offer", lambda m: m.intent.id == intent.id)


def test_offers_follow_capabilities(solver_node, channel_to, tmp_path, devnet_info):
    """Chains by name or id, tokens by symbol (any case) or address: an intent from devnet-a
    paying USDC on devnet-b goes to the sessions that cover both chains and that token."""
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db")
    ch = channel_to(node)
    usdc_b = devnet_info.chains[1].contracts.tokens["USDC"].address
    covering = [SolverClient(ch).connect(chains=("31337", "devnet-b")),
                SolverClient(ch).connect(chains=("devnet-a", "31338"), tokens=("usdc",)),
                SolverClient(ch).connect(tokens=("WETH", usdc_b.lower()))]
    not_covering = [SolverClient(ch).connect(tokens=("WETH",)),
                    SolverClient(ch).connect(chains=("devnet-a",))]
    intent = submit(ch, devnet_info)
    for client in covering:
        client.wait_for("offer", lambda m: m.intent.id == intent.id)
    for client in not_covering:   # a heartbeat round trip: anything sent before it is here
        client.heartbeat(5)
        client.wait_for("heartbeat_ack")
        assert not client.of("offer")


def test_exclusivity_lapse_reauctions_without_the_lapsed_winner(solver_node, channel_to, database_url,
                                                                devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25, exclusivity=5, max_auctions=4,
                       heartbeat_timeout=100)
    ch = channel_to(node)
    idle, backup = SolverClient(ch).connect(), SolverClient(ch).connect()
    intent = submit(ch, devnet_info)
    for client in (idle, backup):
        client.wait_for("offer", lambda m: m.intent.id == intent.id)
    bid_in_order(idle, intent.id, 9_900_000, 1)
    bid_in_order(backup, intent.id, 9_100_000, 2)
    clock.advance(0.3)
    idle.wait_for("award", lambda m: m.intent_id == intent.id)
    backup.wait_for("loss", lambda m: m.intent_id == intent.id)

    clock.advance(5.1)      # the winner never opens: its exclusivity lapses
    back = idle.wait_for("update", lambda m: m.intent.id == intent.id
                         and m.intent.status == intents_pb2.INTENT_STATUS_PENDING)
    assert "exclusivity lapsed" in back.transition.reason and back.transition.solver == idle.address
    # A new auction: offered to the others, not to the solver that let it lapse.
    backup.wait_for("offer", lambda m: m.intent.id == intent.id and len(backup.of("offer")) >= 2)
    assert len([o for o in idle.of("offer") if o.intent.id == intent.id]) == 1
    bid_in_order(backup, intent.id, 9_000_000, 3)
    idle.bid(intent.id, 9_950_000)
    refused = idle.wait_for("bid_rejected", lambda m: m.intent_id == intent.id)
    assert "excluded" in refused.reason or "no offer" in refused.reason
    clock.advance(0.3)
    award = backup.wait_for("award", lambda m: m.intent_id == intent.id)
    assert award.output_amount == "9000000"
    got = intents_pb2_grpc.IntentServiceStub(ch).GetIntent(intents_pb2.GetIntentRequest(id=intent.id))
    assert [h.status for h in got.history] == [
        intents_pb2.INTENT_STATUS_PENDING, intents_pb2.INTENT_STATUS_ASSIGNED,
        intents_pb2.INTENT_STATUS_PENDING, intents_pb2.INTENT_STATUS_ASSIGNED]
    assert got.solver == backup.address
    assert idle.wait_for("loss", lambda m: m.intent_id == intent.id).reason.startswith("exclusivity lapsed")
    clock.advance(1.1)
    assert wait_until(lambda: _record(node, idle.address, failures=1), what="the failure on record")


def test_offer_rounds_batch_new_auctions_per_solver(solver_node, channel_to, database_url,
                                                    devnet_info):
    """A round runs at most every intents.round_interval: an offer made when the book is
    quiet goes out at once; offers made before a cadence has passed wait for the next round,
    which sends each covering solver ALL of them in ONE stream message."""
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=5, round_interval=0.05)
    ch = channel_to(node)
    first, second = SolverClient(ch).connect(), SolverClient(ch).connect()
    elsewhere = SolverClient(ch).connect(chains=("devnet-b",))   # covers none of them
    quiet = submit(ch, devnet_info)
    for client in (first, second):                                 # quiet: at once
        assert [o.intent.id for o in client.wait_for("offers").offers] == [quiet.id]
    busy = [submit(ch, devnet_info) for _ in range(3)]             # within the cadence
    bid_in_order(first, quiet.id, 9 * ONE_USDC, 1)                 # a barrier through the book
    assert len(first.of("offers")) == 1 and len(second.of("offers")) == 1
    clock.advance(0.06)                                            # the next round
    for client in (first, second):
        batch = client.wait_for("offers", count=2)
        assert [o.intent.id for o in batch.offers] == [i.id for i in busy]
    clock.advance(0.06)                                            # quiet again
    later = submit(ch, devnet_info)
    for client in (first, second):
        assert [o.intent.id for o in client.wait_for("offers", count=3).offers] == [later.id]
    assert not elsewhere.of("offers")
