"""The refund path at the attester: an OPENED intent (real openFor, never filled) whose
fillDeadline has passed on its origin chain is refunded when the keeper's message
(RefundDue) arrives: the attester sends ``refund(orderId)`` through its TxSender, the
watcher indexes Refunded, the book marks REFUNDED and the user has the input back. Not
before the deadline, and only once. Real watchers, book and devnet; SQLite and PostgreSQL."""

from __future__ import annotations

from actors.attester import RefundDue
from actors.book import IntentRow, IntentTransition
from chains.evm.txsend import EvmTx

from .conftest import PATH, ONE_USDC, open_order, wait_until


def _intent(node, oid: str) -> IntentRow | None:
    with node.store.connection():
        return IntentRow.get_or_none(IntentRow.id == oid)


def _refund_txs(node) -> list[EvmTx]:
    with node.store.connection():
        return list(EvmTx.select().where((EvmTx.owner == PATH) & (EvmTx.purpose == "refund"))
                    .order_by(EvmTx.id))


def test_expired_opened_intent_is_refunded_through_the_attester(database_url, chains, roles,
                                                                full_node):
    a, b = chains
    user, solver = roles["users"][3], roles["solver"]
    node = full_node(database_url)
    before = a.balance(user.address)
    order, _ = open_order(a, b, user, solver, nonce=9101, amount=12 * ONE_USDC, fill_in=300)
    oid = "0x" + order.order_id.hex()
    assert a.balance(user.address) == before - 12 * ONE_USDC
    wait_until(lambda: (r := _intent(node, oid)) is not None and r.status == "OPENED",
               what="intent OPENED")

    # Not expired yet on the origin chain: nothing is sent.
    assert node.registry.ask(PATH, RefundDue(), timeout=20) == 0
    assert _refund_txs(node) == [] and a.escrow_status(order.order_id) == 1

    # The origin chain's clock passes fillDeadline.
    a.rpc("evm_setNextBlockTimestamp", hex(order.fill_deadline + 1))
    a.mine()
    assert a.now() > order.fill_deadline
    assert node.registry.ask(PATH, RefundDue(), timeout=20) == 1
    [tx] = _refund_txs(node)
    assert tx.reference == f"refund:{oid}" and tx.sender == roles["attester"].address

    row = wait_until(lambda: (r := _intent(node, oid)) is not None and r.status == "REFUNDED"
                     and r, what="intent REFUNDED")
    assert row.status == "REFUNDED"
    assert a.escrow_status(order.order_id) == 3
    assert a.balance(user.address) == before                  # the input is back
    with node.store.connection():
        history = [t.status for t in IntentTransition.select()
                   .where(IntentTransition.intent == oid).order_by(IntentTransition.version)]
    assert history[-2:] == ["OPENED", "REFUNDED"]
    wait_until(lambda: [t.status for t in _refund_txs(node)] == ["mined"],
               what="refund receipt followed")
    # Asked again: the intent is no longer OPENED (and its escrow is Refunded): nothing sent.
    assert node.registry.ask(PATH, RefundDue(), timeout=20) == 0
    assert len(_refund_txs(node)) == 1
