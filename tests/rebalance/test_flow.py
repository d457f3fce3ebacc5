"""Strategy end to end on the devnet: imbalance -> approve + deposit -> BridgeDeposit and
BridgeRelease indexed by the real watchers -> released -> weights in band; admin view."""

from __future__ import annotations


from .conftest import ONE_USDC


def test_imbalance_moves_through_bridge_until_in_band(rebalance_node, chains, roles, tmp_path):
    a, b = chains
    op, out = roles["operator"].address, roles["outsider"].address
    start = {c.name: c.head() + 1 for c in chains}
    before_a, before_b = a.balance(op), b.balance(op)
    assert before_a == before_b                       # the devnet mints evenly
    b.send(b.usdc.functions.transfer(out, 600_000 * ONE_USDC), op)        # B now poor
    a.send(a.usdc.functions.approve(a.bridge.address, 0), op)            # approve needed
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db")

    h.until(lambda: [m for m in h.moves() if m.status == "released"], "move released")
    [move] = h.moves()
    need = (before_a - (before_b - 600_000 * ONE_USDC)) // 2
    assert (move.from_chain, move.to_chain, move.amount) == ("devnet-a", "devnet-b", need)
    assert move.deposit_id and move.deposit_tx and move.release_tx and move.finished_at

    # on chain: one approve + one deposit from the operator, one release to it
    [dep] = a.logs("BridgeDeposit", start["devnet-a"])
    [rel] = b.logs("BridgeRelease", start["devnet-b"])
    assert "0x" + dep["depositId"].hex() == move.deposit_id == "0x" + rel["depositId"].hex()
    assert (dep["sender"], dep["recipient"], dep["amount"]) == (op, op, need)
    assert (rel["recipient"], rel["amount"]) == (op, need)
    purposes = [t.purpose for t in h.txs("rebalance/usdc")]
    assert purposes == ["rebalance-approve", "rebalance-deposit"]
    assert a.balance(op) == b.balance(op) == before_a - need

    status = h.poll("usdc")
    assert status["in_band"] and status["state"] == "ok"
    assert len(h.moves()) == 1                          # in band: nothing more

    s = h.list_strategies()["usdc"]
    assert (s.token, s.dry_run, s.in_band, s.state) == ("USDC", False, True, "ok")
    w = {x.chain: x for x in s.weights}
    assert w["devnet-a"].weight == w["devnet-b"].weight == 0.5
    assert w["devnet-a"].target == 0.5 and int(w["devnet-a"].balance) == before_a - need
    assert not s.in_flight
    [hist] = s.history
    assert (hist.id, hist.status, hist.amount, hist.deposit_tx, hist.release_tx) == \
        (move.id, "released", str(need), move.deposit_tx, move.release_tx)
    assert hist.HasField("started_at") and hist.HasField("finished_at")


def test_second_imbalance_while_in_flight_starts_nothing(rebalance_node, chains, roles,
                                                        tmp_path):
    a, b = chains
    op, out = roles["operator"].address, roles["outsider"].address
    start_a = a.head() + 1
    b.send(b.usdc.functions.transfer(out, 600_000 * ONE_USDC), op)
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db", relayer=False)
    h.until(lambda: [m for m in h.moves() if m.status == "deposited"], "deposit indexed")

    # a second, bigger imbalance while the first move waits for its release
    b.send(b.usdc.functions.transfer(out, 300_000 * ONE_USDC), op)
    for _ in range(10):
        h.step()
    status = h.poll("usdc")
    assert not status["in_band"] and status["state"] == "moving"
    assert [m.status for m in h.moves()] == ["deposited"]
    assert len(a.logs("BridgeDeposit", start_a)) == 1
    assert [t.purpose for t in h.txs("rebalance/usdc")] == ["rebalance-deposit"]
    [inflight] = h.list_strategies()["usdc"].in_flight
    assert inflight.status == "deposited"


def test_dry_run_records_the_plan_and_sends_nothing(rebalance_node, chains, roles, tmp_path):
    a, b = chains
    op, out = roles["operator"].address, roles["outsider"].address
    b.send(b.usdc.functions.transfer(out, 600_000 * ONE_USDC), op)
    nonces = (a.nonce(op), b.nonce(op))
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db",
                       {"dry": {"dry_run": "true", "cooldown": 30}})
    h.step()
    [m] = h.moves("dry")
    assert (m.status, m.from_chain, m.to_chain) == ("dry_run", "devnet-a", "devnet-b")
    assert m.amount == 300_000 * ONE_USDC and m.finished_at is not None
    for _ in range(5):                                  # cooldown: no new plan yet
        h.step()
    assert len(h.moves("dry")) == 1
    h.clock.advance(31)
    h.step()
    assert [m.status for m in h.moves("dry")] == ["dry_run", "dry_run"]
    assert h.txs() == [] and (a.nonce(op), b.nonce(op)) == nonces
    s = h.list_strategies()["dry"]
    assert s.dry_run and not s.in_flight and [x.status for x in s.history] == ["dry_run"] * 2


def test_min_transfer_blocks_a_small_move(rebalance_node, chains, roles, tmp_path):
    a, b = chains
    op, out = roles["operator"].address, roles["outsider"].address
    b.send(b.usdc.functions.transfer(out, 200_000 * ONE_USDC), op)     # needs 100k
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db",
                       {"usdc": {"min_transfer": "'150000'", "tolerance": 0.01}})
    status = h.poll("usdc")
    assert not status["in_band"] and "below min_transfer" in status["reason"]
    assert h.moves() == [] and h.txs() == []
