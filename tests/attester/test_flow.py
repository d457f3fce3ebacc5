"""The real pipeline on a real Node: chain watchers index the devnet, the intent book turns
Open/Filled into OPENED/FILLED, the attester settles, the watcher sees Settled and the book
moves the intent to SETTLED; a fill of the same order id with other originData is recorded
as a foreign fill (never settled) and the real one is settled once. SQLite and PostgreSQL."""

from __future__ import annotations

from actors.attester import Poll
from actors.book import IntentRow, IntentTransition
from chains.evm.txsend import EvmTx

from .conftest import ONE_USDC, Filled, bogus_fill, open_order, wait_until


def _intent(node, oid: str) -> IntentRow | None:
    with node.store.connection():
        return IntentRow.get_or_none(IntentRow.id == oid)


def test_open_fill_settle_through_watchers_and_book(database_url, chains, roles, full_node):
    a, b = chains
    solver, users = roles["solver"], roles["users"]
    node = full_node(database_url)
    before, start = a.balance(solver.address), a.head() + 1
    order, origin_data = open_order(a, b, users[0], solver, nonce=9001)
    # A made-up fill of the same order id first (a foreign fill), then the real one: the
    # history has them in this order whichever chain the watchers index first.
    bogus = bogus_fill(a, b, Filled(order, origin_data, {}), users[5])
    f = Filled(order, origin_data, b.send(b.settler.functions.fill(order.order_id, origin_data, b""),
                                          solver))
    b.mine()                                # settlement depth 1

    row = wait_until(lambda: (r := _intent(node, f.id)) is not None and r.status == "SETTLED"
                     and r, what="intent SETTLED")
    assert row.fill_tx == f.fill_receipt["transactionHash"] and row.filler == solver.address
    with node.store.connection():
        entries = list(IntentTransition.select()
                       .where(IntentTransition.intent == f.id).order_by(IntentTransition.version))
        sent = _txs(node)
    assert [(t.status, t.finding) for t in entries[-4:]] == [
        ("OPENED", ""), ("OPENED", "foreign_fill"), ("FILLED", ""), ("SETTLED", "")]
    assert entries[-3].tx_hash == bogus["transactionHash"] and entries[-3].solver == users[5].address
    assert len(sent) == 1 and sent[0].status in ("pending", "mined")  # receipt: next round
    assert a.escrow_status(f.order.order_id) == 2
    assert a.balance(solver.address) == before + 10 * ONE_USDC   # the escrow went to the filler
    assert ["0x" + e["orderId"].hex() for e in a.settled_events(start)] == [f.id]
    wait_until(lambda: [t.status for t in _txs(node)] == ["mined"], what="receipt reconciled")
    for _ in range(2):                    # more rounds (the book may lag): nothing is sent
        assert node.registry.ask("intents/attester", Poll())["devnet-a"]["sent"] is None
    assert len(_txs(node)) == 1 and len(a.settled_events(start)) == 1


def _txs(node):
    with node.store.connection():
        return list(EvmTx.select().where(EvmTx.owner == "intents/attester"))
