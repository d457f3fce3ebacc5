"""Every node takes submissions: two real nodes on one PostgreSQL database, node A's book
holding lease "book", node B's standing by. Calls to B are forwarded to A over gRPC on
loopback and A's answers come back unchanged; limits apply on the node the client called.

Rates are 0.001/s: buckets never refill within a test, so what is sent beyond a burst is
over the limit on any machine.
"""

from __future__ import annotations

import grpc
import pytest

from clients import field_violations
from devnet import free_ports
from node import build_app
from orbital.v1 import intents_pb2, intents_pb2_grpc
from runtime.grpc import CLUSTER_SECRET, FORWARDED_BY
from tests._node import TestNodes

from .conftest import USERS, cancel_signature, make_order, signed_request, write_node_config

P = intents_pb2


@pytest.fixture
def two_nodes(tmp_path, pg_url):
    """start(a_intents, b_intents, **a_node) -> (A, B, stub to A, stub to B)."""
    with TestNodes(tmp_path) as nodes:
        def start(a_intents: str = "", b_intents: str = "", **a_node):
            ports = tuple(free_ports(2))
            a = nodes.start(write_node_config(tmp_path / "a.yaml", pg_url, tmp_path / "var-a",
                                              rpc_ports=ports, intents=a_intents, name="a",
                                              **a_node), build_app)
            b = nodes.start(write_node_config(tmp_path / "b.yaml", pg_url, tmp_path / "var-b",
                                              rpc_ports=ports, intents=b_intents, name="b"),
                            build_app)
            holder = a.store.lease_holder("book")
            assert holder is not None and holder.instance == a.instance   # A's book leads
            return (a, b, nodes.stub(a, intents_pb2_grpc.IntentServiceStub),
                    nodes.stub(b, intents_pb2_grpc.IntentServiceStub))
        yield start


def _forwarded(node, method: str = "SubmitIntent", code: str = "OK") -> float:
    """Calls ``node`` forwarded (orbital_intents_forwarded_total)."""
    return node.metrics.registry.get_sample_value(
        "orbital_intents_forwarded_total", {"method": method, "code": code}) or 0.0


def _error(call, *args, **kw) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        call(*args, **kw)
    return err.value


def test_submit_and_cancel_through_the_node_without_the_book(two_nodes):
    a, b, stub_a, stub_b = two_nodes()
    order = make_order(USERS[0], nonce=1)
    got = stub_b.SubmitIntent(signed_request(order))
    assert got.status == P.INTENT_STATUS_PENDING
    assert stub_a.GetIntent(P.GetIntentRequest(id=got.id)).id == got.id   # committed by A
    assert _forwarded(b) == 1 and _forwarded(a) == 0

    cancelled = stub_b.CancelIntent(P.CancelIntentRequest(
        id=got.id, signature=cancel_signature(order, USERS[0].private_key)))
    assert cancelled.status == P.INTENT_STATUS_CANCELLED
    assert _forwarded(b, "CancelIntent") == 1
    assert stub_a.GetIntent(P.GetIntentRequest(id=got.id)).status == P.INTENT_STATUS_CANCELLED


def test_a_batch_through_the_node_without_the_book(two_nodes):
    a, b, stub_a, stub_b = two_nodes()
    good = [signed_request(make_order(USERS[i], nonce=10 + i)) for i in range(2)]
    bad = P.SubmitIntentRequest(typed_data=good[0].typed_data, signature="0x1234")
    reply = stub_b.SubmitIntents(P.SubmitIntentsRequest(orders=[good[0], bad, good[1]]))
    assert [r.WhichOneof("result") for r in reply.results] == ["intent", "error", "intent"]
    assert _forwarded(b, "SubmitIntents") == 1
    assert reply.results[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    for r in (reply.results[0], reply.results[2]):
        assert stub_a.GetIntent(P.GetIntentRequest(id=r.intent.id)).id == r.intent.id


def test_the_holders_errors_come_back_unchanged(two_nodes):
    """Status, message and rich details: the same whichever node the client called."""
    a, b, stub_a, stub_b = two_nodes()
    first = signed_request(make_order(USERS[1], nonce=20))
    stub_b.SubmitIntent(first)
    via_a, via_b = _error(stub_a.SubmitIntent, first), _error(stub_b.SubmitIntent, first)
    assert via_b.code() == via_a.code() == grpc.StatusCode.ALREADY_EXISTS
    assert via_b.details() == via_a.details()
    assert field_violations(via_b) == field_violations(via_a) != []
    # a bad field, refused by whichever node verifies it: the same violations
    bad = P.SubmitIntentRequest(typed_data=first.typed_data, signature="0x00")
    via_a, via_b = _error(stub_a.SubmitIntent, bad), _error(stub_b.SubmitIntent, bad)
    assert via_b.code() == via_a.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(via_b) == field_violations(via_a) == [("signature", via_a.details())]


def test_per_peer_limit_applies_on_the_edge_not_the_holder(two_nodes):
    """B (burst 3) limits its caller; A (burst 2) does not count B's forwarded calls as
    one peer: three pass, though A alone would refuse a third from one peer."""
    a, b, stub_a, stub_b = two_nodes(a_intents="submit_peer_rate: {rate: 0.001, burst: 2}",
                                     b_intents="submit_peer_rate: {rate: 0.001, burst: 3}")
    for i in range(3):
        stub_b.SubmitIntent(signed_request(make_order(USERS[i], nonce=30 + i)))
    err = _error(stub_b.SubmitIntent, signed_request(make_order(USERS[3], nonce=33)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "burst 3 (intents.submit_peer_rate)" in err.details()   # B's own limit
    # A's bucket for 127.0.0.1 is untouched by the forwarded calls: the test's own
    # client, on the same address, still has A's whole burst of 2
    for i in range(2):
        stub_a.SubmitIntent(signed_request(make_order(USERS[i], nonce=40 + i)))
    err = _error(stub_a.SubmitIntent, signed_request(make_order(USERS[2], nonce=42)))
    assert "burst 2 (intents.submit_peer_rate)" in err.details()


def test_the_holders_node_wide_limit_still_applies_to_forwarded_calls(two_nodes):
    """Trusted forwarded calls skip only the per-peer limit: A's intents.submit_rate
    refuses the third, and B passes A's refusal on unchanged."""
    a, b, stub_a, stub_b = two_nodes(a_intents="submit_rate: {rate: 0.001, burst: 2}")
    for i in range(2):
        stub_b.SubmitIntent(signed_request(make_order(USERS[i], nonce=45 + i)))
    err = _error(stub_b.SubmitIntent, signed_request(make_order(USERS[2], nonce=47)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "the node takes at most 0.001 submissions/s, burst 2" in err.details()
    assert _forwarded(b, code="RESOURCE_EXHAUSTED") == 1


def test_a_forged_cluster_secret_is_not_trusted(two_nodes):
    a, b, stub_a, stub_b = two_nodes(a_intents="submit_peer_rate: {rate: 0.001, burst: 2}")
    forged = ((FORWARDED_BY, "b-000000"), (CLUSTER_SECRET, "0" * 64))
    for i in range(2):
        stub_a.SubmitIntent(signed_request(make_order(USERS[i], nonce=50 + i)), metadata=forged)
    err = _error(stub_a.SubmitIntent, signed_request(make_order(USERS[2], nonce=52)),
                 metadata=forged)
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED   # the limit applied
    # the real secret (what B sends) is trusted: the per-peer limit is skipped
    real = ((FORWARDED_BY, b.instance), (CLUSTER_SECRET, a.store.cluster_secret()))
    assert stub_a.SubmitIntent(signed_request(make_order(USERS[2], nonce=52)), metadata=real).id


def test_a_forwarded_call_is_never_forwarded_again(two_nodes):
    """A call that reaches a standby book already forwarded (the lease moved meanwhile)
    is answered UNAVAILABLE there, not sent on: no loop between two nodes."""
    a, b, stub_a, stub_b = two_nodes()
    forwarded = ((FORWARDED_BY, a.instance), (CLUSTER_SECRET, a.store.cluster_secret()))
    err = _error(stub_b.SubmitIntent, signed_request(make_order(USERS[0], nonce=60)),
                 metadata=forwarded)
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert "stands by" in err.details() and "retry" in err.details()
    assert _forwarded(b, code="UNAVAILABLE") == 0 and _forwarded(b) == 0


def test_an_unreachable_holder_is_unavailable_with_what_to_check(two_nodes):
    """A advertises an address nobody listens on (a wrong node.advertise)."""
    dead = free_ports(1)[0]
    a, b, stub_a, stub_b = two_nodes(advertise=f"127.0.0.1:{dead}")
    err = _error(stub_b.SubmitIntent, signed_request(make_order(USERS[0], nonce=70)))
    assert err.code() == grpc.StatusCode.UNAVAILABLE
    assert f"held by node {a.instance} at 127.0.0.1:{dead}" in err.details()
    assert "node.advertise" in err.details()
    assert _forwarded(b, code="UNAVAILABLE") == 1
    # the holder itself still serves its own clients
    assert stub_a.SubmitIntent(signed_request(make_order(USERS[0], nonce=70))).id


def test_a_holder_without_an_address_is_unavailable_until_the_lease_moves(tmp_path, pg_url):
    """Lease book held by an instance that is in no node registry row (a node still
    starting, or one whose row an operator deleted): UNAVAILABLE naming it; once it lets
    the lease go, this node's book takes it and the same call succeeds here."""
    from runtime.store import Store
    from runtime.testing import wait_until
    other = Store(pg_url, state_dir=str(tmp_path), instance="x-0a0b0c")
    other.migrate()
    assert other.acquire_lease("book", ttl=60) == 1
    with TestNodes(tmp_path) as nodes:
        b = nodes.start(write_node_config(tmp_path / "b.yaml", pg_url, tmp_path / "var-b",
                                          name="b"), build_app)
        stub = nodes.stub(b, intents_pb2_grpc.IntentServiceStub)
        request = signed_request(make_order(USERS[0], nonce=80))
        err = _error(stub.SubmitIntent, request)
        assert err.code() == grpc.StatusCode.UNAVAILABLE
        assert "held by node x-0a0b0c, which has no address in the node registry" in \
            err.details()
        other.release_lease("book")

        def submitted():
            try:
                return stub.SubmitIntent(request)
            except grpc.RpcError as exc:
                assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc.details()
                return None
        assert wait_until(submitted, what="this node's book taking the lease").id
        assert b.store.lease_holder("book").instance == b.instance
    other.close()


# ---- solver sessions through a node without the book -------------------------------------------
def test_a_solver_session_through_the_node_without_the_book_is_relayed(two_nodes, tmp_path):
    """The solver connects to B; its challenge and its session are relayed to A, whose book
    runs the auctions: it is offered what is submitted to either node, and wins. When A
    stops, the relayed stream ends UNAVAILABLE; the solver reconnects to B, which now leads."""
    from actors import SOLVERS_PATH
    from tests.solvers.conftest import SolverClient
    from tests.solvers.test_auction import bid_in_order
    a, b, stub_a, stub_b = two_nodes(a_intents="auction_window: 1.0",
                                     b_intents="auction_window: 1.0")
    with grpc.insecure_channel(f"127.0.0.1:{b.grpc_port}") as ch_b:
        solver = SolverClient(ch_b).connect()
        assert [p for p in a.registry.paths(SOLVERS_PATH + "/session/")]   # lives on A
        assert not list(b.registry.paths(SOLVERS_PATH + "/session/"))
        got = [stub_a.SubmitIntent(signed_request(make_order(USERS[0], nonce=40))),
               stub_b.SubmitIntent(signed_request(make_order(USERS[1], nonce=41)))]
        for i, intent in enumerate(got):   # both bid within their windows, then both won
            solver.wait_for("offer", lambda m, id=intent.id: m.intent.id == id)
            bid_in_order(solver, intent.id, 99 * 10**6, i + 1)
        for intent in got:
            award = solver.wait_for("award", lambda m, id=intent.id: m.intent_id == id)
            assert award.intent.solver == solver.address

        a.shutdown()   # graceful: A releases the book; B takes it at once
        code, details = solver.wait_closed()
        assert code == grpc.StatusCode.UNAVAILABLE, details
        again = _reconnect(ch_b, solver.account, b)
        assert list(b.registry.paths(SOLVERS_PATH + "/session/"))     # now local to B
        third = stub_b.SubmitIntent(signed_request(make_order(USERS[2], nonce=42)))
        again.wait_for("offer", lambda m: m.intent.id == third.id)


def test_a_session_on_a_book_that_loses_the_lead_ends_and_is_relayed_on_reconnect(two_nodes):
    """A solver connected straight to A while A's book leads; A's lease is lost (expired
    under it, as after a long pause) and B's book takes over. The session on A ends
    UNAVAILABLE, naming why; reconnected to A, the solver is relayed to B and offered work."""
    from actors import SOLVERS_PATH
    from runtime.store import Lease
    from runtime.testing import wait_until
    from tests.solvers.conftest import SolverClient
    a, b, stub_a, stub_b = two_nodes()
    with grpc.insecure_channel(f"127.0.0.1:{a.grpc_port}") as ch_a:
        solver = SolverClient(ch_a).connect()
        assert list(a.registry.paths(SOLVERS_PATH + "/session/"))
        with a.store.connection():
            Lease.update(expires_at=0).where(Lease.name == "book").execute(a.store.db)
        wait_until(lambda: (h := a.store.lease_holder("book")) is not None
                   and h.instance == b.instance, timeout=10, what="B to take the book")
        code, details = solver.wait_closed()
        assert code == grpc.StatusCode.UNAVAILABLE
        assert "another node leads the intent book now; reconnect" in details
        again = _reconnect(ch_a, solver.account, b)
        wait_until(lambda: list(b.registry.paths(SOLVERS_PATH + "/session/")), timeout=10,
                   what="the session relayed to B")
        intent = stub_a.SubmitIntent(signed_request(make_order(USERS[3], nonce=50)))
        again.wait_for("offer", lambda m: m.intent.id == intent.id)


def _reconnect(channel, account, leader):
    """Connect as a solver does after its session ended: retry while the book's lease is
    moving (UNAVAILABLE, "no node holds the intent book now"), or while the session lands
    on a book that no longer leads (it is ended at once, and relayed on the next try)."""
    from actors import SOLVERS_PATH
    from runtime.testing import wait_until
    from tests.solvers.conftest import SolverClient

    def attempt():
        try:
            client = SolverClient(channel, account).connect()
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
            return None
        client.heartbeat(1)
        try:
            client.wait_for("heartbeat_ack", lambda m: m.seq == 1, timeout=2)
        except AssertionError:
            return None
        if client.code is not None or not leader.registry.paths(SOLVERS_PATH + "/session/"):
            return None   # it landed on a book that no longer leads: ended, try again
        return client
    return wait_until(attempt, timeout=15, what="the solver's new session")


def test_forwarding_between_tls_nodes(tmp_path, pg_url):
    """Both nodes serve TLS: B forwards to A over TLS (presenting its certificate, checking
    A's against node.tls.ca), and the client's TLS call to B is answered."""
    from clients import TlsOptions, open_channel
    from tests._tls import make_certs, node_tls
    (tmp_path / "certs").mkdir()
    certs = make_certs(tmp_path / "certs")
    tls = node_tls(certs)
    with TestNodes(tmp_path) as nodes:
        ports = tuple(free_ports(2))
        a = nodes.start(write_node_config(tmp_path / "a.yaml", pg_url, tmp_path / "var-a",
                                          rpc_ports=ports, name="a", tls=tls), build_app)
        b = nodes.start(write_node_config(tmp_path / "b.yaml", pg_url, tmp_path / "var-b",
                                          rpc_ports=ports, name="b", tls=tls), build_app)
        assert a.store.lease_holder("book").instance == a.instance
        order = make_order(USERS[0], nonce=1)
        with open_channel(f"127.0.0.1:{b.grpc_port}", TlsOptions(ca=str(certs / "ca.pem"))) as ch:
            got = intents_pb2_grpc.IntentServiceStub(ch).SubmitIntent(signed_request(order),
                                                                      timeout=10)
        assert got.status == P.INTENT_STATUS_PENDING
        assert _forwarded(b) == 1


def test_explain_through_the_node_without_the_book_is_the_holders_answer(two_nodes):
    """Only the leading book knows an intent's live state (its round, the sessions that
    cover its route): node B forwards ExplainIntent to A, whose answer says so."""
    a, b, stub_a, stub_b = two_nodes()
    got = stub_a.SubmitIntent(signed_request(make_order(USERS[0], nonce=1)))
    want = ("waiting for a solver: none of the 0 connected solver session(s) covers "
            "devnet-a -> devnet-b")
    assert stub_a.ExplainIntent(P.ExplainIntentRequest(id=got.id)).summary == want
    assert stub_b.ExplainIntent(P.ExplainIntentRequest(id=got.id)).summary == want
    assert _forwarded(b, "ExplainIntent") == 1 and _forwarded(a, "ExplainIntent") == 0
    err = _error(stub_b.ExplainIntent, P.ExplainIntentRequest(id="0x" + "ab" * 32))
    assert err.code() == grpc.StatusCode.NOT_FOUND                   # A's answer, passed on
    err = _error(stub_b.ExplainIntent, P.ExplainIntentRequest(id="0x12"))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT            # refused on B itself
    assert field_violations(err) == [("id", field_violations(err)[0][1])]
