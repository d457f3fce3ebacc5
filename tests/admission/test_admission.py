"""SubmitIntent and the auction rounds against the origin chain: refusals with the check, the
numbers and the fix; re-checks before a round; an origin chain that cannot be read."""

from __future__ import annotations

import grpc
import pykka
import pytest

from actors import ADMISSION_PATH
from actors.admission import CheckOrder
from clients import from_rpc_error, from_status, precondition_violations
from orbital.v1 import intents_pb2
from runtime.testing import wait_until
from tests.solvers.conftest import SolverClient, fake_clock

from .conftest import ONE_USDC, make_order, signed_request

P = intents_pb2
FP = grpc.StatusCode.FAILED_PRECONDITION


def _submit(stub, acct, **kw):
    order = make_order(acct, **kw)
    return order, stub.SubmitIntent(signed_request(order, acct.key.hex()))


def _refused(stub, acct, code=FP, **kw) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as err:
        _submit(stub, acct, **kw)
    assert err.value.code() == code, err.value.details()
    return err.value


def _nothing_stored(stub):
    assert list(stub.ListIntents(P.ListIntentsRequest()).intents) == []


def test_unfunded_order_is_refused_with_the_balance_and_nothing_is_stored(admission_node, chain_a):
    node, stub = admission_node()
    user = chain_a.user(funded=0, approved=10**30)
    err = _refused(stub, user, nonce=1, amount=100 * ONE_USDC)
    token, settler = chain_a.usdc.address, chain_a.settler.address
    assert err.details().startswith("not executable on devnet-a at block ")
    assert f"balance 0 < 100000000: fund {user.address} with 100000000 more of the input token " \
           f"{token}" in err.details()
    assert precondition_violations(err) == [
        ("BALANCE", token, f"balance 0 < 100000000: fund {user.address} with 100000000 "
                                   f"more of the input token {token}")]
    assert settler  # the allowance was enough: only the balance is named
    assert from_rpc_error(err).preconditions == precondition_violations(err)
    _nothing_stored(stub)


def test_a_batch_refuses_its_unexecutable_orders_one_by_one(admission_node, chain_a):
    """SubmitIntents: each order is admitted as SubmitIntent admits it; the refused ones
    are their own FAILED_PRECONDITION results with the PreconditionFailure detail."""
    node, stub = admission_node()
    rich = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    poor = chain_a.user(funded=0, approved=10**30)
    orders = [make_order(rich, nonce=1), make_order(poor, nonce=1), make_order(rich, nonce=2)]
    reply = stub.SubmitIntents(P.SubmitIntentsRequest(orders=[
        signed_request(o, a.key.hex()) for o, a in zip(orders, (rich, poor, rich))]))
    assert [r.WhichOneof("result") for r in reply.results] == ["intent", "error", "intent"]
    err = from_status(reply.results[1].error)
    assert err.code == FP and err.message.startswith("not executable on devnet-a at block ")
    assert [(k, s) for k, s, _ in err.preconditions] == [("BALANCE", chain_a.usdc.address)]
    assert sorted(i.id for i in stub.ListIntents(P.ListIntentsRequest()).intents) == \
        sorted("0x" + o.order_id.hex() for o in (orders[0], orders[2]))


def test_unapproved_order_is_refused_with_the_allowance(admission_node, chain_a):
    node, stub = admission_node()
    user = chain_a.user(funded=500 * ONE_USDC, approved=0)
    err = _refused(stub, user, nonce=1, amount=100 * ONE_USDC)
    token, settler = chain_a.usdc.address, chain_a.settler.address
    expected = (f"allowance 0 < 100000000: approve the settler {settler} for the input token "
                f"{token} (at least 100000000)")
    assert expected in err.details()
    assert precondition_violations(err) == [("ALLOWANCE", token, expected)]
    _nothing_stored(stub)


def test_burnt_nonce_is_refused_and_a_fresh_nonce_is_accepted(admission_node, chain_a):
    node, stub = admission_node()
    user = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    chain_a.send(chain_a.settler.functions.invalidateNonce(5), user.address)
    err = _refused(stub, user, nonce=5)
    [(kind, subject, description)] = precondition_violations(err)
    assert (kind, subject) == ("NONCE", chain_a.settler.address)
    assert description.startswith(f"nonce 5 of {user.address} is already used on the settler")
    _nothing_stored(stub)
    _, got = _submit(stub, user, nonce=6)
    assert got.status == P.INTENT_STATUS_PENDING


def test_allowance_revoked_before_the_auction_is_not_auctioned_and_history_says_why(
        admission_node, chain_a, tmp_path):
    node, stub = admission_node()
    user = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    order, got = _submit(stub, user, nonce=1)          # admitted; no solver yet: no round
    chain_a.send(chain_a.usdc.functions.approve(chain_a.settler.address, 0), user.address)
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()            # the round would start now
        entry = wait_until(lambda: [h for h in stub.GetIntent(P.GetIntentRequest(id=got.id)).history
                                    if h.finding == "not_executable"], what="not_executable entry")[0]
        assert entry.status == P.INTENT_STATUS_PENDING
        assert "allowance 0 < 100000000: approve the settler" in entry.reason
        assert entry.reason.endswith("not auctioned")
        assert solver.of("offer") == []                # checked before any offer was sent
        # approved again: the next re-check lets the round run
        chain_a.send(chain_a.usdc.functions.approve(chain_a.settler.address, 10**30), user.address)
        offer = solver.wait_for("offer")
        assert offer.intent.id == got.id
        history = stub.GetIntent(P.GetIntentRequest(id=got.id)).history
        assert [h.finding for h in history].count("not_executable") == 1   # once per cause
        solver.cancel()
    finally:
        ch.close()


def test_a_reauction_after_a_lapsed_award_is_checked_again(admission_node, chain_a):
    """The winner never opens; meanwhile the user revokes the allowance: the re-auction
    that follows the lapse is not held (the node's timers on a FakeClock)."""
    clock = fake_clock()
    node, stub = admission_node(clock=clock, intents={"auction_window": 0.25, "exclusivity": 5,
                                                      "heartbeat_timeout": 100})
    user = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        idle, backup = SolverClient(ch).connect(), SolverClient(ch).connect()
        _, got = _submit(stub, user, nonce=1)
        for s in (idle, backup):
            s.wait_for("offer", lambda m: m.intent.id == got.id)
        idle.bid(got.id, 99_500_000)
        idle.heartbeat(1)
        idle.wait_for("heartbeat_ack", lambda m: m.seq == 1)   # the bid reached the book
        clock.advance(0.3)
        idle.wait_for("award", lambda m: m.intent_id == got.id)
        chain_a.send(chain_a.usdc.functions.approve(chain_a.settler.address, 0), user.address)
        clock.advance(5.1)                                     # the award lapses
        entry = wait_until(lambda: [h for h in stub.GetIntent(P.GetIntentRequest(id=got.id)).history
                                    if h.finding == "not_executable"], what="not_executable entry")[0]
        assert "allowance 0 < 100000000" in entry.reason
        history = stub.GetIntent(P.GetIntentRequest(id=got.id)).history
        assert [h.status for h in history] == [P.INTENT_STATUS_PENDING, P.INTENT_STATUS_ASSIGNED,
                                               P.INTENT_STATUS_PENDING, P.INTENT_STATUS_PENDING]
        assert len(backup.of("offer")) == 1                    # the re-auction was not held
        idle.cancel()
        backup.cancel()
    finally:
        ch.close()


def test_one_balance_does_not_back_two_concurrent_rounds(admission_node, chain_a):
    """150 USDC, two orders of 100, each admitted alone: when a solver connects both rounds
    would start; the second check counts what the first round holds, so only one is
    offered (its openFor would revert after the first one's). The first round stays open
    for the whole test (a long window), so the second is re-checked and held throughout."""
    node, stub = admission_node(intents={"auction_window": 60})
    user = chain_a.user(funded=150 * ONE_USDC, approved=10**30)
    _, first = _submit(stub, user, nonce=1)
    _, second = _submit(stub, user, nonce=2)
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()
        offered = solver.wait_for("offer").intent.id
        held = second.id if offered == first.id else first.id
        entry = wait_until(lambda: [h for h in stub.GetIntent(P.GetIntentRequest(id=held)).history
                                    if h.finding == "not_executable"], what="not_executable entry")[0]
        assert "balance 150000000 < 200000000 (100000000 for this order + 100000000 held by 1 " \
               "other order(s)" in entry.reason
        assert [o.intent.id for o in solver.of("offer")] == [offered]
        solver.cancel()
    finally:
        ch.close()


class _Swallow(pykka.ThreadingActor):
    """Stands at intents/admission and never answers: an admission that died with the
    book's check in its mailbox."""

    def __init__(self) -> None:
        super().__init__()
        self.got: list = []

    def on_receive(self, message):
        self.got.append(message)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_lost_check_is_sent_again_after_retry_interval(admission_node, chain_a):
    clock = fake_clock()
    node, stub = admission_node(clock=clock, intents={"retry_interval": 1})
    user = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    _, got = _submit(stub, user, nonce=1)              # checked by the real admission
    real = node.registry.lookup(ADMISSION_PATH)
    lost = _Swallow.start()
    try:
        node.registry.register(ADMISSION_PATH, lost)
        ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
        try:
            solver = SolverClient(ch).connect()        # the round's check goes nowhere
            wait_until(lambda: lost.proxy().got.get(), what="the check to be sent")
            node.registry.register(ADMISSION_PATH, real)   # admission is back
            assert solver.of("offer") == []
            clock.advance(1.1)                         # the watchdog: the check again
            assert solver.wait_for("offer").intent.id == got.id
            solver.cancel()
        finally:
            ch.close()
    finally:
        lost.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unreachable_origin_refuses_with_unavailable(admission_node, chain_a):
    node, stub = admission_node(dead_origin=True)
    user = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    err = _refused(stub, user, grpc.StatusCode.UNAVAILABLE, nonce=1)
    assert "devnet-a cannot be read" in err.details() and "retry" in err.details()
    _nothing_stored(stub)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_unreachable_origin_accepts_and_holds_the_auction(admission_node, chain_a):
    node, stub = admission_node(admission={"on_unreachable": "accept"}, dead_origin=True)
    user = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    _, got = _submit(stub, user, nonce=1)
    assert got.status == P.INTENT_STATUS_PENDING
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()
        checks = node.metrics.registry   # the checks before the round fail: no offer is made

        def unreadable() -> float:
            return checks.get_sample_value("orbital_admission_checks_total",
                                           {"result": "unreadable"}) or 0

        wait_until(lambda: unreadable() >= 3, what="re-checks before the round")
        assert solver.of("offer") == []
        history = stub.GetIntent(P.GetIntentRequest(id=got.id)).history
        assert [h.status for h in history] == [P.INTENT_STATUS_PENDING]   # nothing known: no entry
        solver.cancel()
    finally:
        ch.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_admission_off_accepts_an_unfunded_order(admission_node, chain_a):
    node, stub = admission_node(admission={"enabled": False})
    user = chain_a.user()
    _, got = _submit(stub, user, nonce=1)
    assert got.status == P.INTENT_STATUS_PENDING
    assert ADMISSION_PATH not in node.registry.paths("intents/")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_checks_are_batched_and_cached_per_block(admission_node, chain_a):
    node, stub = admission_node(admission={"head_ttl": 60})
    user = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    settler, token = chain_a.settler.address, chain_a.usdc.address
    check = CheckOrder("devnet-a", user.address, token, settler, ONE_USDC, 1)
    first = node.registry.ask(ADMISSION_PATH, check)
    assert first.ok
    chain_a.send(chain_a.usdc.functions.approve(settler, 0), user.address)
    # within head_ttl the head (and every read at it) is reused: the same block, same verdict
    again = node.registry.ask(ADMISSION_PATH, check)
    assert again == first


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("head_ttl, checks", [(60, 1), (0, 2)])
def test_the_first_round_uses_the_submissions_check_while_it_is_fresh(admission_node, chain_a,
                                                                      head_ttl, checks):
    """A solver is connected, so the round starts as the order is accepted: within
    ``head_ttl`` the check the submission passed stands for the round's (admission would
    answer it from the same head and cache); a stale one (head_ttl 0) is asked again."""
    node, stub = admission_node(admission={"head_ttl": head_ttl})
    user = chain_a.user(funded=500 * ONE_USDC, approved=500 * ONE_USDC)
    ch = grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}")
    try:
        solver = SolverClient(ch).connect()
        _, got = _submit(stub, user, nonce=1)
        assert solver.wait_for("offer").intent.id == got.id
        ok = node.metrics.registry.get_sample_value("orbital_admission_checks_total",
                                                    {"result": "ok"})
        assert ok == checks
        solver.cancel()
    finally:
        ch.close()
