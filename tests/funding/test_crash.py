"""A crash at any point of a top-up never pays one need twice (SQLite and PostgreSQL).

Crash injection: ``FundingAccount.on_step`` (the actor's documented test seam) raises
once at the chosen step, inside the actor's round: the actor crashes there for real, its
supervisor restarts it (a new instance, state rebuilt from the store and the chain), and
the next rounds must finish the job. Steps: ``need_recorded`` (need row committed,
nothing signed), ``tx_recorded`` (signed transaction committed, not broadcast),
``tx_sent`` (broadcast, need row not updated yet).
"""

from __future__ import annotations

import pytest

from actors.funding import FundingAccount, Poll

from .conftest import ETH, default_account, fresh_address, top_ups, txs


class Crash(RuntimeError):
    pass


@pytest.mark.parametrize("step", ["need_recorded", "tx_recorded", "tx_sent"])
def test_crash_between_record_and_send_pays_once(step, database_url, chain_a, treasury,
                                                 funding_node):
    target = fresh_address()
    chain_a.set_balance(target, 0)
    fn = funding_node(database_url, {"gas": default_account(target)})
    nonce = chain_a.nonce(treasury.address)

    def crash_once(name, actor):
        if name == step:
            FundingAccount.on_step = None          # once: the new instance goes through
            raise Crash(f"injected crash at {name}")
    FundingAccount.on_step = crash_once

    with pytest.raises(Crash):
        fn.node.registry.ask("funding/gas", Poll(),
                             timeout=20)
    sent_before_restart = chain_a.nonce(treasury.address) - nonce
    assert sent_before_restart == (1 if step == "tx_sent" else 0)

    fn.poll("gas")          # the restarted actor: reconcile, finish the need
    st = fn.poll("gas")
    assert st.state == "ok" and chain_a.balance(target) == 3 * ETH
    assert chain_a.nonce(treasury.address) == nonce + 1      # exactly one transfer
    [need] = top_ups(fn.node)
    assert need.status == "confirmed" and need.amount == 3 * ETH
    [tx] = txs(fn.node)
    assert tx.status == "mined" and tx.reference == f"topup-{need.id}"
    assert tx.tx_hash == need.tx_hash

    for _ in range(2):      # and nothing more later
        fn.poll("gas")
    assert chain_a.nonce(treasury.address) == nonce + 1 and len(top_ups(fn.node)) == 1


def test_need_found_unsent_after_restart_is_cancelled_if_balance_recovered(
        tmp_path, chain_a, treasury, funding_node):
    target = fresh_address()
    chain_a.set_balance(target, 0)
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(target)})
    nonce = chain_a.nonce(treasury.address)

    def crash(name, actor):
        FundingAccount.on_step = None
        raise Crash(name)
    FundingAccount.on_step = crash
    with pytest.raises(Crash):
        fn.node.registry.ask("funding/gas", Poll(),
                             timeout=20)
    chain_a.set_balance(target, 4 * ETH)           # someone refilled it meanwhile
    st = fn.poll("gas")
    assert st.state == "ok"
    [need] = top_ups(fn.node)
    assert need.status == "cancelled" and "balance back above" in need.reason
    assert txs(fn.node) == [] and chain_a.nonce(treasury.address) == nonce
    assert st.remaining_cap == 100 * ETH           # a cancelled need does not count
