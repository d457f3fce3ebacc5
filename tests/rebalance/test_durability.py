"""Crashes and restarts mid-move never make a second deposit; a stuck move alerts once."""

from __future__ import annotations

from actors.rebalance import ALERT_STUCK, Strategy
from actors.alerts import RaiseAlert, ResolveAlert

from .conftest import ONE_USDC


class Crash(Exception):
    pass


def test_restart_mid_move_makes_no_second_deposit_postgres(rebalance_node, chains, roles,
                                                           pg_url):
    a, b = chains
    op, out = roles["operator"].address, roles["outsider"].address
    start_a, start_b = a.head() + 1, b.head() + 1
    b.send(b.usdc.functions.transfer(out, 600_000 * ONE_USDC), op)
    h = rebalance_node(pg_url, relayer=False)
    h.until(lambda: [m for m in h.moves() if m.status == "deposited"], "deposit indexed")
    [move] = h.moves()
    nonce = a.nonce(op)
    rebalance_node.stop(h)

    # restarted without the relayer: the move is followed, nothing new is sent
    h2 = rebalance_node(pg_url, relayer=False)
    for _ in range(8):
        h2.step()
    assert [(m.id, m.status) for m in h2.moves()] == [(move.id, "deposited")]
    assert a.nonce(op) == nonce and len(a.logs("BridgeDeposit", start_a)) == 1
    rebalance_node.stop(h2)

    # restarted with the relayer: released, still exactly one deposit and one release
    h3 = rebalance_node(pg_url)
    h3.until(lambda: [m for m in h3.moves() if m.status == "released"], "released")
    assert len(a.logs("BridgeDeposit", start_a)) == 1
    assert len(b.logs("BridgeRelease", start_b)) == 1
    assert [t.purpose for t in h3.txs("rebalance/usdc")] == ["rebalance-deposit"]
    assert h3.poll("usdc")["in_band"]


def test_crash_between_record_and_broadcast_sends_the_recorded_deposit_once(
        rebalance_node, chains, roles, tmp_path):
    a, b = chains
    op, out = roles["operator"].address, roles["outsider"].address
    start_a = a.head() + 1
    b.send(b.usdc.functions.transfer(out, 600_000 * ONE_USDC), op)
    crashed = []

    def crash_once(row):
        if not crashed:
            crashed.append(row.tx_hash)
            raise Crash("after record, before broadcast")
    Strategy.after_record = staticmethod(crash_once)
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db")
    h.until(lambda: [m for m in h.moves() if m.status == "released"], "released")
    assert crashed
    [dep] = a.logs("BridgeDeposit", start_a)
    assert dep["tx"] == crashed[0]                      # the recorded bytes, sent after restart
    [tx] = h.txs("rebalance/usdc")
    assert (tx.tx_hash, tx.status) == (crashed[0], "mined")
    assert len(h.moves()) == 1


def test_stuck_move_alerts_once_after_timeout_and_resolves_on_release(rebalance_node, chains,
                                                                      roles, tmp_path):
    a, b = chains
    op, out = roles["operator"].address, roles["outsider"].address
    b.send(b.usdc.functions.transfer(out, 600_000 * ONE_USDC), op)
    db = f"sqlite:///{tmp_path}/orbital.db"
    h = rebalance_node(db, relayer=False)                # nobody releases
    h.until(lambda: [m for m in h.moves() if m.status == "deposited"], "deposit indexed")
    h.clock.advance(30)
    h.step()
    assert [m.status for m in h.moves()] == ["deposited"] and not h.alerts_seen()
    h.clock.advance(31)                                  # past move_timeout (60 s)
    h.step()
    [move] = h.moves()
    assert move.status == "stuck" and move.alerted
    [alert] = h.alerts_seen()
    assert isinstance(alert, RaiseAlert)
    assert (alert.name, alert.source) == (ALERT_STUCK, "rebalance/usdc")
    assert alert.labels["deposit_id"] == move.deposit_id
    for _ in range(3):
        h.step()
    assert len(h.alerts_seen()) == 1                     # raised once
    b.send(b.usdc.functions.transfer(out, 100_000 * ONE_USDC), op)
    h.step()
    assert len(h.moves()) == 1                           # stuck is still in flight
    assert h.list_strategies()["usdc"].in_flight[0].status == "stuck"
    rebalance_node.stop(h)

    h2 = rebalance_node(db)                               # the relayer is back
    h2.until(lambda: [m for m in h2.moves() if m.status == "released"], "released late")
    assert [type(x) for x in h2.alerts_seen()][:1] == [ResolveAlert]
    assert h2.alerts_seen()[0].name == ALERT_STUCK


def test_move_stuck_before_its_deposit_is_mined_alerts_then_completes(rebalance_node, chains,
                                                                      roles, tmp_path):
    a, b = chains
    op, out = roles["operator"].address, roles["outsider"].address
    start_a = a.head() + 1
    b.send(b.usdc.functions.transfer(out, 600_000 * ONE_USDC), op)
    a.rpc("evm_setAutomine", False)                       # the deposit stays in the mempool
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db")
    h.step()
    [move] = h.moves()
    assert move.status == "planned" and [t.status for t in h.txs("rebalance/usdc")] == ["pending"]
    h.clock.advance(61)
    h.step()
    [move] = h.moves()
    assert move.status == "stuck" and move.deposit_id == ""
    assert [x.name for x in h.alerts_seen()] == [ALERT_STUCK]
    txs = h.txs("rebalance/usdc")
    assert len({t.nonce for t in txs}) == 1 and len(txs) == 2   # replaced: same nonce, one move
    a.rpc("evm_mine")
    h.until(lambda: [m for m in h.moves() if m.status == "released"], "released after all")
    assert len(a.logs("BridgeDeposit", start_a)) == 1
    seen = h.alerts_seen()
    assert [type(x) for x in seen] == [RaiseAlert, ResolveAlert]
    assert sorted(t.status for t in h.txs("rebalance/usdc")) == ["mined", "replaced"]
