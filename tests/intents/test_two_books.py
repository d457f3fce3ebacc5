"""Two nodes on one PostgreSQL database: one book leads (lease ``book``), the other follows.

Both nodes run in this process (build_app, no chain running: admission off), each with
its own instance id and its own gRPC port. The holder auctions and writes; the standby
refuses submissions with LeaseLost (UNAVAILABLE) and tails the committed transitions for
its own watch streams; a graceful stop hands the book over, a paused holder is fenced.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import grpc
import pytest

from actors import BOOK_PATH
from actors.book import IntentRow, Subscribe
from node import build_app
from orbital.v1 import intents_pb2, intents_pb2_grpc
from tests._node import env_secret
from runtime.testing import wait_until
from tests.solvers.conftest import SolverClient

from .conftest import USERS, cancel_signature, make_order, signed_request, write_node_config

P = intents_pb2


def _holder(node) -> str | None:
    for n in node.store.list_nodes(60):
        if "book" in {lease.name for lease in n.leases}:
            return n.instance
    return None


def _start(nodes, tmp_path, pg_url, name: str, intents: str = "", **node: Any):
    path = write_node_config(tmp_path / f"{name}.yaml", pg_url, tmp_path / f"var-{name}",
                             intents=intents, name=name, **node)
    n = nodes.start(path, build_app)
    return n, nodes.stub(n, intents_pb2_grpc.IntentServiceStub)


class _Watch:
    """A WatchIntents stream read on a thread: its updates, then the error that ended it."""

    def __init__(self, stub, request) -> None:
        self.got: list[Any] = []
        self.first = threading.Event()
        self.call = stub.WatchIntents(request)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for u in self.call:
                self.got.append(u)
                self.first.set()
        except grpc.RpcError as exc:
            self.got.append(exc)

    def versions(self, intent_id: str) -> list[tuple[int, int]]:
        return [(u.intent.version, u.intent.status) for u in self.got
                if not isinstance(u, grpc.RpcError) and u.intent.id == intent_id]


def _refused(call, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(request, timeout=10)
    return err.value


def test_one_book_leads_the_standby_refuses_submissions_and_its_watch_sees_every_transition(
        pg_url, tmp_path, nodes):
    a, stub_a = _start(nodes, tmp_path, pg_url, "node-a")
    b, stub_b = _start(nodes, tmp_path, pg_url, "node-b")
    assert _holder(a) == a.instance

    # The standby's book refuses what needs the lead, with the contract the service's
    # forwarding catches; a submission to B is forwarded and committed by A's book.
    from actors.book import ExpireDue
    from runtime import LeaseLost
    with pytest.raises(LeaseLost, match="does not hold the book"):
        b.registry.ask("intents/book", ExpireDue(), timeout=10)
    forwarded = stub_b.SubmitIntent(signed_request(make_order(USERS[1], nonce=7)), timeout=10)
    assert stub_a.GetIntent(P.GetIntentRequest(id=forwarded.id)).id == forwarded.id

    # A watch by user on B, then an intent submitted and cancelled on A.
    watch = _Watch(stub_b, P.WatchIntentsRequest(user=USERS[2].address))
    order = make_order(USERS[2], nonce=1)
    intent = stub_a.SubmitIntent(signed_request(order))
    stub_a.CancelIntent(P.CancelIntentRequest(id=intent.id, signature=cancel_signature(
        order, USERS[2].private_key)))
    wait_until(lambda: len(watch.versions(intent.id)) >= 2, timeout=10,
               what="the standby's stream to see both transitions")
    assert watch.versions(intent.id) == [(1, P.INTENT_STATUS_PENDING),
                                         (2, P.INTENT_STATUS_CANCELLED)]
    # A stream opened on the standby after the fact, resuming by version, ends as on A.
    resumed = list(stub_b.WatchIntents(P.WatchIntentsRequest(ids=[intent.id], after_version=1),
                                       timeout=10))
    assert [(u.transition.version, u.snapshot) for u in resumed] == [(2, False)]
    watch.call.cancel()


def test_the_standby_takes_the_book_over_and_the_stream_on_it_goes_on(pg_url, tmp_path, nodes):
    """A holds the book and a solver session; an intent is awarded on A; A stops. B takes
    the book over, recovers the intent (its exclusivity lapses on B: back to PENDING), and
    the intent is cancelled on B: the stream on B saw every version, in order, once."""
    intents = "{auction_window: 0.2, exclusivity: 1.5}"
    a, stub_a = _start(nodes, tmp_path, pg_url, "node-a", intents=intents)
    b, stub_b = _start(nodes, tmp_path, pg_url, "node-b", intents=intents)
    assert _holder(a) == a.instance
    solver = SolverClient(nodes.channel(a)).connect()

    watch = _Watch(stub_b, P.WatchIntentsRequest(user=USERS[3].address))
    order = make_order(USERS[3], nonce=1)
    intent = stub_a.SubmitIntent(signed_request(order))
    offer = solver.wait_for("offer", lambda o: o.intent.id == intent.id)
    solver.bid(intent.id, int(offer.intent.min_output_amount) + 1)
    solver.wait_for("award", lambda m: m.intent.id == intent.id)
    wait_until(lambda: len(watch.versions(intent.id)) >= 2, timeout=10,
               what="the award seen on B")

    nodes.stop(a)   # graceful: the book's lease is released, B takes it within ~0.5 s
    wait_until(lambda: _holder(b) == b.instance, timeout=10, what="B to take the book")
    # B recovered the ASSIGNED intent: its exclusivity lapses there (the solver was on A).
    wait_until(lambda: len(watch.versions(intent.id)) >= 3, timeout=10,
               what="the lapse on B")
    done = stub_b.CancelIntent(P.CancelIntentRequest(id=intent.id, signature=cancel_signature(
        order, USERS[3].private_key)))
    assert done.version == 4
    wait_until(lambda: len(watch.versions(intent.id)) >= 4, timeout=10, what="the cancel on B")
    time.sleep(0.3)   # nothing more arrives (no duplicate); not a pass/fail timing
    assert watch.versions(intent.id) == [(1, P.INTENT_STATUS_PENDING),
                                         (2, P.INTENT_STATUS_ASSIGNED),
                                         (3, P.INTENT_STATUS_PENDING),
                                         (4, P.INTENT_STATUS_CANCELLED)]
    history = stub_b.GetIntent(P.GetIntentRequest(id=intent.id)).history
    assert [h.version for h in history] == [1, 2, 3, 4]
    assert "exclusivity lapsed" in history[2].reason
    watch.call.cancel()
    solver.cancel()


def test_a_paused_holder_is_fenced_then_follows(pg_url, tmp_path, nodes):
    """A's book thread is blocked (a sink of its own that waits) past its 1 s lease; B
    takes the book over. Released, A's next write raises LeaseLost and lands nowhere; A
    then follows: its watch streams see what B commits."""
    a, stub_a = _start(nodes, tmp_path, pg_url, "node-a", lease_ttl=1)
    b, stub_b = _start(nodes, tmp_path, pg_url, "node-b", lease_ttl=1)
    assert _holder(a) == a.instance
    order = make_order(USERS[4], nonce=1)
    intent = stub_a.SubmitIntent(signed_request(order))

    gate, blocked = threading.Event(), threading.Event()

    def sink(update) -> None:   # runs on A's book thread: the pause
        if update is not None and update.intent.version == 2:
            blocked.set()
            gate.wait(30)

    a.registry.ask(BOOK_PATH, Subscribe("pause", frozenset({intent.id}), "", sink))
    cancel = threading.Thread(target=lambda: stub_a.CancelIntent(P.CancelIntentRequest(
        id=intent.id, signature=cancel_signature(order, USERS[4].private_key)), timeout=30),
        daemon=True)
    cancel.start()
    late = make_order(USERS[4], nonce=2)
    outcome: list[Any] = []
    try:
        assert blocked.wait(10), "A's book did not reach the pause"
        # Queued on A's book behind the pause, as A still believes it leads.
        submit = threading.Thread(target=lambda: outcome.append(
            _try(stub_a.SubmitIntent, signed_request(late))), daemon=True)
        submit.start()
        wait_until(lambda: _holder(b) == b.instance, timeout=10, what="B to take the book")
    finally:
        gate.set()
    submit.join(15)
    cancel.join(15)
    # Refused by A's book, either by the fence of its insert (the submission came first in
    # A's mailbox) or, when A's lease timer came first, by the standby A had become; A's
    # service then forwarded it to B, whose book committed it (or answered UNAVAILABLE
    # while it was taking over). Never written by A: committed once, under B's epoch.
    late_id = "0x" + late.order_id.hex()
    forwarded = a.metrics.registry.get_sample_value(
        "orbital_intents_forwarded_total", {"method": "SubmitIntent", "code": "OK"}) or 0.0
    if isinstance(outcome[0], grpc.RpcError):
        assert outcome[0].code() == grpc.StatusCode.UNAVAILABLE, outcome[0].details()
        with a.store.connection():
            assert IntentRow.get_or_none(IntentRow.id == late_id) is None   # nothing landed
    else:
        assert outcome[0].id == late_id and forwarded == 1   # B's book took it
        history = stub_b.GetIntent(P.GetIntentRequest(id=late_id)).history
        assert [t.version for t in history] == [1]

    # A follows now: a stream on A sees an intent B takes and cancels.
    watch = _Watch(stub_a, P.WatchIntentsRequest(user=USERS[5].address))
    other = make_order(USERS[5], nonce=1)
    got = stub_b.SubmitIntent(signed_request(other))
    stub_b.CancelIntent(P.CancelIntentRequest(id=got.id, signature=cancel_signature(
        other, USERS[5].private_key)))
    wait_until(lambda: len(watch.versions(got.id)) >= 2, timeout=10, what="A to follow B")
    assert watch.versions(got.id) == [(1, P.INTENT_STATUS_PENDING),
                                      (2, P.INTENT_STATUS_CANCELLED)]
    watch.call.cancel()


def _try(call, request) -> Any:
    try:
        return call(request, timeout=15)
    except grpc.RpcError as exc:
        return exc


def test_the_in_house_solver_trades_on_one_node_and_moves_with_its_lease(pg_url, tmp_path, nodes):
    """Both nodes configure the in-house solver: only the holder of ``solver:in-house``
    runs its session (on its own node); the other stands by and takes over on a stop."""
    from actors.in_house_solver import InHouseStatus
    key = USERS[0].private_key
    extra = f"in_house_solver:\n  key: '{env_secret(key)}'\n"
    a, _ = _start(nodes, tmp_path, pg_url, "node-a", extra=extra)
    b, _ = _start(nodes, tmp_path, pg_url, "node-b", extra=extra)

    def status(n) -> dict:
        return n.registry.ask("intents/in-house", InHouseStatus(), timeout=10)

    wait_until(lambda: status(a)["connected"], timeout=15, what="A's in-house session")
    assert status(b) == {"connected": False, "error": None, "standby": True}
    assert a.registry.paths("intents/solvers/session/") and \
        not b.registry.paths("intents/solvers/session/")
    nodes.stop(a)
    wait_until(lambda: status(b)["connected"], timeout=15, what="B's in-house session")
    assert b.registry.paths("intents/solvers/session/")


def test_a_settlement_failure_told_to_a_following_book_reaches_the_leader(pg_url, tmp_path,
                                                                          nodes):
    """The attester of a chain may run on a node whose book follows: its FAILED report,
    told to that book, is stored for the leader, which applies it (FILLED -> FAILED) and
    deletes it; a report for an intent that is not FILLED changes nothing."""
    from actors.book import BookRequest, SettlementFailed
    a, stub_a = _start(nodes, tmp_path, pg_url, "node-a")
    b, stub_b = _start(nodes, tmp_path, pg_url, "node-b")
    assert _holder(a) == a.instance
    filled = stub_a.SubmitIntent(signed_request(make_order(USERS[0], nonce=901)))
    pending = stub_a.SubmitIntent(signed_request(make_order(USERS[0], nonce=902)))
    with a.store.connection():   # as if filled on chain (no chain runs here); A re-reads it
        IntentRow.update(status="FILLED").where(IntentRow.id == filled.id).execute()
    a.restart_actor(BOOK_PATH)
    wait_until(lambda: _holder(a) == a.instance, timeout=10, what="A's book to lead again")

    b.registry.tell(BOOK_PATH, SettlementFailed(filled.id, "evidence mismatch on devnet-a"))
    b.registry.tell(BOOK_PATH, SettlementFailed(pending.id, "not filled"))
    wait_until(lambda: stub_b.GetIntent(P.GetIntentRequest(id=filled.id)).status
               == P.INTENT_STATUS_FAILED, timeout=10, what="the leader to apply the report")
    got = stub_a.GetIntent(P.GetIntentRequest(id=filled.id))
    assert got.history[-1].reason == "settlement failed: evidence mismatch on devnet-a"
    wait_until(lambda: not _requests(a, BookRequest), timeout=10, what="the requests deleted")
    assert stub_a.GetIntent(P.GetIntentRequest(id=pending.id)).status == P.INTENT_STATUS_PENDING


def _requests(node, model) -> list:
    with node.store.connection():
        return list(model.select())
