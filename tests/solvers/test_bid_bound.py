"""Bids bind (issue 10, point 5): the award records the winning amount, and a bid far above
what the quoter expects for the intent is refused at bid time with the bound in the reason.
A real book, quoter and solver sessions over gRPC; the node on a FakeClock."""

from __future__ import annotations

import importlib
import threading

import pykka

from actors.quoter import GetQuote, ReferenceOutput, ReferenceOutputs
from actors.book import IntentRow

from .conftest import SolverClient, fake_clock, make_app, wait_until
from .test_auction import ONE_USDC, bid_in_order, submit

QUOTER = """quoter:
  cache_ttl: 0
  protocol_fee_bps: 0
  prices:
    USDC: {static: '1'}
    WETH: {static: '3000'}
"""


def _app():
    app = make_app()
    importlib.import_module("actors.quoter").install(app)
    return app


def test_a_bid_far_above_the_quote_is_refused_and_the_award_records_the_bid(
        solver_node, channel_to, database_url, devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, app=_app(), extra=QUOTER,
                       auction_window=0.25, max_bid_over_quote_bps=1000)
    ch = channel_to(node)
    greedy, honest = SolverClient(ch).connect(), SolverClient(ch).connect()
    intent = submit(ch, devnet_info)
    for c in (greedy, honest):
        c.wait_for("offer", lambda m: m.intent.id == intent.id)
    # The book asked the quoter when the auction opened; an ask queued behind it returns
    # the same figure, after the book's answer is in.
    expected = node.registry.ask("quoter", ReferenceOutput(GetQuote(
        intent.origin_chain, intent.destination_chain, intent.input_token, intent.output_token,
        intent.input_amount, intent.user, intent.recipient)))
    assert 0 < expected < 10 * ONE_USDC            # after fees and gas
    expected = max(expected, 9 * ONE_USDC)         # the signed minimum, if the user asks more
    bound = expected * 11_000 // 10_000

    greedy.bid(intent.id, 10 * expected)              # "win every auction, deliver the minimum"
    refused = greedy.wait_for("bid_rejected", lambda m: m.intent_id == intent.id)
    assert f"more than 10% above this intent's reference output {expected}" in refused.reason
    assert f"bid at most {bound}" in refused.reason
    bid_in_order(greedy, intent.id, bound + 1, 1)     # one unit over: refused too
    again = greedy.wait_for("bid_rejected", lambda m: m.intent_id == intent.id, count=2)
    assert f"bid at most {bound}" in again.reason
    bid_in_order(honest, intent.id, bound, 2)         # at the bound: taken

    clock.advance(0.3)
    award = honest.wait_for("award", lambda m: m.intent_id == intent.id)
    assert award.output_amount == str(bound)
    assert not greedy.of("award")
    with node.store.connection():
        row = IntentRow.get_by_id(intent.id)
    assert (row.status, row.solver, int(row.awarded_amount)) == ("ASSIGNED", honest.address, bound)


def test_without_a_quoter_bids_are_bounded_only_by_the_minimum(solver_node, channel_to,
                                                               database_url, devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25)
    ch = channel_to(node)
    solver = SolverClient(ch).connect()
    intent = submit(ch, devnet_info)
    solver.wait_for("offer", lambda m: m.intent.id == intent.id)
    bid_in_order(solver, intent.id, 50 * ONE_USDC, 1)
    clock.advance(0.3)
    award = solver.wait_for("award", lambda m: m.intent_id == intent.id)
    assert award.output_amount == str(50 * ONE_USDC) and not solver.of("bid_rejected")
    wait_until(lambda: node.registry.paths("quoter") == [], what="no quoter on this node")


class _LateQuoter(pykka.ThreadingActor):
    """Test double of the quoter at its registry path: answers ReferenceOutput only when the
    test sets ``release``, so that the answer arrives after the bids (the real quoter cannot
    be made late on purpose)."""

    def __init__(self, release: threading.Event, expected: int) -> None:
        super().__init__()
        self.release, self.expected = release, expected

    def on_receive(self, message):
        assert self.release.wait(30)
        if isinstance(message, ReferenceOutputs):   # the book's
            return [self.expected] * len(message.quotes)
        assert isinstance(message, ReferenceOutput)
        return self.expected


def test_bids_taken_before_the_quote_arrived_are_checked_when_the_auction_closes(
        solver_node, channel_to, database_url, devnet_info):
    clock = fake_clock()
    node = solver_node(database_url, clock=clock, auction_window=0.25,
                       max_bid_over_quote_bps=1000)
    release = threading.Event()
    late = _LateQuoter.start(release, 9_500_000)
    node.registry.register("quoter", late)
    try:
        ch = channel_to(node)
        greedy, honest = SolverClient(ch).connect(), SolverClient(ch).connect()
        intent = submit(ch, devnet_info)                  # signed minimum 9 USDC
        for c in (greedy, honest):
            c.wait_for("offer", lambda m: m.intent.id == intent.id)
        bid_in_order(greedy, intent.id, 50 * ONE_USDC, 1)   # no quote yet: taken for now
        bid_in_order(honest, intent.id, 10_000_000, 2)
        assert not greedy.of("bid_rejected")
        release.set()
        # One message at a time: this answer comes after the book's has been set.
        assert late.ask(ReferenceOutput(None), timeout=30) == 9_500_000
        clock.advance(0.3)
        award = honest.wait_for("award", lambda m: m.intent_id == intent.id)
        assert award.output_amount == "10000000"
        refused = greedy.wait_for("bid_rejected", lambda m: m.intent_id == intent.id)
        assert "reference output 9500000" in refused.reason and "bid at most 10450000" in refused.reason
        assert not greedy.of("award")
    finally:
        release.set()
        node.registry.unregister("quoter", late)
        late.stop()


class _CountingQuoter(pykka.ThreadingActor):
    """At the quoter's path: records each message, answers every reference with 1 USDC."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list = []

    def on_receive(self, message):
        self.got.append(message)
        return [ONE_USDC] * len(message.quotes)


def test_the_references_of_a_batch_of_submissions_are_asked_in_one_message(
        solver_node, channel_to, database_url, devnet_info):
    """SubmitIntents of 5 orders with a solver connected: 5 auctions start in one book
    message, and the quoter is asked once for the 5 references (one wake-up, not 5)."""
    from orbital.v1 import intents_pb2, intents_pb2_grpc
    from tests.intents.conftest import make_order, signed_request
    node = solver_node(database_url, auction_window=60, max_bid_over_quote_bps=1000)
    counting = _CountingQuoter.start()
    node.registry.register("quoter", counting)
    try:
        ch = channel_to(node)
        solver = SolverClient(ch).connect()
        orders = [signed_request(make_order(nonce=n)) for n in range(1, 6)]
        reply = intents_pb2_grpc.IntentServiceStub(ch).SubmitIntents(
            intents_pb2.SubmitIntentsRequest(orders=orders))
        ids = {r.intent.id for r in reply.results}
        assert len(ids) == 5
        wait_until(lambda: {o.intent.id for o in solver.of("offer")} == ids, what="5 offers")
        got = counting.proxy().got.get()
        assert [type(m) for m in got] == [ReferenceOutputs]
        assert len(got[0].quotes) == 5
        solver.cancel()
    finally:
        node.registry.unregister("quoter", counting)
        counting.stop()
