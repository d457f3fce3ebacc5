"""Allowance accounts (``spender``): the owner's ERC-20 allowance to the settler or Permit2
is kept at its target by the owner's own approve, under the balance top-ups' rules: the
need recorded before anything is signed (a crash between record and send approves exactly
once, SQLite and PostgreSQL), the daily cap of increases with its alert, the source's gas
check with its alert. A USDT-style token (``ApproveResetToken``: approve refuses to change a
non-zero allowance) is kept with ``reset_to_zero``: approve(0) then approve(target),
recorded as one step (exactly once across a crash between record and send, both
databases); without it the approve fails and ``funding_topup_failed`` is raised."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from actors.alerts import RaiseAlert, ResolveAlert
from actors.funding import (ALERT_CAP, ALERT_FAILED, ALERT_SOURCE, PERMIT2, FundingAccount,
                            Poll)
from protocol import load_artifact

from .conftest import ETH, ONE_USDC, top_ups, txs


class Crash(RuntimeError):
    pass


def allowance_account(owner: str, **opts) -> dict:
    return {"chain": "devnet-a", "address": owner, "asset": "USDC", "spender": "permit2",
            "min_balance": "100", "target_balance": "1000", "max_per_top_up": "5000",
            "daily_cap": "10000", "cooldown": 0, "poll_interval": 600} | opts


@pytest.fixture
def owner(devnet_info):
    return devnet_info.account("operator")


def _allowance(chain, owner, spender=PERMIT2) -> int:
    return chain.token("USDC").functions.allowance(owner.address, spender).call()


def _set_allowance(chain, owner, value, spender=PERMIT2) -> None:
    """What spending does to an allowance (the owner approves directly: an unlocked account)."""
    chain.send(chain.token("USDC").functions.approve(spender, value), owner.address)


def _approve_data(spender: str, value: int) -> str:
    return "0x" + (keccak(text="approve(address,uint256)")[:4]
                   + abi_encode(["address", "uint256"], [spender, value])).hex()


@pytest.mark.parametrize("step", ["need_recorded", "tx_recorded", "tx_sent"])
def test_crash_between_record_and_send_approves_once(step, database_url, chain_a, owner,
                                                      funding_node):
    _set_allowance(chain_a, owner, 0)
    fn = funding_node(database_url, {"allow": allowance_account(owner.address)},
                      key=owner.private_key)
    nonce = chain_a.nonce(owner.address)

    def crash_once(name, actor):
        if name == step:
            FundingAccount.on_step = None          # once: the new instance goes through
            raise Crash(f"injected crash at {name}")
    FundingAccount.on_step = crash_once
    with pytest.raises(Crash):
        fn.node.registry.ask("funding/allow", Poll(), timeout=20)
    assert chain_a.nonce(owner.address) - nonce == (1 if step == "tx_sent" else 0)

    fn.poll("allow")          # the restarted actor: reconcile, finish the need
    st = fn.poll("allow")
    assert st.state == "ok" and st.balance == 1000 * ONE_USDC and st.asset == "USDC allowance"
    assert _allowance(chain_a, owner) == 1000 * ONE_USDC
    assert chain_a.nonce(owner.address) == nonce + 1           # exactly one approve
    [need] = top_ups(fn.node)
    assert need.status == "confirmed" and need.amount == 1000 * ONE_USDC
    [tx] = txs(fn.node)
    assert tx.status == "mined" and tx.reference == f"topup-{need.id}" and tx.value == 0
    assert tx.to == chain_a.info.contracts.tokens["USDC"].address
    assert tx.sender == owner.address
    assert tx.data == _approve_data(PERMIT2, 1000 * ONE_USDC)
    for _ in range(2):      # and nothing more later
        fn.poll("allow")
    assert chain_a.nonce(owner.address) == nonce + 1 and len(top_ups(fn.node)) == 1


def test_unsent_need_is_cancelled_when_the_allowance_recovered(tmp_path, chain_a, owner,
                                                              funding_node):
    _set_allowance(chain_a, owner, 0)
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"allow": allowance_account(owner.address)},
                      key=owner.private_key)

    def crash(name, actor):
        FundingAccount.on_step = None
        raise Crash(name)
    FundingAccount.on_step = crash
    with pytest.raises(Crash):
        fn.node.registry.ask("funding/allow", Poll(), timeout=20)
    _set_allowance(chain_a, owner, 500 * ONE_USDC)      # the owner approved by hand meanwhile
    st = fn.poll("allow")
    assert st.state == "ok"
    [need] = top_ups(fn.node)
    assert need.status == "cancelled" and txs(fn.node) == []
    assert _allowance(chain_a, owner) == 500 * ONE_USDC


def test_the_allowance_is_kept_within_the_daily_cap(tmp_path, chain_a, owner, devnet_info,
                                                    funding_node):
    """The spender (here an account, so the test can spend as a settler would, with
    transferFrom) uses the allowance up; each refill is an increase counted against the cap."""
    spender = [a for a in devnet_info.accounts if "user" in a.roles][0]
    usdc = chain_a.token("USDC")
    _set_allowance(chain_a, owner, 0, spender.address)
    # wanted 1000 each time, at most 600 per approve, 1000 per 24 h: 600, 400 (cut), none
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"allow": allowance_account(
        owner.address, spender=spender.address, max_per_top_up="600", daily_cap="1000")},
        key=owner.private_key)

    def spend_all() -> None:
        left = _allowance(chain_a, owner, spender.address)
        chain_a.send(usdc.functions.transferFrom(owner.address, spender.address, left),
                     spender.address)

    fn.poll("allow")
    assert fn.poll("allow").state == "ok"
    assert _allowance(chain_a, owner, spender.address) == 600 * ONE_USDC
    spend_all()
    fn.poll("allow")
    fn.poll("allow")
    assert _allowance(chain_a, owner, spender.address) == 400 * ONE_USDC
    spend_all()
    st = fn.poll("allow")
    assert st.state == "capped" and st.remaining_cap == 0
    assert _allowance(chain_a, owner, spender.address) == 0
    assert [t.amount for t in top_ups(fn.node)] == [600 * ONE_USDC, 400 * ONE_USDC]
    assert [tx.data for tx in txs(fn.node)] == [_approve_data(spender.address, 600 * ONE_USDC),
                                                 _approve_data(spender.address, 400 * ONE_USDC)]
    raised = [a for a in fn.seen_alerts() if isinstance(a, RaiseAlert)]
    assert [a.name for a in raised] == [ALERT_CAP]
    assert raised[0].labels["asset"] == "USDC allowance"
    assert fn.poll("allow").state == "capped" and len(txs(fn.node)) == 2


def test_an_owner_without_gas_is_alerted_and_nothing_is_sent(tmp_path, chain_a, owner,
                                                              funding_node):
    _set_allowance(chain_a, owner, 0)
    chain_a.set_balance(owner.address, 0)
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"allow": allowance_account(owner.address)},
                      key=owner.private_key)
    st = fn.poll("allow")
    assert st.state == "source_low" and "gas" in st.last_error
    assert top_ups(fn.node) == [] and txs(fn.node) == []
    [alert] = fn.seen_alerts()
    assert isinstance(alert, RaiseAlert) and alert.name == ALERT_SOURCE
    chain_a.set_balance(owner.address, 10 * ETH)
    fn.poll("allow")
    fn.poll("allow")
    assert _allowance(chain_a, owner) == 1000 * ONE_USDC


def test_a_keystore_of_another_account_is_found_at_start_and_sends_nothing(
        tmp_path, chain_a, owner, treasury, funding_node):
    """Only the owner can approve: a keystore (its address unknown until decrypted) of
    another key leaves the account in state error, with nothing recorded or sent."""
    import json

    from eth_account import Account
    path = tmp_path / "other.json"
    path.write_text(json.dumps(Account.encrypt(treasury.private_key, "pw-0123456789",
                                               kdf="pbkdf2", iterations=2)))
    _set_allowance(chain_a, owner, 0)
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"allow": allowance_account(
        owner.address, source={"keystore": str(path), "password": "${PW}"})},
        env={"PW": "pw-0123456789"})
    nonce = chain_a.nonce(treasury.address)
    for _ in range(2):
        st = fn.poll("allow")
        assert st.state == "error" and f"not the owner {owner.address}" in st.last_error
    assert top_ups(fn.node) == [] and txs(fn.node) == []
    assert chain_a.nonce(treasury.address) == nonce and _allowance(chain_a, owner) == 0


# ---- USDT-style tokens: reset_to_zero ------------------------------------------------------
def _usdt_style(chain) -> None:
    """devnet-a's USDC becomes an ApproveResetToken (same storage layout, balances and
    allowances kept): its code, built with USDC's decimals, put at USDC's address."""
    art = load_artifact("ApproveResetToken")
    factory = chain.w3.eth.contract(abi=art.abi, bytecode=art.bytecode)
    deployer = chain.w3.eth.accounts[0]
    receipt = chain.w3.eth.wait_for_transaction_receipt(
        factory.constructor("USD Coin", "USDC", 6).transact({"from": deployer}), timeout=10)
    code = chain.rpc("eth_getCode", receipt["contractAddress"], "latest")
    chain.rpc("anvil_setCode", chain.info.contracts.tokens["USDC"].address, code)


@pytest.mark.parametrize("step", [None, "need_recorded", "tx_recorded", "tx_sent"])
def test_reset_to_zero_reaches_the_target_once(step, database_url, chain_a, owner,
                                               funding_node):
    _set_allowance(chain_a, owner, 0)
    _set_allowance(chain_a, owner, 50 * ONE_USDC)        # non-zero, below min_balance
    _usdt_style(chain_a)
    guard = keccak(text="NonZeroAllowance(address,uint256,uint256)")[:4].hex()
    with pytest.raises(Exception, match=guard):                 # the token's guard holds
        _set_allowance(chain_a, owner, 60 * ONE_USDC)
    fn = funding_node(database_url, {"allow": allowance_account(owner.address,
                                                                reset_to_zero=True)},
                      key=owner.private_key)
    nonce = chain_a.nonce(owner.address)
    if step is not None:
        def crash_once(name, actor):
            if name == step:
                FundingAccount.on_step = None      # once: the new instance goes through
                raise Crash(f"injected crash at {name}")
        FundingAccount.on_step = crash_once
        with pytest.raises(Crash):
            fn.node.registry.ask("funding/allow", Poll(), timeout=20)
        assert chain_a.nonce(owner.address) - nonce == (2 if step == "tx_sent" else 0)
    fn.poll("allow")
    st = fn.poll("allow")
    assert st.state == "ok" and st.balance == 1000 * ONE_USDC
    assert _allowance(chain_a, owner) == 1000 * ONE_USDC
    assert chain_a.nonce(owner.address) == nonce + 2             # approve(0), approve(1000)
    [need] = top_ups(fn.node)
    assert need.status == "confirmed" and need.amount == 950 * ONE_USDC
    rows = txs(fn.node)
    assert [(t.data, t.status, t.reference) for t in rows] == [
        (_approve_data(PERMIT2, 0), "mined", f"topup-{need.id}"),
        (_approve_data(PERMIT2, 1000 * ONE_USDC), "mined", f"topup-{need.id}")]
    assert rows[1].nonce == rows[0].nonce + 1 and need.tx_hash == rows[1].tx_hash
    for _ in range(2):      # and nothing more later
        fn.poll("allow")
    assert chain_a.nonce(owner.address) == nonce + 2 and len(top_ups(fn.node)) == 1
    assert ALERT_FAILED not in [a.name for a in fn.seen_alerts() if isinstance(a, RaiseAlert)]


def test_without_reset_to_zero_the_approve_fails_and_is_alerted(database_url, chain_a, owner,
                                                              funding_node):
    _set_allowance(chain_a, owner, 0)
    _set_allowance(chain_a, owner, 50 * ONE_USDC)
    _usdt_style(chain_a)
    fn = funding_node(database_url, {"allow": allowance_account(owner.address)},
                      key=owner.private_key)
    nonce = chain_a.nonce(owner.address)
    fn.poll("allow")
    [need] = top_ups(fn.node)
    assert need.status == "failed" and "estimate failed" in need.reason
    assert txs(fn.node) == [] and chain_a.nonce(owner.address) == nonce
    assert _allowance(chain_a, owner) == 50 * ONE_USDC
    [alert] = [a for a in fn.seen_alerts() if isinstance(a, RaiseAlert)]
    assert alert.name == ALERT_FAILED and alert.severity == "warning"
    assert f"top-up {need.id} of {950 * ONE_USDC}" in alert.message
    assert alert.labels["asset"] == "USDC allowance"
    fn.poll("allow")                      # still failing: raised once while it lasts
    assert [a.name for a in fn.seen_alerts() if isinstance(a, RaiseAlert)] == [ALERT_FAILED]
    # the owner resets by hand: the next top-up goes through and the alert is resolved
    _set_allowance(chain_a, owner, 0)
    fn.poll("allow")
    fn.poll("allow")
    assert _allowance(chain_a, owner) == 1000 * ONE_USDC
    assert [a.name for a in fn.seen_alerts() if isinstance(a, ResolveAlert)] == [ALERT_FAILED]
