"""AdminService/ListFundingAccounts through a real gRPC server, its store fallback when an
actor is down, and reload: adding/removing an account starts/stops exactly that actor."""

from __future__ import annotations

import grpc
import pytest

from orbital.v1 import admin_pb2, admin_pb2_grpc

from .conftest import ADMIN, ETH, default_account, fresh_address


@pytest.fixture
def admin(funding_node):
    channels = []

    def stub(fn):
        ch = grpc.insecure_channel(f"127.0.0.1:{fn.node.grpc_port}")
        channels.append(ch)
        return admin_pb2_grpc.AdminServiceStub(ch)
    yield stub
    for ch in channels:
        ch.close()


def listed(stub) -> dict[str, admin_pb2.FundingAccount]:
    reply = stub.ListFundingAccounts(admin_pb2.ListFundingAccountsRequest(), metadata=ADMIN,
                                     timeout=20)
    return {a.name: a for a in reply.accounts}


def test_list_funding_accounts_live_and_from_store(tmp_path, chain_a, treasury,
                                                   funding_node, admin):
    t1, t2 = fresh_address(), fresh_address()
    chain_a.set_balance(t1, 0)
    chain_a.set_balance(t2, 2 * ETH)
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {
        "one": default_account(t1, daily_cap="10"),
        "two": default_account(t2),
        "nokey": default_account(fresh_address(), source={"key": "${NO_SUCH_KEY:-}"})})
    assert sorted(fn.node.registry.paths("funding/")) == ["funding/one", "funding/two"]
    fn.poll("one")
    fn.poll("one")
    fn.poll("two")
    stub = admin(fn)

    accounts = listed(stub)
    assert sorted(accounts) == ["nokey", "one", "two"]
    one = accounts["one"]
    assert (one.chain, one.address, one.asset) == ("devnet-a", t1, "native")
    assert one.balance == str(3 * ETH) and one.state == "ok"
    assert one.min_balance == str(ETH) and one.target_balance == str(3 * ETH)
    assert one.remaining_daily_cap == str(7 * ETH)
    assert one.source == treasury.address and int(one.source_balance) > 0
    [top] = one.recent_top_ups
    assert top.status == "confirmed" and top.amount == str(3 * ETH)
    assert top.tx_hash.startswith("0x") and len(top.tx_hash) == 66
    assert top.created_at.seconds > 0 and top.confirmed_at.seconds > 0
    assert accounts["two"].balance == str(2 * ETH) and not accounts["two"].recent_top_ups
    assert accounts["nokey"].state == "error" and "no source key" in accounts["nokey"].last_error

    fn.node.stop_actor("funding/one")                       # down: answered from the store
    one = listed(stub)["one"]
    assert one.balance == str(3 * ETH) and one.state == "ok"
    assert one.remaining_daily_cap == str(7 * ETH)
    assert one.recent_top_ups[0].tx_hash == top.tx_hash
    assert "not answering" in one.last_error

    with pytest.raises(grpc.RpcError) as exc:
        stub.ListFundingAccounts(admin_pb2.ListFundingAccountsRequest(), timeout=10)
    assert exc.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_reload_adds_and_removes_exactly_one_account(tmp_path, chain_a, funding_node,
                                                     admin):
    a, b, c = (default_account(fresh_address()) for _ in range(3))
    for acct in (a, b, c):
        chain_a.set_balance(acct["address"], 2 * ETH)
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"a": a, "b": b})
    ref_a = fn.node.registry.lookup("funding/a")
    ref_b = fn.node.registry.lookup("funding/b")

    fn.write({"a": a, "b": b, "c": c})                      # add c (by AdminService)
    ch = grpc.insecure_channel(f"127.0.0.1:{fn.node.grpc_port}")
    try:
        reply = admin_pb2_grpc.AdminServiceStub(ch).ReloadConfig(
            admin_pb2.ReloadConfigRequest(), metadata=ADMIN, timeout=30)
    finally:
        ch.close()
    assert list(reply.started) == ["funding/c"]
    assert list(reply.stopped) == [] and list(reply.restarted) == []
    assert fn.node.registry.lookup("funding/a") is ref_a
    assert fn.node.registry.lookup("funding/b") is ref_b
    assert fn.poll("c").state == "ok"

    fn.write({"a": a, "c": c})                              # remove b (node.reload)
    result = fn.node.reload()
    assert result.stopped == ["funding/b"] and result.started == [] and result.restarted == []
    assert sorted(fn.node.registry.paths("funding/")) == ["funding/a", "funding/c"]
    assert fn.node.registry.lookup("funding/a") is ref_a

    fn.write({"a": a | {"min_balance": "1.5"}, "c": c})     # a changed: only a restarts
    result = fn.node.reload()
    assert result.restarted == ["funding/a"] and not result.started and not result.stopped
    assert fn.node.registry.lookup("funding/a") is not ref_a


def alerts_listed(stub, include_resolved=False) -> list[admin_pb2.Alert]:
    return list(stub.ListAlerts(admin_pb2.ListAlertsRequest(include_resolved=include_resolved),
                                metadata=ADMIN, timeout=20).alerts)


def wait_for(fn, timeout: float = 10.0):
    """Until ``fn()`` is truthy: the alerts actor applies tells asynchronously (bounds a
    failing test only)."""
    import time
    deadline = time.monotonic() + timeout
    while not (value := fn()):
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.02)
    return value


def test_source_low_alert_seen_through_list_alerts(tmp_path, chain_a, treasury, funding_node,
                                                   admin):
    target = fresh_address()
    chain_a.set_balance(target, 0)
    chain_a.set_balance(treasury.address, ETH)
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(target)},
                      real_alerts=True)
    stub = admin(fn)
    assert fn.poll("gas").state == "source_low"
    [alert] = wait_for(lambda: [a for a in alerts_listed(stub) if a.source == "funding/gas"])
    assert (alert.name, alert.state, alert.severity) == ("funding_source_low", "firing",
                                                         "critical")
    assert alert.labels["account"] == "gas" and alert.labels["chain"] == "devnet-a"

    chain_a.set_balance(treasury.address, 100 * ETH)
    assert fn.poll("gas").state == "topping_up"
    wait_for(lambda: not [a for a in alerts_listed(stub) if a.source == "funding/gas"])
    [done] = [a for a in alerts_listed(stub, True) if a.source == "funding/gas"]
    assert done.state == "resolved"
