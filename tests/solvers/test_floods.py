"""Solver streams under floods: session caps, per-kind message rates (real node, real gRPC).

Time stands still (fake clock), so a bucket never refills: what a test sends beyond the
burst is over the limit, whatever the machine's speed.
"""

from __future__ import annotations

import grpc

from orbital.v1 import solver_pb2

from .conftest import SolverClient, fake_clock, wait_until

INTENT = "0x" + "ab" * 32
TX = "0x" + "cd" * 32


def _refused(client: SolverClient) -> tuple[grpc.StatusCode, str]:
    client.connect(welcome=False)
    return client.wait_closed()


def test_sessions_beyond_the_per_peer_cap_are_refused(solver_node, channel_to, tmp_path):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", max_solver_sessions_per_peer=2)
    ch = channel_to(node)
    first, second = SolverClient(ch).connect(), SolverClient(ch).connect()
    code, details = _refused(SolverClient(ch))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "2 solver sessions open" in details and "max_solver_sessions_per_peer" in details
    first.half_close()
    assert first.wait_closed()[0] == grpc.StatusCode.OK
    # The slot is free again once the stream is gone.
    wait_until(lambda: _connects(ch), what="a session to be admitted again")
    second.heartbeat(7)
    assert second.wait_for("heartbeat_ack").seq == 7


def _connects(ch) -> bool:
    """One login: True if welcomed, False if refused (the stream ended first)."""
    client = SolverClient(ch).connect(welcome=False)
    wait_until(lambda: client.messages or client.code is not None, what="welcome or refusal")
    ok = bool(client.of("welcome"))
    client.half_close()
    return ok


def test_sessions_beyond_the_node_cap_are_refused(solver_node, channel_to, tmp_path):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", max_solver_sessions=1)
    ch = channel_to(node)
    kept = SolverClient(ch).connect()
    code, details = _refused(SolverClient(ch))
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "intents.max_solver_sessions)" in details
    kept.heartbeat(1)
    assert kept.wait_for("heartbeat_ack").seq == 1


def test_a_fill_report_flood_disconnects_with_the_limit_and_others_keep_working(
        solver_node, channel_to, tmp_path):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", clock=fake_clock(),
                       solver_report_rate={"rate": 1, "burst": 5})
    ch = channel_to(node)
    flooder, honest = SolverClient(ch).connect(), SolverClient(ch).connect()
    for _ in range(5):                  # the burst: accepted
        flooder.fill(INTENT, "devnet-a", TX)
    flooder.heartbeat(1)
    assert flooder.wait_for("heartbeat_ack").seq == 1
    flooder.fill(INTENT, "devnet-a", TX)   # one over
    code, details = flooder.wait_closed()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "more fill reports and escrow mismatch reports than 1/s (burst 5, " \
           "intents.solver_report_rate)" in details
    honest.heartbeat(2)
    assert honest.wait_for("heartbeat_ack").seq == 2


def test_escrow_mismatch_reports_share_the_report_limit(solver_node, channel_to, tmp_path):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", clock=fake_clock(),
                       solver_report_rate={"rate": 1, "burst": 2})
    client = SolverClient(channel_to(node)).connect()
    client.fill(INTENT, "devnet-a", TX)
    for _ in range(2):
        client.send(escrow_mismatch=solver_pb2.EscrowMismatch(intent_id=INTENT, chain="devnet-a",
                                                              reason="other terms"))
    code, details = client.wait_closed()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED and "solver_report_rate" in details


def test_a_heartbeat_flood_disconnects_with_the_limit(solver_node, channel_to, tmp_path):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", clock=fake_clock(),
                       solver_heartbeat_rate={"rate": 1, "burst": 10})
    ch = channel_to(node)
    flooder, honest = SolverClient(ch).connect(), SolverClient(ch).connect()
    for seq in range(11):
        flooder.heartbeat(seq)
    code, details = flooder.wait_closed()
    assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "more heartbeats than 1/s (burst 10, intents.solver_heartbeat_rate)" in details
    assert len(flooder.of("heartbeat_ack")) <= 10   # the one over never reached the session
    wait_until(lambda: len(node.registry.paths("intents/solvers/session/")) == 1,
               what="the flooder's session actor to stop")
    honest.heartbeat(3)
    assert honest.wait_for("heartbeat_ack").seq == 3
