"""The attester (one lease per origin chain, ``attester:<chain>``) and the bridge relayer
(lease ``relayer``) under two nodes on one PostgreSQL database (two Nodes in this process,
one key): only the holder settles and relays, the standby does nothing; when the holder
stops, the standby takes over, follows the batch in flight and settles nothing twice."""

from __future__ import annotations

from actors.attester import AttesterBatch
from runtime.node import Node
from runtime.store import Lease

from .conftest import open_and_fill, orders, poll, record_as_book, txs, wait_until
from .test_shared_key import _deposit, _relay


def owner(node: Node, lease: str) -> str | None:
    with node.store.connection():
        row = Lease.get_or_none(Lease.name == lease)
    return row.owner if row is not None and row.expires_at > 0 else None


def test_one_attester_and_one_relayer_across_two_nodes(pg_url, chains, roles, attester_node):
    a_chain, b_chain = chains
    solver, users = roles["solver"], roles["users"]
    a, _, _ = attester_node(pg_url, relayer=True, node={"name": "node-a"})
    b, b_clock, _ = attester_node(pg_url, relayer=True, node={"name": "node-b"})
    for lease in ("attester:devnet-a", "attester:devnet-b", "relayer"):
        assert owner(a, lease) == a.instance

    f = open_and_fill(a_chain, b_chain, users[0], solver, nonce=9301)
    record_as_book(a, a_chain, b_chain, f)
    b_chain.mine()
    d1 = _deposit(a, b_chain, users[1], 3 * 10**6, a_chain.info.chain_id, users[2].address)
    b_chain.mine()

    assert poll(b)["devnet-a"] == {"standby": "another node holds attester:devnet-a"}
    assert _relay(b) == {"standby": "another node holds the relayer lease"}
    assert txs(b) == []                                   # the standby sent nothing

    assert poll(a)["devnet-a"]["orders"] == [f.id]        # the holder settles
    assert _relay(a)[d1] == "sent"                        # and relays
    [settle] = txs(a)

    a.shutdown()                                          # graceful: leases released
    b_clock.advance(1.0)                                  # B's standby retries fire
    for lease in ("attester:devnet-a", "attester:devnet-b", "relayer"):
        wait_until(lambda lease=lease: owner(b, lease) == b.instance, timeout=10,
                   what=f"B takes {lease}")

    poll(b)                                               # follows A's batch: settled
    assert _relay(b)[d1] == "waiting"                     # A's release in flight: not again
    assert [t.id for t in txs(b)] == [settle.id]          # no second settle
    assert orders(b)[f.id].status == "settled"
    with b.store.connection():
        [batch] = list(AttesterBatch.select())
    assert batch.outcome == "settled"
    assert a_chain.escrow_status(f.order.order_id) == 2
    assert len(a_chain.settled_events(0)) >= 1
