"""Top-ups on a real devnet: a drained account is refilled to its target (native and
ERC-20), the daily cap holds across repeated drains and raises an alert, a source that
cannot pay raises ``funding_source_low`` and nothing is sent, cooldown waits."""

from __future__ import annotations

from actors.funding import ALERT_CAP, ALERT_SOURCE
from actors.alerts import RaiseAlert, ResolveAlert

from .conftest import ETH, default_account, fresh_address, top_ups, txs


def test_drained_account_is_topped_up_to_target(tmp_path, chain_a, treasury, funding_node):
    target = fresh_address()
    chain_a.set_balance(target, ETH // 10)                  # drained: 0.1 < min 1
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(target)})
    source_nonce = chain_a.nonce(treasury.address)

    st = fn.poll("gas")                                     # need recorded, sent, mined
    assert st.state == "topping_up" and st.balance == ETH // 10
    [need] = top_ups(fn.node)
    assert need.amount == 3 * ETH - ETH // 10 and need.status == "sent"
    assert need.balance_before == ETH // 10 and need.tx_hash

    st = fn.poll("gas")                                     # receipt -> confirmed
    assert st.state == "ok" and st.balance >= 3 * ETH
    assert chain_a.balance(target) == 3 * ETH
    [need] = top_ups(fn.node)
    assert need.status == "confirmed" and need.confirmed_at is not None
    [tx] = txs(fn.node)
    assert tx.status == "mined" and tx.tx_hash == need.tx_hash
    assert tx.owner == "funding/gas" and tx.reference == f"topup-{need.id}"
    assert tx.purpose == "top-up" and tx.value == need.amount
    assert chain_a.nonce(treasury.address) == source_nonce + 1
    assert st.top_ups[0].tx_hash == need.tx_hash and st.top_ups[0].status == "confirmed"
    assert st.remaining_cap == 100 * ETH - need.amount

    fn.poll("gas")                                          # above min: nothing more
    assert len(top_ups(fn.node)) == 1 and chain_a.nonce(treasury.address) == source_nonce + 1


def test_erc20_account_is_topped_up(tmp_path, chain_a, treasury, funding_node):
    target = fresh_address()                                # holds no USDC
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"usdc": default_account(
        target, asset="USDC", min_balance="100", target_balance="250.5",
        max_per_top_up="1000", daily_cap="10000")})
    before = chain_a.token_balance("USDC", treasury.address)

    st = fn.poll("usdc")
    assert st.asset == "USDC" and st.balance == 0 and st.state == "topping_up"
    st = fn.poll("usdc")
    assert st.state == "ok" and st.balance == 250_500_000
    assert chain_a.token_balance("USDC", target) == 250_500_000
    assert chain_a.token_balance("USDC", treasury.address) == before - 250_500_000
    [tx] = txs(fn.node)
    assert tx.status == "mined" and tx.value == 0
    assert tx.to == chain_a.info.contracts.tokens["USDC"].address
    assert chain_a.balance(target) == 0                     # no ETH sent for an ERC-20


def test_daily_cap_stops_transfers_and_raises_an_alert(tmp_path, chain_a, treasury,
                                                       funding_node):
    target = fresh_address()
    # each drain wants 3 ETH, max 2 per top-up, cap 5 per 24 h: 2 + 2 + 1 (cut), then none
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(
        target, max_per_top_up="2", daily_cap="5")})
    amounts = []
    for _ in range(4):
        chain_a.set_balance(target, 0)
        fn.poll("gas")
        st = fn.poll("gas")
        amounts.append(chain_a.balance(target))
    assert amounts == [2 * ETH, 2 * ETH, 1 * ETH, 0]
    assert st.state == "capped" and st.remaining_cap == 0
    assert sum(t.amount for t in top_ups(fn.node)) == 5 * ETH
    assert len(txs(fn.node)) == 3
    raised = [a for a in fn.seen_alerts() if isinstance(a, RaiseAlert)]
    assert [a.name for a in raised] == [ALERT_CAP]           # raised once while it fires
    assert raised[0].source == "funding/gas" and raised[0].labels["account"] == "gas"

    for _ in range(3):                                      # drained again and again: no more
        chain_a.set_balance(target, 0)
        assert fn.poll("gas").state == "capped"
    assert len(txs(fn.node)) == 3

    fn.clock.advance(86_400)            # the window rolls: cap frees up (timers may fire)
    fn.poll("gas")
    st = fn.poll("gas")
    assert st.state == "ok" and st.remaining_cap == 3 * ETH
    assert chain_a.balance(target) == 2 * ETH and len(txs(fn.node)) == 4
    chain_a.set_balance(target, 2 * ETH)                    # above min again
    assert fn.poll("gas").state == "ok"
    assert isinstance(fn.seen_alerts()[-1], ResolveAlert)
    assert fn.seen_alerts()[-1].name == ALERT_CAP


def test_low_source_raises_an_alert_and_sends_nothing(tmp_path, chain_a, treasury,
                                                      funding_node):
    target = fresh_address()
    chain_a.set_balance(target, 0)
    chain_a.set_balance(treasury.address, 2 * ETH)          # cannot pay 3 ETH
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(target)})
    nonce = chain_a.nonce(treasury.address)

    st = fn.poll("gas")
    assert st.state == "source_low" and "source" in st.last_error
    assert top_ups(fn.node) == [] and chain_a.nonce(treasury.address) == nonce
    [alert] = fn.seen_alerts()
    assert isinstance(alert, RaiseAlert) and alert.name == ALERT_SOURCE
    assert alert.severity == "critical" and treasury.address in alert.message
    assert fn.poll("gas").state == "source_low" and len(fn.seen_alerts()) == 1

    chain_a.set_balance(treasury.address, 100 * ETH)        # fixed: resolved, top-up goes
    st = fn.poll("gas")
    assert st.state == "topping_up"
    assert [type(a).__name__ for a in fn.seen_alerts()] == ["RaiseAlert", "ResolveAlert"]
    fn.poll("gas")
    assert chain_a.balance(target) == 3 * ETH


def test_source_below_low_balance_threshold_alerts(tmp_path, chain_a, treasury,
                                                   funding_node):
    target = fresh_address()
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(
        target, source={"key": "${FUNDING_KEY:-}", "low_balance": "1000000"})})
    chain_a.set_balance(target, 5 * ETH)                    # no top-up needed
    assert fn.poll("gas").state == "ok"
    [alert] = fn.seen_alerts()
    assert alert.name == ALERT_SOURCE and "below low_balance" in alert.message


def test_cooldown_waits_between_top_ups(tmp_path, chain_a, funding_node):
    target = fresh_address()
    fn = funding_node(f"sqlite:///{tmp_path}/f.db", {"gas": default_account(
        target, cooldown=300)})
    chain_a.set_balance(target, 0)
    fn.poll("gas")
    fn.poll("gas")
    assert chain_a.balance(target) == 3 * ETH
    chain_a.set_balance(target, 0)
    assert fn.poll("gas").state == "cooldown"
    fn.clock.advance(299)
    assert fn.poll("gas").state == "cooldown"
    fn.clock.advance(1)
    assert fn.poll("gas").state == "topping_up"
    fn.poll("gas")
    assert chain_a.balance(target) == 3 * ETH and len(top_ups(fn.node)) == 2
