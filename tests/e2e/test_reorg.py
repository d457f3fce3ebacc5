"""Reorgs on the origin chain (anvil_reorg): the watcher rolls back and re-indexes, and the
intent's status follows: the evidence that disappears moves it back, announced like any
transition; a reorg inside the confirmation window never shows up at all."""

from __future__ import annotations

from eth_abi import encode as abi_encode

from actors.book import IntentRow
from clients import IntentStatus, OrbitalClient
from protocol import parse_order_typed_data

from .conftest import settler, wait_until

S = IntentStatus


def _submit_and_open(node, devnet_info, w3, user_index: int):
    a = devnet_info.chains[0]
    user = [x for x in devnet_info.accounts if "user" in x.roles][user_index]
    opener = devnet_info.account("operator")
    client = OrbitalClient(f"127.0.0.1:{node.grpc_port}")
    quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 10**7, user.address)
    intent = client.sign_and_submit(quote, user.private_key)
    with node.store.connection():
        sig = IntentRow.get_by_id(intent.id).signature
    order = parse_order_typed_data(quote.typed_data)
    call = settler(w3, a.contracts.settler).functions.openFor(
        order.to_abi(), bytes.fromhex(sig[2:]), abi_encode(["address"], [opener.address]))
    tx = call.transact({"from": opener.address})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    return client, intent, call, opener, receipt


def test_reorg_above_confirmations_moves_the_intent_back_then_forward(system, devnet_info, w3s):
    node = system()
    w3 = w3s[0]
    client, intent, call, opener, receipt = _submit_and_open(node, devnet_info, w3, 2)
    wait_until(lambda: client.get(intent.id).status is S.OPENED, what="OPENED")
    depth = w3.eth.block_number - receipt["blockNumber"] + 1
    reply = w3.provider.make_request("anvil_reorg", [depth, []])   # the Open's block is gone
    assert "error" not in reply, reply
    back = wait_until(lambda: (i := client.get(intent.id)).status is S.PENDING and i, what="back to PENDING")
    assert "reorg on devnet-a" in back.history[-1].reason
    # The chain includes the open again (a new block, a new hash): OPENED again.
    tx = call.transact({"from": opener.address})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    final = wait_until(lambda: (i := client.get(intent.id)).status is S.OPENED and i, what="OPENED again")
    assert [t.status for t in final.history] == [S.PENDING, S.OPENED, S.PENDING, S.OPENED]
    assert final.history[1].evidence.block_hash != final.history[3].evidence.block_hash
    client.close()


def test_reorg_within_the_confirmation_window_is_never_seen(system, devnet_info, w3s):
    node = system(confirmations=3)
    w3 = w3s[0]
    client, intent, call, opener, receipt = _submit_and_open(node, devnet_info, w3, 3)
    w3.provider.make_request("anvil_reorg", [1, []])          # before 3 confirmations
    w3.provider.make_request("anvil_mine", [5])
    head = w3.eth.block_number
    wait_until(lambda: node.registry.ask("chains/watcher/devnet-a", _status())["indexed"] >= head - 3,
               what="the watcher past the reorged block")
    got = client.get(intent.id)
    assert got.status is S.PENDING and [t.status for t in got.history] == [S.PENDING]
    client.close()


def _status():
    from actors.chain_watcher import WatcherStatus
    return WatcherStatus()


def test_a_reorged_conflicting_open_gives_the_intent_its_signed_terms_back(system, devnet_info, w3s):
    """The user opens order B (same nonce as the submitted A, other terms): the intent follows
    B. A reorg removes that Open: the intent is A again, PENDING, its signed terms restored."""
    import dataclasses

    from eth_account import Account
    node = system()
    w3 = w3s[0]
    a = devnet_info.chains[0]
    user = [x for x in devnet_info.accounts if "user" in x.roles][4]
    client = OrbitalClient(f"127.0.0.1:{node.grpc_port}")
    quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 10**7, user.address)
    intent = client.sign_and_submit(quote, user.private_key)
    order_a = parse_order_typed_data(quote.typed_data)
    order_b = dataclasses.replace(order_a, order=dataclasses.replace(order_a.order,
                                                                     input_amount=1, output_amount=1))
    sig_b = bytes(Account.sign_typed_data(user.private_key, full_message=order_b.typed_data()).signature)
    tx = settler(w3, a.contracts.settler).functions.openFor(order_b.to_abi(), sig_b, b"") \
        .transact({"from": user.address})
    receipt = w3.eth.wait_for_transaction_receipt(tx)
    assert receipt["status"] == 1
    conflicted = wait_until(lambda: (i := client.get(intent.id)).status is S.OPENED and i,
                            what="OPENED by the conflicting open")
    assert conflicted.history[-1].finding == "conflicting_open"
    assert (conflicted.input_amount, conflicted.min_output_amount) == (1, 1)
    depth = w3.eth.block_number - receipt["blockNumber"] + 1
    assert "error" not in w3.provider.make_request("anvil_reorg", [depth, []])
    back = wait_until(lambda: (i := client.get(intent.id)).status is S.PENDING and i,
                      what="back to PENDING")
    assert "reorg on devnet-a" in back.history[-1].reason
    assert (back.input_amount, back.min_output_amount) == (order_a.order.input_amount,
                                                          order_a.order.output_amount)
    assert back.fill_deadline.timestamp() == order_a.fill_deadline
    client.close()
