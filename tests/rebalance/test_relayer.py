"""The bridge relayer: each indexed deposit released once on its destination, also after a
restart and when a release already happened on chain."""

from __future__ import annotations

from web3.logs import DISCARD

from actors.bridge_relayer import BridgeRelayer

from .conftest import ONE_USDC, RELAYER


def deposit(chain, sender: str, amount: int, dest_chain_id: int, recipient: str) -> str:
    r = chain.send(chain.bridge.functions.deposit(chain.usdc.address, amount, dest_chain_id,
                                                  recipient), sender)
    [ev] = chain.bridge.events.BridgeDeposit().process_receipt(r, errors=DISCARD)
    return "0x" + ev["args"]["depositId"].hex()


def test_relayer_releases_each_deposit_once_also_after_restart(rebalance_node, chains, roles,
                                                               tmp_path):
    a, b = chains
    op, relayer = roles["operator"].address, roles["relayer"].address
    user = roles["outsider"].address
    start_a, start_b = a.head() + 1, b.head() + 1
    ids_ab = [deposit(a, op, (i + 1) * ONE_USDC, b.info.chain_id, user) for i in range(3)]
    id_ba = deposit(b, op, 7 * ONE_USDC, a.info.chain_id, user)
    # one already released by hand (the relayer key is an unlocked anvil account)
    b.send(b.bridge.functions.release(bytes.fromhex(ids_ab[0][2:]), b.usdc.address, ONE_USDC,
                                      user, a.info.chain_id), relayer)
    user_b, user_a = b.balance(user), a.balance(user)
    db = f"sqlite:///{tmp_path}/orbital.db"
    h = rebalance_node(db, {})
    assert RELAYER in h.node.registry.paths("chains/")
    h.until(lambda: len(b.logs("BridgeRelease", start_b)) == 3 and
            len(a.logs("BridgeRelease", start_a)) == 1, "three releases on B, one on A")
    released = sorted("0x" + e["depositId"].hex() for e in b.logs("BridgeRelease", start_b))
    assert released == sorted(ids_ab)
    assert ["0x" + e["depositId"].hex() for e in a.logs("BridgeRelease", start_a)] == [id_ba]
    assert b.balance(user) == user_b + 2 * ONE_USDC + 3 * ONE_USDC
    assert a.balance(user) == user_a + 7 * ONE_USDC
    h.step()                                  # the relayer's sender sees the receipts
    relayer_txs = h.txs("chains/relayer")
    assert sorted(t.reference for t in relayer_txs) == sorted(ids_ab[1:] + [id_ba])
    assert all(t.status == "mined" for t in relayer_txs)
    # the hand-released deposit: nothing sent for it (skipped as indexed-released, or
    # found released on chain when the deposit was indexed before the release)
    r = {r.deposit_id: r for r in h.relays()}.get(ids_ab[0])
    assert r is None or (r.status == "released" and r.tx_hash == "")
    nonces = (a.nonce(relayer), b.nonce(relayer))
    rebalance_node.stop(h)

    h2 = rebalance_node(db, {})
    for _ in range(8):
        h2.step()
    assert (a.nonce(relayer), b.nonce(relayer)) == nonces
    assert len(b.logs("BridgeRelease", start_b)) == 3 and len(h2.txs("chains/relayer")) == 3
    # a new deposit after the restart is relayed as well, once
    new_id = deposit(a, op, 5 * ONE_USDC, b.info.chain_id, user)
    h2.until(lambda: len(b.logs("BridgeRelease", start_b)) == 4, "the new deposit released")
    for _ in range(4):
        h2.step()
    assert len(b.logs("BridgeRelease", start_b)) == 4
    assert [t.reference for t in h2.txs("chains/relayer")][-1] == new_id


def test_relayer_not_started_without_key(rebalance_node, chains, tmp_path):
    h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db", {}, relayer=False)
    assert RELAYER not in h.node.registry.paths("chains/")
    assert "chains/watcher/devnet-a" in h.node.registry.paths("chains/")


def test_relayer_crash_between_record_and_broadcast_releases_once(rebalance_node, chains,
                                                                  roles, tmp_path):
    a, b = chains
    op, user = roles["operator"].address, roles["outsider"].address
    start_b = b.head() + 1
    dep = deposit(a, op, 3 * ONE_USDC, b.info.chain_id, user)
    crashed = []

    def crash_once(row):
        if not crashed:
            crashed.append(row.tx_hash)
            raise RuntimeError("after record, before broadcast")
    BridgeRelayer.after_record = staticmethod(crash_once)
    try:
        h = rebalance_node(f"sqlite:///{tmp_path}/orbital.db", {})
        for _ in range(40):
            try:
                h.step()
            except Exception:                 # noqa: BLE001 - the crash itself, once
                h.clock.advance(0)
            if b.logs("BridgeRelease", start_b):
                break
    finally:
        BridgeRelayer.after_record = None
    assert crashed
    [rel] = b.logs("BridgeRelease", start_b)
    assert rel["tx"] == crashed[0] and "0x" + rel["depositId"].hex() == dep
    for _ in range(4):
        h.step()
    assert [t.tx_hash for t in h.txs("chains/relayer")] == crashed
