"""A session's life: it is a dynamic child of intents/solvers while its stream lives; it
ends on silence (DEADLINE_EXCEEDED), on a reader that stops reading (RESOURCE_EXHAUSTED),
on a half-close (OK) or a cancel; bids are checked and rate limited; malformed fill and
escrow mismatch reports end the stream with the field at fault, and mismatch reports spend
the bid bucket."""

from __future__ import annotations

import re

import grpc
import pytest

from clients import field_violations
from orbital.v1 import admin_pb2, admin_pb2_grpc, solver_pb2

from .conftest import ADMIN, SolverClient, fake_clock, wait_until

SESSIONS = "intents/solvers/session/"
INTENT = "0x" + "ab" * 32


def sessions(node) -> list[str]:
    return node.registry.paths(SESSIONS)


def tree(node, channel) -> dict[str, admin_pb2.ActorInfo]:
    reply = admin_pb2_grpc.AdminServiceStub(channel).GetTree(admin_pb2.GetTreeRequest(),
                                                             metadata=ADMIN)
    return {a.path: a for a in reply.actors}


@pytest.mark.parametrize("end", ["cancel", "half_close"])
def test_session_is_a_dynamic_child_while_connected(solver_node, channel_to, database_url, end):
    node = solver_node(database_url)
    ch = channel_to(node)
    a, b = SolverClient(ch).connect(), SolverClient(ch).connect()
    actors = tree(node, ch)
    for client in (a, b):
        info = actors[SESSIONS + client.address.lower()]
        assert info.kind == "solver_session" and info.state == "running" and info.dynamic
    assert node.metrics.registry.get_sample_value("orbital_solver_sessions") == 2
    if end == "cancel":
        a.cancel()
    else:
        a.half_close()
        assert a.wait_closed() == (grpc.StatusCode.OK, "")
    wait_until(lambda: SESSIONS + a.address.lower() not in tree(node, ch), what="a's session gone")
    assert SESSIONS + b.address.lower() in tree(node, ch)   # b untouched
    wait_until(lambda: node.metrics.registry.get_sample_value("orbital_solver_sessions") == 1,
               what="the sessions gauge to drop")
    b.heartbeat(2)
    assert b.wait_for("heartbeat_ack").seq == 2
    a2 = SolverClient(ch, a.account).connect()   # a can come back
    assert SESSIONS + a2.address.lower() in tree(node, ch)


def test_silence_ends_the_session(solver_node, channel_to, tmp_path):
    clock = fake_clock()
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", clock=clock,
                       heartbeat_interval=5, heartbeat_timeout=20)
    quiet, chatty = SolverClient(channel_to(node)), SolverClient(channel_to(node))
    quiet.connect()
    chatty.connect()
    for seq in range(1, 4):            # 3 x 8 s: chatty beats, quiet stays silent
        clock.advance(8)
        chatty.heartbeat(seq)
        chatty.wait_for("heartbeat_ack", lambda m, s=seq: m.seq == s)
    code, details = quiet.wait_closed()
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert re.fullmatch(r"no heartbeat for 2\d\.\ds \(timeout 20s, send one every 5s\); "
                        r"session closed", details), details
    wait_until(lambda: sessions(node) == [SESSIONS + chatty.address.lower()],
               what="only the silent session to go")
    clock.advance(8)                   # 24 s after welcome, 8 s after the last beat
    chatty.heartbeat(9)
    assert chatty.wait_for("heartbeat_ack", lambda m: m.seq == 9)
    clock.advance(21)
    assert chatty.wait_closed()[0] == grpc.StatusCode.DEADLINE_EXCEEDED
    wait_until(lambda: not sessions(node), what="the session actor to stop")


def test_a_solver_that_stops_reading_is_dropped(solver_node, channel_to, tmp_path):
    # Heartbeats are what this solver floods with: their rate limit is lifted here so that
    # the stalled reader, not the flood, ends the session (test_floods.py covers that).
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", stream_buffer=8,
                       solver_heartbeat_rate={"rate": 1000000, "burst": 1000000})
    # A small receive window and no window growth: the server's writes stall quickly.
    ch = channel_to(node, **{"grpc.http2.lookahead_bytes": 1024, "grpc.http2.bdp_probe": 0})
    slow = SolverClient(ch)
    slow.connect(read=False)
    wait_until(lambda: sessions(node), what="the session to start")
    for seq in range(20000):           # every heartbeat is answered with an ack nobody reads
        slow.heartbeat(seq)
        if seq % 500 == 0 and not sessions(node):
            break
    wait_until(lambda: not sessions(node), what="the session of the stalled reader to end")
    slow.start_reading()               # what was buffered, then the status
    code, details = slow.wait_closed()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "fell 8 messages behind and was disconnected" in details
    acks = slow.of("heartbeat_ack")
    assert acks and len(acks) < 20000
    assert slow.messages[0].WhichOneof("kind") == "welcome"


@pytest.mark.parametrize("amount, reason", [
    ("", "decimal string"), ("12.5", "decimal string"), ("-3", "decimal string"),
    ("0x10", "decimal string"), ("0", "greater than 0"), (str(1 << 256), "below 2^256"),
    ("١٢٣", "decimal string"),                     # non-ASCII digits
])
def test_malformed_bid_is_rejected_and_the_session_stays(solver_node, channel_to, tmp_path,
                                                         amount, reason):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db")
    client = SolverClient(channel_to(node)).connect()
    client.bid(INTENT, amount)
    rejected = client.wait_for("bid_rejected")
    assert rejected.intent_id == INTENT and reason in rejected.reason
    client.bid("0x1234", 5)
    assert "intent_id must be 0x" in client.wait_for("bid_rejected", count=2).reason
    client.heartbeat(3)
    assert client.wait_for("heartbeat_ack").seq == 3


def test_bid_rate_limit(solver_node, channel_to, tmp_path):
    clock = fake_clock()                # time stands still: the bucket never refills
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", clock=clock,
                       solver_bid_rate={"rate": 1, "burst": 3})
    client = SolverClient(channel_to(node)).connect()
    for _ in range(3 + 2):              # burst 3 accepted, then 2 rate limited
        client.bid(INTENT, 1000)
    limited = client.wait_for("bid_rejected", lambda m: "rate limited" in m.reason, count=2)
    assert "at most 1 bids/s (burst 3)" in limited.reason
    clock.advance(2)                    # two tokens back
    client.bid(INTENT, 1000)
    client.heartbeat(1)
    client.wait_for("heartbeat_ack")
    assert len([m for m in client.of("bid_rejected") if "rate limited" in m.reason]) == 2
    for _ in range(1 + 4):              # one more token, then 4 in a row over: > burst
        client.bid(INTENT, 1000)
    code, details = client.wait_closed()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "bid rate exceeded: 4 bids in a row" in details
    wait_until(lambda: not sessions(node), what="the abusive session to end")


@pytest.mark.parametrize("report, field", [
    (dict(kind="close"), "fill_report.kind"),
    (dict(intent_id="0x12"), "fill_report.intent_id"),
    (dict(tx_hash="abc"), "fill_report.tx_hash"),
    (dict(chain="mainnet"), "fill_report.chain"),
    (dict(chain="x" * 1_000_000), "fill_report.chain"),      # refusal quotes it cut short
    (dict(chain="\u00b2"), "fill_report.chain"),             # a digit int() refuses
    (dict(chain="9" * 5000), "fill_report.chain"),          # over int()'s 4300 digits
    (dict(intent_id="0x" + "ab" * 5000), "fill_report.intent_id"),
    (dict(tx_hash="0x" + "zz" * 32), "fill_report.tx_hash"),
])
def test_malformed_fill_report_ends_the_stream(solver_node, channel_to, tmp_path, report, field):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db")
    client = SolverClient(channel_to(node)).connect()
    fill = dict(intent_id=INTENT, chain="devnet-b", tx_hash="0x" + "cd" * 32, kind="fill") | report
    client.fill(**fill)
    code, details = client.wait_closed()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(client.error)[0][0] == field and len(details) < 1000
    wait_until(lambda: not sessions(node), what="the session to end")


def test_second_hello_and_empty_message_end_the_stream(solver_node, channel_to, tmp_path):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db")
    again = SolverClient(channel_to(node)).connect()
    again.send(hello=solver_pb2.Hello(solver=again.address))
    code, details = again.wait_closed()
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "hello sent twice" in details
    empty = SolverClient(channel_to(node)).connect()
    empty.send()
    code, details = empty.wait_closed()
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "empty SolverMessage" in details
    wait_until(lambda: not sessions(node), what="both sessions to end")


def test_stopped_by_the_node_means_unavailable(solver_node, channel_to, tmp_path):
    """An operator kicking one session (StopActor), or the solvers group restarting: the
    streams end with UNAVAILABLE, which tells a solver to reconnect."""
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db")
    ch = channel_to(node)
    admin = admin_pb2_grpc.AdminServiceStub(ch)
    kicked, a, b = (SolverClient(ch).connect() for _ in range(3))
    admin.StopActor(admin_pb2.StopActorRequest(path=SESSIONS + kicked.address.lower()),
                    metadata=ADMIN)
    code, details = kicked.wait_closed()
    assert code == grpc.StatusCode.UNAVAILABLE and "reconnect" in details
    admin.RestartActor(admin_pb2.RestartActorRequest(path="intents/solvers"), metadata=ADMIN)
    for client in (a, b):
        assert client.wait_closed()[0] == grpc.StatusCode.UNAVAILABLE
    assert not sessions(node)
    SolverClient(ch, a.account).connect()    # and back in
    assert sessions(node) == [SESSIONS + a.address.lower()]


def _mismatch(client: SolverClient, **change) -> None:
    report = dict(intent_id=INTENT, chain="devnet-a", reason="inputAmount 1 on chain, 1000 signed") | change
    client.send(escrow_mismatch=solver_pb2.EscrowMismatch(**report))


@pytest.mark.parametrize("report, field", [
    (dict(intent_id="0x12"), "escrow_mismatch.intent_id"),
    (dict(intent_id="0x" + "ab" * 5000), "escrow_mismatch.intent_id"),
    (dict(chain="mainnet"), "escrow_mismatch.chain"),
    (dict(chain="x" * 1_000_000), "escrow_mismatch.chain"),
    (dict(reason=""), "escrow_mismatch.reason"),
    (dict(reason="r" * 1025), "escrow_mismatch.reason"),              # over the 1024 limit
    (dict(reason="é" * 100_000), "escrow_mismatch.reason"),
])
def test_malformed_escrow_mismatch_ends_the_stream(solver_node, channel_to, tmp_path, report, field):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db")
    client = SolverClient(channel_to(node)).connect()
    _mismatch(client, **report)
    code, details = client.wait_closed()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert field_violations(client.error)[0][0] == field and len(details) < 1000
    wait_until(lambda: not sessions(node), what="the session to end")


def test_escrow_mismatch_reports_count_as_bids(solver_node, channel_to, tmp_path):
    """A well-formed report keeps the session (the book ignores one from a solver that was
    not awarded the intent); reports spend the bid bucket, so a flood ends the session."""
    clock = fake_clock()                # time stands still: the bucket never refills
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", clock=clock,
                       solver_bid_rate={"rate": 1, "burst": 2})
    client = SolverClient(channel_to(node)).connect()
    _mismatch(client, reason="r" * 1024)                 # at the limit: accepted
    _mismatch(client, chain=str(node.config.section("chains", dict)["devnet-a"].chain_id))
    client.heartbeat(1)
    assert client.wait_for("heartbeat_ack").seq == 1     # both taken; the session stays
    for _ in range(3):                                   # 3 in a row over the bucket: > burst
        _mismatch(client)
    code, details = client.wait_closed()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "bid rate exceeded: 3 bids in a row" in details
    wait_until(lambda: not sessions(node), what="the flooding session to end")
