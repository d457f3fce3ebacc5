"""IntentService/ExplainIntent and ``orbital explain`` against a real node and real solver
sessions, on both databases: an intent in its auction (the open round's bids, best first),
assigned (the holder of exclusivity and its deadline), waiting for a solver that covers its
route, expired with no bids; malformed and unknown ids. The node runs on a FakeClock, so
the auction window closes when the test says."""

from __future__ import annotations

import json
import secrets
import time

import grpc
import pytest
from eth_account import Account

from actors import BOOK_PATH
from actors.book import ExpireDue
from clients import OrbitalClient, OrbitalRpcError
from clients.cli import main
from orbital.v1 import intents_pb2 as P
from orbital.v1 import intents_pb2_grpc
from protocol import GaslessOrder, OrbitalOrder, order_typed_data

from .conftest import SolverClient, fake_clock, wait_until
from .test_auction import bid_in_order

ONE_USDC = 10**6


def submit(channel, devnet_info, *, open_in: int = 600) -> P.Intent:
    a, b = devnet_info.chains
    user = devnet_info.account(4)
    now = int(time.time())
    order = GaslessOrder(
        origin_settler=a.contracts.settler, user=user.address, nonce=secrets.randbits(64),
        origin_chain_id=a.chain_id, open_deadline=now + open_in, fill_deadline=now + 3600,
        order=OrbitalOrder(a.contracts.tokens["USDC"].address, 10 * ONE_USDC,
                           b.contracts.tokens["USDC"].address, 9 * ONE_USDC, user.address,
                           b.chain_id))
    typed = order_typed_data(order)
    sig = "0x" + bytes(Account.sign_typed_data(user.private_key, full_message=typed).signature).hex()
    stub = intents_pb2_grpc.IntentServiceStub(channel)
    return stub.SubmitIntent(P.SubmitIntentRequest(typed_data=json.dumps(typed), signature=sig))


def explain(channel, intent_id: str) -> P.IntentExplanation:
    return intents_pb2_grpc.IntentServiceStub(channel).ExplainIntent(
        P.ExplainIntentRequest(id=intent_id))


def test_explain_in_auction_then_assigned(solver_node, channel_to, database_url, devnet_info,
                                          capsys):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25, exclusivity=30)
    ch = channel_to(node)
    low, high = SolverClient(ch).connect(), SolverClient(ch).connect()
    intent = submit(ch, devnet_info)
    for c in (low, high):
        c.wait_for("offer", lambda m: m.intent.id == intent.id)
    bid_in_order(low, intent.id, 9_500_000, 1)
    bid_in_order(high, intent.id, 9_800_000, 2)

    x = explain(ch, intent.id)
    assert x.status == P.INTENT_STATUS_PENDING and not x.ended
    [r] = x.rounds
    assert r.open and r.round == 1 and r.offered == 2
    assert [(b.solver, b.amount, b.lost_because) for b in r.bids] == [
        (high.address, "9800000", ""), (low.address, "9500000", "lower bid")]
    assert x.summary.startswith("waiting for the auction: 2 bid(s) so far, window closes in")
    assert not x.HasField("eta")          # no intent has finished on this route yet

    # the CLI, readable and --json, through the client library
    target = f"127.0.0.1:{node.grpc_port}"
    assert main(["explain", intent.id, "--target", target]) == 0
    out = capsys.readouterr().out
    assert "waiting for the auction: 2 bid(s)" in out and f"bid {low.address} 9500000" in out
    assert main(["explain", intent.id, "--target", target, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["rounds"][0]["bids"][0]["solver"] == high.address

    clock.advance(0.3)                    # the window closes: high wins
    high.wait_for("award", lambda m: m.intent_id == intent.id)
    x = explain(ch, intent.id)
    assert x.status == P.INTENT_STATUS_ASSIGNED
    assert x.exclusivity.holder == high.address
    # a fresh solver is on probation: 10 s to open
    assert x.exclusivity.until.seconds == pytest.approx(clock.wall() + 10, abs=1)
    assert x.summary.startswith(f"assigned to {high.address}: it has until")
    [r] = x.rounds
    assert not r.open and r.winner == high.address and r.winning_amount == "9800000"
    # the closed round keeps its bids and why the others lost, stored with the award
    assert r.bids_received == 2
    assert [(b.solver, b.amount, b.lost_because) for b in r.bids] == [
        (high.address, "9800000", ""), (low.address, "9500000", "lower bid")]
    assert main(["explain", intent.id, "--target", target]) == 0
    out = capsys.readouterr().out
    assert f"winner {high.address}, 2 bid(s) received" in out
    assert f"bid {low.address} 9500000" in out and "lost: lower bid" in out

    # ... and read from the store, so a restarted book changes nothing of it
    node.restart_actor(BOOK_PATH)
    wait_until(lambda: node.registry.paths(BOOK_PATH))
    [again] = explain(ch, intent.id).rounds
    assert again == r


def test_explain_waiting_for_a_solver_then_expired_with_no_bids(solver_node, channel_to,
                                                                 database_url, devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25)
    ch = channel_to(node)
    SolverClient(ch).connect(chains=("devnet-b",))   # cannot open on devnet-a
    intent = submit(ch, devnet_info, open_in=60)
    x = explain(ch, intent.id)
    assert x.summary == ("waiting for a solver: none of the 1 connected solver session(s) "
                         "covers devnet-a -> devnet-b")
    assert not x.rounds

    clock.advance(max(0.0, time.time() - clock.wall()) + 61)
    assert node.registry.ask(BOOK_PATH, ExpireDue()) == 1
    wait_until(lambda: explain(ch, intent.id).status == P.INTENT_STATUS_EXPIRED)
    x = explain(ch, intent.id)
    assert x.ended == "no_session"
    assert x.ended_reason == ("openDeadline passed before it was opened; no connected solver "
                              "session covered devnet-a -> devnet-b")
    assert x.summary.startswith("expired: no connected solver session covered its route")
    assert not x.HasField("eta") and not x.rounds
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        assert client.get(intent.id).history[-1].finding == "no_session"


def test_explain_expired_after_offers_nobody_bid_on(solver_node, channel_to, database_url,
                                                    devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25)
    ch = channel_to(node)
    quiet = SolverClient(ch).connect()            # covers the route, never bids
    intent = submit(ch, devnet_info, open_in=60)
    quiet.wait_for("offer", lambda m: m.intent.id == intent.id)
    clock.advance(0.3)                            # the round closes without a bid

    clock.advance(max(0.0, time.time() - clock.wall()) + 61)
    assert node.registry.ask(BOOK_PATH, ExpireDue()) == 1
    wait_until(lambda: explain(ch, intent.id).status == P.INTENT_STATUS_EXPIRED)
    x = explain(ch, intent.id)
    assert x.ended == "no_bids"
    assert x.ended_reason == ("openDeadline passed before it was opened; offered to 1 "
                              "session(s), no bids")
    assert x.summary.startswith("expired: no solver bid on it before openDeadline")
    assert not x.rounds
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        assert client.get(intent.id).history[-1].finding == "no_bids"


@pytest.mark.parametrize("bad, code, field", [
    ("", grpc.StatusCode.INVALID_ARGUMENT, "id"),
    ("0x1234", grpc.StatusCode.INVALID_ARGUMENT, "id"),
    ("0x" + "zz" * 32, grpc.StatusCode.INVALID_ARGUMENT, "id"),
    ("0x" + "ab" * 32, grpc.StatusCode.NOT_FOUND, "id"),
])
def test_explain_bad_input(solver_node, channel_to, database_url, devnet_info, bad, code, field):
    node = solver_node(database_url)
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client, pytest.raises(OrbitalRpcError) as err:
        client.explain(bad)
    assert err.value.code == code
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        assert [f for f, _ in err.value.violations] == [field]
