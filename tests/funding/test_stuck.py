"""A stuck top-up (anvil automine off) is replaced with higher fees after replace_after,
with the same nonce; once a block is mined exactly one of them lands."""

from __future__ import annotations

import pytest

from .conftest import ETH, default_account, fresh_address, top_ups, txs


@pytest.mark.parametrize("resume", ["evm_mine", "automine"])
def test_stuck_top_up_is_replaced_with_higher_fees(resume, tmp_path, chain_a, treasury,
                                                   funding_node):
    target = fresh_address()
    chain_a.set_balance(target, 0)
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(target)},
                      tx={"replace_after": 30})
    nonce = chain_a.nonce(treasury.address)
    chain_a.rpc("evm_setAutomine", False)

    fn.poll("gas")
    [first] = txs(fn.node)
    assert first.status == "pending" and first.sent_at is not None
    fn.clock.advance(29)
    fn.poll("gas")
    assert len(txs(fn.node)) == 1                          # not yet stuck

    fn.clock.advance(1)
    fn.poll("gas")                                          # 30 s without a receipt
    first, second = txs(fn.node)
    assert second.nonce == first.nonce and second.replaces == first.id
    assert second.priority_fee >= first.priority_fee * 1.125
    assert second.max_fee >= first.max_fee * 1.125
    assert second.sent_at is not None and second.status == "pending"
    assert second.value == first.value and second.to == first.to
    pool = chain_a.rpc("txpool_content")["pending"]
    [(_, by_nonce)] = [(k, v) for k, v in pool.items() if k.lower() == treasury.address.lower()]
    assert [t["hash"] for t in by_nonce.values()] == [second.tx_hash]   # the replacement
    [need] = top_ups(fn.node)
    assert need.status == "sent" and need.tx_hash == second.tx_hash

    if resume == "evm_mine":
        chain_a.rpc("evm_mine")
    else:
        chain_a.rpc("evm_setAutomine", True)
        chain_a.rpc("evm_mine")       # anvil mines what is already pooled on the next block
    st = fn.poll("gas")
    first, second = txs(fn.node)
    assert (first.status, second.status) == ("replaced", "mined")
    [need] = top_ups(fn.node)
    assert need.status == "confirmed" and need.tx_hash == second.tx_hash
    assert chain_a.nonce(treasury.address) == nonce + 1 and chain_a.balance(target) == 3 * ETH
    assert st.top_ups[0].tx_hash == second.tx_hash
    fn.poll("gas")
    assert len(txs(fn.node)) == 2 and chain_a.nonce(treasury.address) == nonce + 1


def test_replacement_respects_fee_cap(tmp_path, chain_a, treasury, funding_node):
    target = fresh_address()
    chain_a.set_balance(target, 0)
    # priority 1 gwei x 1.125 > the 1.1 gwei cap: no replacement can be made
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(target)},
                      tx={"replace_after": 5, "max_fee_gwei": 1.1})
    chain_a.rpc("evm_setAutomine", False)
    fn.poll("gas")
    fn.clock.advance(5)
    fn.poll("gas")
    [only] = txs(fn.node)
    assert only.max_fee <= 1.1e9 and only.status == "pending"
    chain_a.rpc("evm_mine")
    fn.poll("gas")
    assert txs(fn.node)[0].status == "mined" and chain_a.balance(target) == 3 * ETH
