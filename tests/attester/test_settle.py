"""The attester on a real devnet (anvil) and a real Node, on SQLite and PostgreSQL: batched
settlement, settlement depth, restart between record and send, stuck-transaction
replacement, escrows no longer Opened, and forged fill evidence."""

from __future__ import annotations

from eth_utils import keccak

import json

import pytest

from actors.attester import Attester, SettlementFailed

from .conftest import (ONE_USDC, batches, bogus_fill, open_and_fill, orders, poll,
                       record_as_book, txs)


def test_settles_a_batch_of_three_filled_orders_in_one_tx(database_url, chains, roles,
                                                          attester_node):
    a, b = chains
    solver, users = roles["solver"], roles["users"]
    node, _, book = attester_node(database_url)
    start = a.head() + 1
    fills = [open_and_fill(a, b, u, solver, nonce=1001) for u in users[:3]]
    for f in fills:
        record_as_book(node, a, b, f)
    b.mine()                                              # the last fill reaches depth 1
    before = a.balance(solver.address)

    sent = poll(node)["devnet-a"]
    assert sorted(sent["orders"]) == sorted(f.id for f in fills)
    [row], [batch] = txs(node), batches(node)
    assert json.loads(batch.order_ids) == sent["orders"] and row.tx_hash == sent["sent"]
    assert json.loads(batch.fillers) == [solver.address] * 3
    assert row.reference == f"settle:{batch.id}" and row.purpose == "settle"
    assert row.sender == roles["attester"].address and row.sent_at is not None

    poll(node)                                            # reconcile: receipt -> settled
    assert [t.status for t in txs(node)] == ["mined"]
    assert [(b.status, b.outcome, b.tx_hash) for b in batches(node)] == \
        [("done", "settled", row.tx_hash)]
    assert {o.status for o in orders(node).values()} == {"settled"}
    settled = a.settled_events(start)
    assert sorted("0x" + e["orderId"].hex() for e in settled) == sorted(f.id for f in fills)
    assert all(e["filler"] == solver.address for e in settled)
    assert a.balance(solver.address) == before + 3 * 10 * ONE_USDC
    assert all(a.escrow_status(f.order.order_id) == 2 for f in fills)

    # The book has not moved them to SETTLED yet (the watcher would): never settled twice.
    again = poll(node)["devnet-a"]
    assert again["sent"] is None and again["skipped"] == 3
    assert len(txs(node)) == 1 and len(a.settled_events(start)) == 3
    assert {o.status for o in orders(node).values()} == {"settled"}
    assert book.ask("seen") == []


def test_waits_for_settlement_depth(database_url, chains, roles, attester_node):
    a, b = chains
    node, _, _ = attester_node(database_url, settlement_depth=3)
    f = open_and_fill(a, b, roles["users"][0], roles["solver"], nonce=2001)
    record_as_book(node, a, b, f)
    assert b.head() == f.fill_block
    for _ in range(2):
        assert poll(node)["devnet-a"]["sent"] is None
        b.mine()
    assert b.head() - f.fill_block == 2 and poll(node)["devnet-a"]["sent"] is None
    assert txs(node) == []
    b.mine()
    assert poll(node)["devnet-a"]["orders"] == [f.id]


def test_restart_between_record_and_send_settles_exactly_once(database_url, chains, roles,
                                                              attester_node):
    a, b = chains
    solver = roles["solver"]
    node, _, _ = attester_node(database_url)
    start = a.head() + 1
    fills = [open_and_fill(a, b, u, solver, nonce=3001) for u in roles["users"][:2]]
    for f in fills:
        record_as_book(node, a, b, f)
    b.mine()
    before = a.balance(solver.address)
    crashes = []

    def crash_once(row):
        if not crashes:
            crashes.append(row.tx_hash)
            raise RuntimeError("simulated crash after record, before send")
    Attester.after_record = crash_once

    with pytest.raises(RuntimeError, match="simulated crash"):
        poll(node)
    [row] = txs(node)
    assert row.sent_at is None and row.tx_hash == crashes[0]
    assert a.settled_events(start) == []                  # recorded, never broadcast

    poll(node)                                            # restarted: reconcile -> broadcast
    poll(node)                                            # receipt -> settled
    assert [(t.tx_hash, t.status) for t in txs(node)] == [(crashes[0], "mined")]
    assert len(a.settled_events(start)) == 2
    assert a.balance(solver.address) == before + 2 * 10 * ONE_USDC
    assert poll(node)["devnet-a"]["sent"] is None and len(txs(node)) == 1


def test_stuck_transaction_is_replaced_with_higher_fees(database_url, chains, roles,
                                                        attester_node):
    a, b = chains
    node, clock, _ = attester_node(database_url, replace_after=5)
    start = a.head() + 1
    f = open_and_fill(a, b, roles["users"][0], roles["solver"], nonce=4001)
    record_as_book(node, a, b, f)
    b.mine()
    a.rpc("evm_setAutomine", False)

    first = poll(node)["devnet-a"]["sent"]
    assert poll(node)["devnet-a"]["inflight"] == [first]  # no receipt, not yet stuck
    clock.advance(6)
    poll(node)
    old, new = txs(node)
    assert (old.tx_hash, new.replaces, new.nonce) == (first, old.id, old.nonce)
    assert new.max_fee >= old.max_fee * 1.125 and new.priority_fee >= old.priority_fee * 1.125
    assert new.sent_at is not None

    a.mine()
    poll(node)
    assert [(t.tx_hash, t.status) for t in txs(node)] == [(old.tx_hash, "replaced"),
                                                          (new.tx_hash, "mined")]
    receipt = a.rpc("eth_getTransactionReceipt", new.tx_hash)
    assert receipt["status"] == "0x1"
    assert a.rpc("eth_getTransactionReceipt", old.tx_hash) is None
    assert ["0x" + e["orderId"].hex() for e in a.settled_events(start)] == [f.id]


def test_orders_already_settled_or_refunded_are_skipped(database_url, chains, roles,
                                                        attester_node):
    a, b = chains
    solver, users = roles["solver"], roles["users"]
    node, _, book = attester_node(database_url)
    settled = open_and_fill(a, b, users[0], solver, nonce=5001)
    refunded = open_and_fill(a, b, users[1], solver, nonce=5001, fill_in=120)
    fresh = open_and_fill(a, b, users[2], solver, nonce=5001)
    a.send(a.settler.functions.settle([settled.order.order_id], [solver.address],
                                      [keccak(settled.origin_data)]),
           roles["attester"])                              # settled behind the book's back
    a.rpc("evm_increaseTime", 121)
    a.mine()
    a.send(a.settler.functions.refund(refunded.order.order_id), users[3])
    for f in (settled, refunded, fresh):
        record_as_book(node, a, b, f)
    b.mine()

    round_ = poll(node)["devnet-a"]
    assert round_["orders"] == [fresh.id] and round_["skipped"] == 2
    got = orders(node)
    assert got[settled.id].status == "skipped" and "Settled" in got[settled.id].reason
    assert got[refunded.id].status == "skipped" and "Refunded" in got[refunded.id].reason
    poll(node)
    assert a.escrow_status(fresh.order.order_id) == 2
    assert [t.status for t in txs(node)] == ["mined"]
    assert book.ask("seen") == []                         # skipped is not FAILED


def test_bad_fill_evidence_is_not_settled_and_reported_failed(database_url, chains, roles,
                                                              attester_node):
    a, b = chains
    solver, users, attacker = roles["solver"], roles["users"], roles["users"][5]
    node, _, book = attester_node(database_url)
    f = open_and_fill(a, b, users[0], solver, nonce=6001)
    bogus = bogus_fill(a, b, f, attacker)
    # A book that went wrong: FILLED on the strength of the bogus fill.
    record_as_book(node, a, b, f, fill_receipt=bogus)
    g = open_and_fill(a, b, users[1], solver, nonce=6001)
    record_as_book(node, a, b, g, min_output=10**30)      # evidence below the minimum
    b.mine()

    round_ = poll(node)["devnet-a"]
    assert round_["sent"] is None and txs(node) == []
    assert a.escrow_status(f.order.order_id) == 1 and a.escrow_status(g.order.order_id) == 1
    got = orders(node)
    assert got[f.id].status == "failed" and "no fill of the escrow's originData" in got[f.id].reason
    assert "(a fill of other originData)" in got[f.id].reason and "recipient" in got[f.id].reason
    assert "amount 1 below the minimum" in got[f.id].reason and got[f.id].reported
    assert got[g.id].status == "failed" and "below the minimum" in got[g.id].reason
    seen = book.ask("seen")
    assert {m.intent_id for m in seen} == {f.id, g.id}
    assert all(isinstance(m, SettlementFailed) and m.reason for m in seen)
    assert poll(node)["devnet-a"]["sent"] is None          # stays unsettled
    assert len(book.ask("seen")) == 2


def test_recorded_nonce_taken_by_another_tx_is_dropped_and_orders_resettled(
        database_url, chains, roles, attester_node):
    a, b = chains
    attester = roles["attester"]
    node, _, _ = attester_node(database_url)
    start = a.head() + 1
    f = open_and_fill(a, b, roles["users"][0], roles["solver"], nonce=8001)
    record_as_book(node, a, b, f)
    b.mine()

    def crash(row):
        raise RuntimeError("simulated crash after record, before send")
    Attester.after_record = crash
    with pytest.raises(RuntimeError):
        poll(node)
    Attester.after_record = None
    [lost] = txs(node)
    # While the attester is down, its account spends that nonce on something else.
    a.w3.eth.wait_for_transaction_receipt(a.w3.eth.send_transaction(
        {"from": attester.address, "to": attester.address, "value": 1, "nonce": lost.nonce}))

    round_ = poll(node)["devnet-a"]                       # reconcile: dropped; then resend
    assert round_["orders"] == [f.id]
    old, new = txs(node)
    assert (old.tx_hash, old.status) == (lost.tx_hash, "dropped")
    assert new.nonce == lost.nonce + 1
    poll(node)
    assert [t.status for t in txs(node)] == ["dropped", "mined"]
    assert [(b.outcome, b.tx_hash) for b in batches(node)] == [("lost", old.tx_hash),
                                                             ("settled", new.tx_hash)]
    assert ["0x" + e["orderId"].hex() for e in a.settled_events(start)] == [f.id]


def test_a_settle_the_node_refuses_is_tried_again_after_replace_after(database_url, chains,
                                                                      roles, attester_node):
    a, b = chains
    attester = roles["attester"]
    node, clock, book = attester_node(database_url, replace_after=5)
    start = a.head() + 1
    f = open_and_fill(a, b, roles["users"][0], roles["solver"], nonce=4101)
    record_as_book(node, a, b, f)
    b.mine()
    funds = a.rpc("eth_getBalance", attester.address, "latest")
    a.rpc("anvil_setBalance", attester.address, "0x0")     # no gas money: refused

    assert poll(node)["devnet-a"]["status"] == "failed"
    [refused] = txs(node)
    assert refused.status == "failed" and "insufficient funds" in refused.error.lower()
    again = poll(node)["devnet-a"]                        # orders back; no new row yet
    assert again["sent"] is None and "insufficient funds" in again["refused"].lower()
    assert [b.outcome for b in batches(node)] == ["lost"] and len(txs(node)) == 1
    got = orders(node)[f.id]
    assert (got.status, got.attempts) == ("retry", 0)     # not the order's fault

    a.rpc("anvil_setBalance", attester.address, funds)
    clock.advance(6)
    poll(node)                   # (the advance may fire the actor's own round first)
    poll(node)
    old, new = txs(node)
    assert (old.status, new.status, new.nonce) == ("failed", "mined", refused.nonce)
    assert ["0x" + e["orderId"].hex() for e in a.settled_events(start)] == [f.id]
    assert orders(node)[f.id].status == "settled" and book.ask("seen") == []
