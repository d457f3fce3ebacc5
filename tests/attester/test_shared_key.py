"""One key, two actors, one chain: on the devnet account 1 is both the attester and the
bridge relayer. Both send through chains.evm.txsend, whose nonce counter is shared per
(chain, address) in the process, so their transactions never take the same nonce.

The order of sends is the one that broke the attester's former private sender (which read
the pending nonce from the chain while the relayer's TxSender counted locally): the
relayer sends first (its counter is now ahead), the attester second, the relayer again.
With automine off all three are in the mempool at once; then they are mined, all of them.
"""

from __future__ import annotations

import time

from actors.bridge_relayer import RelayPoll
from chains.evm.ingest import event_rows, insert_events
from chains.evm.txsend import EvmTx

from .conftest import ONE_USDC, open_and_fill, orders, poll, record_as_book

RELAYER = "chains/relayer"


def _deposit(node, chain, sender, amount: int, dest_chain_id: int, recipient: str) -> str:
    """A real deposit on ``chain``'s bridge, indexed as the watcher would (chain_event)."""
    receipt = chain.send(chain.bridge.functions.deposit(chain.usdc.address, amount,
                                                        dest_chain_id, recipient), sender)
    rows = event_rows(chain.name, receipt["logs"])
    with node.store.connection() as db, db.atomic():
        insert_events(db, rows)
    [dep] = [r for r in rows if r[6] == "BridgeDeposit"]
    return dep[7]


def _relay(node) -> dict:
    deadline = time.monotonic() + 20
    while not node.registry.paths(RELAYER):
        assert time.monotonic() < deadline, "relayer not started"
        time.sleep(0.02)
    return node.registry.ask(RELAYER, RelayPoll(), timeout=20)


def _txs(node) -> list[EvmTx]:
    with node.store.connection():
        return list(EvmTx.select().order_by(EvmTx.nonce, EvmTx.id))


def test_attester_and_relayer_on_one_key_never_collide(database_url, chains, roles,
                                                       attester_node):
    a, b = chains
    key_owner = roles["attester"].address
    solver, users = roles["solver"], roles["users"]
    node, _, _ = attester_node(database_url, relayer=True)
    f = open_and_fill(a, b, users[0], solver, nonce=9201)
    record_as_book(node, a, b, f)
    b.mine()
    d1 = _deposit(node, b, users[1], 3 * ONE_USDC, a.info.chain_id, users[2].address)
    b.mine()                                              # the deposit at settlement depth 1
    start = a.w3.eth.get_transaction_count(key_owner)
    recipient_before = a.balance(users[2].address)
    a.rpc("evm_setAutomine", False)

    assert _relay(node)[d1] == "sent"                     # relayer: nonce start
    assert poll(node)["devnet-a"]["orders"] == [f.id]     # attester: start + 1
    d2 = _deposit(node, b, users[1], 4 * ONE_USDC, a.info.chain_id, users[2].address)
    b.mine()
    got = _relay(node)
    assert (got[d1], got[d2]) == ("waiting", "sent")      # relayer again: start + 2

    pending = a.rpc("txpool_content")["pending"]
    [(_, by_nonce)] = [(k, v) for k, v in pending.items() if k.lower() == key_owner.lower()]
    assert sorted(int(n) for n in by_nonce) == [start, start + 1, start + 2]
    a.mine()
    a.rpc("evm_setAutomine", True)

    poll(node)                                            # the attester sees its receipt
    _relay(node)                                          # the relayer sees its receipts
    rows = _txs(node)
    assert [(r.owner, r.nonce, r.status) for r in rows] == [
        (RELAYER, start, "mined"), ("intents/attester", start + 1, "mined"),
        (RELAYER, start + 2, "mined")]
    assert {r.sender for r in rows} == {key_owner}
    assert a.w3.eth.get_transaction_count(key_owner) == start + 3
    assert orders(node)[f.id].status == "settled" and a.escrow_status(f.order.order_id) == 2
    assert a.balance(users[2].address) == recipient_before + 7 * ONE_USDC
