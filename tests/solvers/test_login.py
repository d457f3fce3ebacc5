"""GetChallenge and the hello: the round trip, and every refusal class with its status,
its message and the field at fault. A refused hello leaves no session actor behind."""

from __future__ import annotations

import functools
import re

import grpc
import pytest
from eth_account import Account

from clients import field_violations
from orbital.v1 import admin_pb2, admin_pb2_grpc, solver_pb2
from tests._devnet import offline_devnet

from .conftest import ADMIN, SolverClient, fake_clock, wait_until

SESSIONS = "intents/solvers/session/"


@pytest.fixture
def solver_node(solver_node, tmp_path):
    """The package's ``solver_node`` with the chains of a devnet.json alone: login checks
    chain and token names against the config and never reads a chain, so no devnet runs
    (the watchers wait on RPC ports nothing listens on)."""
    return functools.partial(solver_node, devnet=offline_devnet(tmp_path / "devnet"))


@pytest.fixture
def node(solver_node, tmp_path):
    return solver_node(f"sqlite:///{tmp_path}/orbital.db")


def sessions(node) -> list[str]:
    return node.registry.paths(SESSIONS)


def refused(client: SolverClient, **connect) -> tuple[grpc.StatusCode, str, list]:
    client.connect(welcome=False, **connect)
    code, details = client.wait_closed()
    assert not client.of("welcome"), "a refused hello must not get a Welcome"
    return code, details, field_violations(client.error)


def test_challenge_round_trip(node, channel_to):
    client = SolverClient(channel_to(node))
    before = node.clock.wall()
    challenge = client.challenge()
    after = node.clock.wall()
    text = challenge.message
    assert f"solver: {client.address}" in text and "node: node-1" in text
    assert re.search(r"nonce: [0-9a-f]{32}", text) and re.search(r"mac: [0-9a-f]{64}", text)
    # intents.challenge_ttl default 60 s from when it was issued, whole seconds up
    assert before + 60 <= challenge.expires_at.seconds <= after + 61

    client.connect(hello=client.hello(challenge=text))
    welcome = client.of("welcome")[0]
    assert welcome.session_id and welcome.heartbeat_interval_seconds == 1
    assert welcome.heartbeat_timeout_seconds == 3
    client.heartbeat(41)
    assert client.wait_for("heartbeat_ack").seq == 41
    assert sessions(node) == [SESSIONS + client.address.lower()]
    assert client.messages[0].WhichOneof("kind") == "welcome"   # Welcome first
    client.cancel()
    wait_until(lambda: not sessions(node), what="the session actor to stop")


def test_challenge_refuses_a_bad_address(node, channel_to):
    client = SolverClient(channel_to(node))
    stub, addr = client.stub, client.address
    i = next(i for i, ch in enumerate(addr) if i > 1 and ch.isalpha())
    wrong_checksum = addr[:i] + addr[i].swapcase() + addr[i + 1:]
    for bad in ("", "0x1234", "not an address", "0x" + "g" * 40, wrong_checksum,
                addr[2:], "0x" + "0" * 40, "0x" + "a" * 1_000_000):
        with pytest.raises(grpc.RpcError) as err:
            stub.GetChallenge(solver_pb2.GetChallengeRequest(solver=bad))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field_violations(err.value)[0][0] == "solver"


def test_first_message_must_be_hello(node, channel_to):
    client = SolverClient(channel_to(node))
    code, details, fields = refused(
        client, first=solver_pb2.SolverMessage(heartbeat=solver_pb2.Heartbeat(seq=1)))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "first message of a session must be a hello" in details and "heartbeat" in details
    assert fields[0][0] == "hello"
    empty = SolverClient(channel_to(node))
    code, details, _ = refused(empty, first=solver_pb2.SolverMessage())
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "empty message" in details
    assert not sessions(node)


def test_expired_challenge(solver_node, channel_to, tmp_path):
    clock = fake_clock()
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", clock=clock, challenge_ttl=5)
    client = SolverClient(channel_to(node))
    hello = client.hello()
    clock.advance(7)
    code, details, fields = refused(client, hello=hello)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "expired at" in details and "GetChallenge" in details
    assert fields[0][0] == "hello.challenge"
    assert not sessions(node)


def test_reused_challenge(node, channel_to):
    client = SolverClient(channel_to(node))
    hello = client.hello()
    client.connect(hello=hello)
    client.cancel()
    wait_until(lambda: not sessions(node), what="the first session to end")
    again = SolverClient(channel_to(node), client.account)
    code, details, fields = refused(again, hello=hello)
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "already used" in details and fields[0][0] == "hello.challenge"
    assert not sessions(node)


def test_wrong_signer(node, channel_to):
    client = SolverClient(channel_to(node))
    other = Account.create()
    code, details, fields = refused(client, hello=client.hello(signer=other))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert f"recovers {other.address}, not hello.solver {client.address}" in details
    assert fields[0][0] == "hello.signature"
    assert not sessions(node)


@pytest.mark.parametrize("signature, why", [
    ("", "65-byte"), ("0x1234", "65-byte"), ("0x" + "00" * 65, "does not recover")])
def test_malformed_signature(node, channel_to, signature, why):
    client = SolverClient(channel_to(node))
    hello = client.hello()
    hello.signature = signature
    code, details, fields = refused(client, hello=hello)
    assert code == grpc.StatusCode.UNAUTHENTICATED and why in details
    assert fields[0][0] == "hello.signature"


def test_forged_challenge(node, channel_to):
    client = SolverClient(channel_to(node))
    text = client.challenge().message
    nonce = re.search(r"nonce: ([0-9a-f]{32})", text)[1]
    forged = text.replace(nonce, ("0" if nonce[0] != "0" else "1") + nonce[1:])  # new nonce, old mac
    code, details, fields = refused(client, hello=client.hello(challenge=forged))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert "not issued by this node" in details and fields[0][0] == "hello.challenge"
    # a longer expiry, a challenge made up from scratch: the same answer
    later = re.sub(r"expires: \d{4}", "expires: 2999", text)
    code, details, _ = refused(SolverClient(channel_to(node), client.account),
                               hello=client.hello(challenge=later))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "not issued by this node" in details
    code, details, _ = refused(SolverClient(channel_to(node), client.account),
                               hello=client.hello(challenge="please let me in"))
    assert code == grpc.StatusCode.UNAUTHENTICATED and "not a challenge from GetChallenge" in details
    assert not sessions(node)


def test_challenge_of_another_solver(node, channel_to):
    alice, mallory = SolverClient(channel_to(node)), SolverClient(channel_to(node))
    text = alice.challenge().message
    # mallory signs alice's challenge with her own key and claims to be herself
    code, details, _ = refused(mallory, hello=mallory.hello(challenge=text))
    assert code == grpc.StatusCode.UNAUTHENTICATED
    assert f"issued for {alice.address}, not for hello.solver {mallory.address}" in details


def test_not_an_allowed_solver(solver_node, channel_to, tmp_path):
    allowed = Account.create()
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db",
                       allowed_solvers=[allowed.address.lower()])
    stranger = SolverClient(channel_to(node))
    code, details, fields = refused(stranger)
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert "allowed_solvers" in details and fields[0][0] == "hello.solver"
    assert not sessions(node)
    SolverClient(channel_to(node), allowed).connect()   # the allowed one gets in
    assert sessions(node) == [SESSIONS + allowed.address.lower()]


@pytest.mark.parametrize("chains, tokens, field, text", [
    ((), (), "hello.chains", "is empty"),
    (("devnet-a", "mainnet"), (), "hello.chains[1]", "unknown chain 'mainnet'"),
    (("31337", "999"), (), "hello.chains[1]", "unknown chain '999'"),
    (("devnet-a",), ("USDC", "DOGE"), "hello.tokens[1]", "unknown token 'DOGE'"),
    (("devnet-a",), ("0x" + "11" * 20,), "hello.tokens[0]", "unknown token"),
])
def test_unknown_chain_or_token(node, channel_to, chains, tokens, field, text):
    client = SolverClient(channel_to(node))
    code, details, fields = refused(client, chains=chains, tokens=tokens)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and text in details
    assert fields[0][0] == field
    assert not sessions(node)


HUGE = "x" * 1_000_000


def restarts(node, channel) -> int:
    tree = admin_pb2_grpc.AdminServiceStub(channel).GetTree(admin_pb2.GetTreeRequest(),
                                                            metadata=ADMIN)
    return sum(a.restarts for a in tree.actors)


@pytest.mark.parametrize("chains, tokens, field, text", [
    (["devnet-a"] * 10_000, (), "hello.chains", "10000 entries; at most 256"),
    (("devnet-a",), ["USDC"] * 10_000, "hello.tokens", "10000 entries; at most 256"),
    (("devnet-a", HUGE), (), "hello.chains[1]", "1000000 characters long"),
    (("devnet-a",), ("USDC", HUGE), "hello.tokens[1]", "1000000 characters long"),
    (("devnet-a", "9" * 5000), (), "hello.chains[1]", "5000 characters long"),
    (("devnet-a", "9" * 50), (), "hello.chains[1]", "unknown chain '99999"),
    (("devnet-a", "\u00b2"), (), "hello.chains[1]", "unknown chain"),   # int("²") raises
])
def test_oversized_or_odd_hello_is_refused_precisely(node, channel_to, chains, tokens, field,
                                                     text):
    """Oversized lists and names end the hello with INVALID_ARGUMENT naming the entry (not
    INTERNAL, not a status message too big for the trailers); no session starts."""
    client = SolverClient(channel_to(node))
    code, details, fields = refused(client, chains=chains, tokens=tokens)
    assert code == grpc.StatusCode.INVALID_ARGUMENT and text in details
    assert fields[0][0] == field and len(details) < 1000
    assert not sessions(node)
    assert restarts(node, channel_to(node)) == 0


def test_duplicate_chains_and_tokens_are_one_capability(node, channel_to):
    client = SolverClient(channel_to(node)).connect(
        chains=("devnet-a", "devnet-a", "31337"), tokens=("USDC", "usdc"))
    client.heartbeat(7)
    assert client.wait_for("heartbeat_ack").seq == 7
    assert sessions(node) == [SESSIONS + client.address.lower()]


def test_second_session_for_the_same_solver(node, channel_to):
    first = SolverClient(channel_to(node)).connect()
    second = SolverClient(channel_to(node), first.account)
    code, details, fields = refused(second)
    assert code == grpc.StatusCode.ALREADY_EXISTS
    assert f"{first.address} already has a session" in details
    assert fields[0][0] == "hello.solver"
    first.heartbeat(1)
    assert first.wait_for("heartbeat_ack").seq == 1   # the first session is untouched
    assert sessions(node) == [SESSIONS + first.address.lower()]


def test_no_hello_at_all(solver_node, channel_to, tmp_path):
    node = solver_node(f"sqlite:///{tmp_path}/orbital.db", heartbeat_interval=0.1,
                       heartbeat_timeout=0.3)
    client = SolverClient(channel_to(node))
    client.call = client.stub.Session(client._requests())   # opens, never says hello
    client.start_reading()
    code, details = client.wait_closed()
    assert code == grpc.StatusCode.DEADLINE_EXCEEDED and "no hello within 0.3s" in details
