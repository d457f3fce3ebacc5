"""Slow handlers do not starve the admin API or submissions (real node, real gRPC).

Blocking is by events, never by time: a quoter stand-in that does not answer until
released, a read path held on an event. What is asserted is which calls still answer
while those are stuck.
"""

from __future__ import annotations

import concurrent.futures
import threading

import grpc
import pykka
import pytest

import actors.book._service as service
from node import build_app
from orbital.v1 import admin_pb2, admin_pb2_grpc, intents_pb2, intents_pb2_grpc
from orbital.v1 import quoter_pb2, quoter_pb2_grpc
from runtime.testing import wait_until
from tests._node import ADMIN, TestNodes, node_config, write_config

from .conftest import chains_section, make_order, signed_request

P = intents_pb2


class _StuckQuoter(pykka.ThreadingActor):
    """Stands in for the quoter during an RPC outage: every ask waits for ``release``."""

    def __init__(self, release: threading.Event) -> None:
        super().__init__()
        self.release = release

    def on_receive(self, message):
        self.release.wait(60)
        raise RuntimeError("the quoter stand-in does not quote")


@pytest.fixture
def node_with(tmp_path, database_url):
    with TestNodes(tmp_path) as nodes:
        def start(**node_options):
            doc = node_config(database_url, tmp_path / "var", {
                "intents": {"min_open_window": 0},
                "chains": chains_section((1, 2))}, admission=False,   # no chain runs
                **node_options)
            node = nodes.start(write_config(tmp_path / "supervisor.yaml", doc), build_app)
            return node, nodes.channel(node), nodes
        yield start


def _quote_request() -> quoter_pb2.GetQuoteRequest:
    user = make_order(nonce=0).user
    return quoter_pb2.GetQuoteRequest(origin_chain="devnet-a", destination_chain="devnet-b",
                                      input_token="USDC", output_token="USDC",
                                      input_amount="100000000", user=user)


def test_stuck_quotes_are_bounded_and_admin_and_submit_still_answer(node_with):
    node, ch, nodes = node_with(rpc_limits={"QuoterService/GetQuote": {"concurrent": 4,
                                                                       "wait": 0}})
    release = threading.Event()
    stuck = nodes.own(_StuckQuoter.start(release))
    node.registry.register("quoter", stuck)
    quotes = quoter_pb2_grpc.QuoterServiceStub(ch)
    pending = [quotes.GetQuote.future(_quote_request()) for _ in range(4)]
    try:
        # All four reached the quoter (one being handled, three queued behind it).
        wait_until(lambda: stuck.actor_inbox.qsize() >= 3, what="the quotes to queue at the quoter")
        # A fifth is over the method's limit: refused at once, naming it.
        with pytest.raises(grpc.RpcError) as err:
            quotes.GetQuote(_quote_request(), timeout=10)
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "QuoterService/GetQuote: 4 calls already in progress" in err.value.details()
        # The rest of the node answers.
        tree = admin_pb2_grpc.AdminServiceStub(ch).GetTree(admin_pb2.GetTreeRequest(),
                                                           metadata=ADMIN, timeout=10)
        assert any(a.path == "intents/book" for a in tree.actors)
        got = intents_pb2_grpc.IntentServiceStub(ch).SubmitIntent(
            signed_request(make_order(nonce=1)), timeout=10)
        assert got.status == P.INTENT_STATUS_PENDING
    finally:
        release.set()
    for f in pending:   # released: each ends (with the stand-in's failure), none hangs
        assert f.exception(timeout=30) is not None


def test_blocked_reads_do_not_take_the_threads_of_admin_and_submit(node_with, monkeypatch):
    gate, entered = threading.Event(), threading.Semaphore(0)
    real = service.IntentServicer._get

    def held(self, intent_id):
        entered.release()
        gate.wait(60)
        return real(self, intent_id)
    monkeypatch.setattr(service.IntentServicer, "_get", held)
    node, ch, nodes = node_with(rpc_pools={"reads": 2})
    assert node.grpc.pool_of("IntentService/GetIntent") == "reads"
    stub = intents_pb2_grpc.IntentServiceStub(ch)
    first = stub.SubmitIntent(signed_request(make_order(nonce=1)))
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        reads = [pool.submit(stub.GetIntent, P.GetIntentRequest(id=first.id), timeout=60)
                 for _ in range(3)]
        try:
            for _ in range(2):          # both threads of the reads pool are held
                assert entered.acquire(timeout=30)
            tree = admin_pb2_grpc.AdminServiceStub(ch).GetTree(admin_pb2.GetTreeRequest(),
                                                               metadata=ADMIN, timeout=10)
            assert tree.actors
            assert stub.SubmitIntent(signed_request(make_order(nonce=2)), timeout=10).version == 1
            assert not any(r.done() for r in reads)   # the reads wait for their own pool
        finally:
            gate.set()
        assert all(r.result(timeout=30).id == first.id for r in reads)
