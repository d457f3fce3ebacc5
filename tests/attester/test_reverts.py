"""Reverts on a real devnet: a settlement that keeps reverting is retried then FAILED (and
the book told why); one that reverts because it lost a race to a refund is skipped."""

from __future__ import annotations

from eth_utils import keccak

from actors.attester import SettlementFailed

from .conftest import batches, open_and_fill, orders, poll, record_as_book, txs


def _drain_settler(a) -> None:
    """Zero the settler's USDC balance in storage (anvil), so every settle reverts in the
    token's transfer (InsufficientBalance), passed through by the settler."""
    holder = bytes.fromhex(a.settler.address[2:]).rjust(32, b"\0")
    balance = a.balance(a.settler.address)
    for slot in range(10):
        key = "0x" + keccak(holder + slot.to_bytes(32, "big")).hex()
        if int(a.rpc("eth_getStorageAt", a.usdc.address, key, "latest"), 16) == balance:
            a.rpc("anvil_setStorageAt", a.usdc.address, key, "0x" + "00" * 32)
            assert a.balance(a.settler.address) == 0
            return
    raise AssertionError("balance slot of TestToken not found")


def test_persistent_revert_is_retried_then_reported_failed(database_url, chains, roles,
                                                           attester_node):
    a, b = chains
    node, _, book = attester_node(database_url, max_retries=2)
    f = open_and_fill(a, b, roles["users"][0], roles["solver"], nonce=7001)
    record_as_book(node, a, b, f)
    b.mine()
    _drain_settler(a)

    assert poll(node)["devnet-a"]["sent"] is None
    first = orders(node)[f.id]
    assert (first.status, first.attempts) == ("retry", 1)
    assert "InsufficientBalance" in first.reason
    assert book.ask("seen") == []

    assert poll(node)["devnet-a"]["sent"] is None
    second = orders(node)[f.id]
    assert (second.status, second.attempts, second.reported) == ("failed", 2, True)
    [msg] = book.ask("seen")
    assert msg == SettlementFailed(f.id, second.reason)
    assert "InsufficientBalance" in msg.reason and "attempt 2 of 2" in msg.reason
    assert txs(node) == [] and a.escrow_status(f.order.order_id) == 1
    poll(node)
    assert len(book.ask("seen")) == 1                     # reported once


def test_mined_revert_after_losing_a_race_to_refund_is_skipped(database_url, chains, roles,
                                                               attester_node):
    a, b = chains
    user = roles["users"][0]
    node, _, book = attester_node(database_url)
    f = open_and_fill(a, b, user, roles["solver"], nonce=7101, fill_in=120)
    record_as_book(node, a, b, f)
    b.mine()
    a.rpc("evm_setAutomine", False)
    sent = poll(node)["devnet-a"]["sent"]                 # in the mempool, escrow Opened
    a.rpc("evm_increaseTime", 121)
    a.w3.eth.send_transaction({                           # a refund that outbids the settle
        "from": user.address, "to": a.settler.address, "gas": 200_000,
        "data": a.settler.encode_abi("refund", args=[f.order.order_id]),
        "maxFeePerGas": 500 * 10**9, "maxPriorityFeePerGas": 100 * 10**9})
    a.mine()
    assert a.rpc("eth_getTransactionReceipt", sent)["status"] == "0x0"
    assert a.escrow_status(f.order.order_id) == 3

    poll(node)
    assert [(t.tx_hash, t.status) for t in txs(node)] == [(sent, "reverted")]
    got = orders(node)[f.id]
    assert got.status == "skipped" and "Refunded" in got.reason and got.attempts == 0
    assert book.ask("seen") == []


def test_a_key_without_the_attester_role_settles_nothing_and_fails_nothing(
        database_url, chains, roles, attester_node):
    a, b = chains
    impostor = roles["users"][2]
    node, _, book = attester_node(database_url, key=impostor.private_key)
    f = open_and_fill(a, b, roles["users"][0], roles["solver"], nonce=7201)
    record_as_book(node, a, b, f)
    b.mine()
    for _ in range(2):
        got = poll(node)["devnet-a"]
        assert "is not the attester" in got["error"] and impostor.address in got["error"]
    assert txs(node) == [] and orders(node) == {} and book.ask("seen") == []
    assert a.escrow_status(f.order.order_id) == 1


def test_mined_revert_counts_an_attempt_and_fails_at_max_retries(database_url, chains, roles,
                                                                 attester_node):
    a, b = chains
    node, _, book = attester_node(database_url, max_retries=1)
    f = open_and_fill(a, b, roles["users"][0], roles["solver"], nonce=7301)
    record_as_book(node, a, b, f)
    b.mine()
    a.rpc("evm_setAutomine", False)
    sent = poll(node)["devnet-a"]["sent"]                 # estimated while it could pay
    _drain_settler(a)                                     # ... then the money is gone
    a.mine()
    assert a.rpc("eth_getTransactionReceipt", sent)["status"] == "0x0"

    poll(node)
    [batch] = batches(node)
    assert (batch.status, batch.outcome, batch.tx_hash) == ("done", "reverted", sent)
    got = orders(node)[f.id]
    assert (got.status, got.attempts, got.reported) == ("failed", 1, True)
    assert f"{sent} reverted in block" in got.reason and "InsufficientBalance" in got.reason
    assert book.ask("seen") == [SettlementFailed(f.id, got.reason)]
    assert poll(node)["devnet-a"]["sent"] is None          # FAILED: never picked up again
    assert [t.status for t in txs(node)] == ["reverted"] and len(book.ask("seen")) == 1
