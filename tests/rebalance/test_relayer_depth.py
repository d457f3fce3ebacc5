"""The relayer releases a deposit only once it is ``settlement_depth`` blocks deep on its
origin chain and its block is still the one indexed: a reorg that replaces the deposit
with another deposit under the same id (ids count deposits) pays the new deposit's
recipient once, and never the recipient of the deposit that is gone.

Driven as the other relayer tests: the FakeClock ticks the watchers only in
``Harness.step``, so between steps the indexed rows stay as they are while the chain moves
(mined blocks, ``anvil_reorg``), and ``RelayPoll`` runs a relayer round at a chosen moment.
"""

from __future__ import annotations

import pytest

from actors.bridge_relayer import REORGED, SHALLOW, wait_reason
from chains.evm.models import ChainEvent
from actors.rebalance import deposit_data

from .conftest import ONE_USDC, RELAYER
from .test_relayer import deposit

DEPTH = 3
R1 = "0x1111111111111111111111111111111111111111"
R2 = "0x2222222222222222222222222222222222222222"


def indexed(h, deposit_id: str) -> ChainEvent | None:
    with h.store.connection():
        return ChainEvent.get_or_none((ChainEvent.name == "BridgeDeposit")
                                      & (ChainEvent.order_id == deposit_id))


def mine_to_depth(chain, block: int, depth: int) -> None:
    chain.mine(block + depth - chain.head())
    assert chain.head() - block == depth


def test_a_deposit_waits_until_settlement_depth_then_is_released_once(
        rebalance_node, chains, roles, tmp_path):
    a, b = chains
    start_b = b.head() + 1
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db", {},
                       chain_opts={"settlement_depth": DEPTH})
    dep = deposit(a, roles["operator"].address, 4 * ONE_USDC, b.info.chain_id, R1)
    block = a.head()
    h.until(lambda: indexed(h, dep), "the deposit indexed")
    for depth in range(DEPTH):                       # 0 .. DEPTH-1 blocks above it
        mine_to_depth(a, block, depth)
        h.step()
        assert not b.logs("BridgeRelease", start_b), f"released at depth {depth}"
        assert h.relay().get(dep) == SHALLOW
    assert h.relays() == [] and h.txs(RELAYER) == []   # waiting records nothing

    mine_to_depth(a, block, DEPTH)
    assert h.relay()[dep] == "sent"
    h.until(lambda: b.logs("BridgeRelease", start_b), "the release mined")
    for _ in range(4):
        h.step()
    [rel] = b.logs("BridgeRelease", start_b)
    assert ("0x" + rel["depositId"].hex(), rel["recipient"], rel["amount"]) \
        == (dep, R1, 4 * ONE_USDC)
    assert b.balance(R1) == 4 * ONE_USDC and len(h.txs(RELAYER)) == 1


def test_a_reorg_replacing_a_deposit_under_its_id_releases_the_new_one_once(
        rebalance_node, chains, roles, tmp_path):
    a, b = chains
    op = roles["operator"].address
    start_b = b.head() + 1
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db", {},
                       chain_opts={"settlement_depth": DEPTH})

    # D1: 5 USDC to R1, indexed, not deep enough: not released
    dep_id = deposit(a, op, 5 * ONE_USDC, b.info.chain_id, R1)
    block = a.head()
    old_hash = a.w3.eth.get_block(block)["hash"].to_0x_hex()
    h.until(lambda: indexed(h, dep_id), "D1 indexed")
    mine_to_depth(a, block, DEPTH - 1)
    h.step()
    assert not b.logs("BridgeRelease", start_b), "released before settlement_depth"
    assert h.relay().get(dep_id) == SHALLOW
    assert indexed(h, dep_id).block_hash == old_hash

    # The reorg: D1's block and the ones above it replaced; the new branch's first block
    # holds D2 (7 USDC to R2) from the same account at the same nonce. D2 is the bridge's
    # deposit number depositCount again, so it has D1's id.
    d2 = {"from": op, "to": a.bridge.address, "gas": hex(300_000),
          "data": deposit_data(a.usdc.address, 7 * ONE_USDC, b.info.chain_id, R2)}
    a.rpc("anvil_reorg", a.head() - block + 1, [[d2, 0]])
    [new] = [e for e in a.logs("BridgeDeposit", block) if "0x" + e["depositId"].hex() == dep_id]
    assert (new["recipient"], new["amount"]) == (R2, 7 * ONE_USDC)
    assert a.w3.eth.get_block(block)["hash"].to_0x_hex() != old_hash

    # Deep enough by count, but the indexed row (the watcher has not ticked) is D1's, whose
    # block is gone: not released.
    mine_to_depth(a, block, DEPTH)
    assert indexed(h, dep_id).block_hash == old_hash
    assert h.relay().get(dep_id) == REORGED
    assert not b.logs("BridgeRelease", start_b), "released a deposit that is gone"
    assert h.relays() == [] and h.txs(RELAYER) == []

    # The watcher rolls D1 back and indexes D2 under the same id: D2 released, once, to R2.
    h.until(lambda: b.logs("BridgeRelease", start_b), "D2 released")
    for _ in range(4):
        h.step()
    [rel] = b.logs("BridgeRelease", start_b)
    assert ("0x" + rel["depositId"].hex(), rel["recipient"], rel["amount"]) \
        == (dep_id, R2, 7 * ONE_USDC)
    assert b.balance(R2) == 7 * ONE_USDC and b.balance(R1) == 0
    assert [t.reference for t in h.txs(RELAYER)] == [dep_id]
    assert indexed(h, dep_id).event.recipient == R2


@pytest.mark.parametrize(("block", "head", "depth", "canonical", "expected"), [
    (10, 12, 3, {}, SHALLOW),                       # 2 deep of 3
    (10, 13, 3, {10: "0xaa"}, None),                # deep and canonical
    (10, 13, 3, {10: "0xbb"}, REORGED),             # another block at that height now
    (10, 13, 3, {10: ""}, REORGED),                 # the chain has no such block
    (10, 10, 0, {10: "0xaa"}, None),                # depth 0: the head block itself
])
def test_wait_reason(block, head, depth, canonical, expected):
    assert wait_reason(block, "0xAA", head, depth, canonical) == expected
