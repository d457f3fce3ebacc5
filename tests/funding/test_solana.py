"""Solana funding accounts on a real solana-local (LiteSVM RPC on loopback; blocks only when
a transaction lands or a test makes them) and a real node (FakeClock), SQLite and
PostgreSQL: a SOL and an SPL top-up (the token account created on the way) reach their
target once; caps and cooldown hold; a crash at each step between record and send pays
once; a record whose blockhash expired without landing is rebuilt once and lands once; one
that landed but whose confirmation was lost is never re-made. "Once" is read from the
chain itself (balances and the chain's own signature list of the account), not from the
node's tables."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from actors.alerts import RaiseAlert, ResolveAlert
from actors.funding import ALERT_CAP, FundingAccount, Poll, install
from chains.evm.config import ChainConfig
from chains.solana import TX_EXPIRED, TX_LANDED, SolanaChainConfig, SolanaTx
from devnet.solana_keys import SOLANA_ACCOUNTS, mint_keypair
from devnet.solana_rpc import SolanaRpcServer
from devnet.solana_svm import BLOCKHASH_VALIDITY
from node import new_app
from orbital.v1 import admin_pb2, admin_pb2_grpc
from protocol.solana import associated_token_address, spl_transfer_checked
from runtime.config import App
from runtime.testing import FakeClock, MessageRecorder, wait_until
from tests._node import ADMIN, TestNodes, node_config, write_config

from .conftest import poll, top_ups
from .test_nodes import leads

SOL = 10**9
USDC = 10**6
MINT = str(mint_keypair().pubkey())
TREASURY = SOLANA_ACCOUNTS[0]


class Crash(RuntimeError):
    pass


@pytest.fixture(scope="module")
def local():
    server = SolanaRpcServer("127.0.0.1", 0, slot_ms=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def make_app() -> App:
    app = new_app()
    app.section("chains", dict[str, ChainConfig | SolanaChainConfig])
    install(app)
    return app


def account(address: str, **opts) -> dict:
    return {"chain": "sol", "address": address, "asset": "native", "min_balance": "0.005",
            "target_balance": "0.01", "max_per_top_up": "1", "daily_cap": "10",
            "cooldown": 0, "poll_interval": 600,
            "source": {"keypair": "${FUNDING_SOL_KEY:-}"}} | opts


def write(path, local, database_url: str, state_dir, accounts: dict[str, dict],
          **node) -> str:
    chains = {"sol": {"kind": "solana", "rpc": [local.url], "rpc_timeout": 5,
                      "rpc_backoff_max": 0.2, "tokens": {"USDC": {"mint": MINT, "decimals": 6}}}}
    return write_config(path, node_config(database_url, state_dir, {
        "chains": chains, "funding": {"ask_timeout": 2, "accounts": accounts}},
        supervision={"funding": {"intensity": 20, "period": 10, "backoff": {"initial": 0}}},
        **node))


@pytest.fixture
def solana_node(tmp_path, local):
    with TestNodes(tmp_path) as nodes:
        def start(database_url: str, accounts: dict[str, dict]):
            cfg = write(tmp_path / "supervisor.yaml", local, database_url, tmp_path / "var",
                        accounts)
            clock = FakeClock(wall_offset=time.time() - 1000.0)
            alerts = nodes.own(MessageRecorder.start((RaiseAlert, ResolveAlert)))
            node = nodes.start(str(cfg), make_app(), clock=clock,
                               env={"FUNDING_SOL_KEY": str(TREASURY.keypair)},
                               register={"alerts": alerts})
            return node, clock, alerts
        yield start
        FundingAccount.on_step = None


def lamports(local, who: str) -> int:
    acct = local.chain.account(Pubkey.from_string(who))
    return acct.lamports if acct is not None else 0


def tokens(local, wallet: str) -> int | None:
    acct = local.chain.account(Pubkey.from_string(associated_token_address(wallet, MINT)))
    return None if acct is None else int.from_bytes(bytes(acct.data)[64:72], "little")


def landed(local, who: str) -> list[str]:
    """The chain's own list of the transactions that touched ``who`` (newest first)."""
    return [r.signature for r in local.chain.signatures_for(who, 1000, None, None)
            if r.err is None]


def txs(node) -> list[SolanaTx]:
    with node.store.connection():
        return list(SolanaTx.select().order_by(SolanaTx.id))


def expire(local) -> None:
    for _ in range(BLOCKHASH_VALIDITY + 2):
        local.chain.new_block()


def crash_at(step: str) -> None:
    def hook(name, actor):
        if name == step:
            FundingAccount.on_step = None          # once: the restarted actor goes through
            raise Crash(f"injected crash at {name}")
    FundingAccount.on_step = hook


def test_sol_top_up_reaches_its_target_once(database_url, local, solana_node):
    target = str(Keypair().pubkey())
    node, _, _ = solana_node(database_url, {"sol-gas": account(target)})
    first = poll(node, "sol-gas")
    assert first.state == "topping_up" and first.source == str(TREASURY.pubkey)
    st = poll(node, "sol-gas")
    assert st.state == "ok" and st.balance == 10**7 == lamports(local, target)
    [need] = top_ups(node)
    [tx] = txs(node)
    assert (need.status, need.amount, need.tx_hash) == ("confirmed", 10**7, tx.signature)
    assert tx.status == TX_LANDED and tx.reference == f"topup-{need.id}"
    assert landed(local, target) == [tx.signature]
    for _ in range(2):
        poll(node, "sol-gas")
    assert len(top_ups(node)) == 1 and landed(local, target) == [tx.signature]
    with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
        [listed] = admin_pb2_grpc.AdminServiceStub(ch).ListFundingAccounts(
            admin_pb2.ListFundingAccountsRequest(), metadata=ADMIN, timeout=20).accounts
    assert (listed.chain, listed.address, listed.asset, listed.balance, listed.state,
            listed.source) == ("sol", target, "native", str(10**7), "ok", str(TREASURY.pubkey))
    assert [(t.tx_hash, t.status) for t in listed.recent_top_ups] == [(tx.signature, "confirmed")]


def test_spl_top_up_creates_the_token_account_and_reaches_its_target(database_url, local,
                                                                     solana_node):
    target = str(Keypair().pubkey())                    # no token account yet
    node, _, _ = solana_node(database_url, {"sol-usdc": account(
        target, asset="USDC", min_balance="5", target_balance="20", max_per_top_up="50",
        daily_cap="100")})
    before = tokens(local, str(TREASURY.pubkey))
    assert poll(node, "sol-usdc").state == "topping_up"
    st = poll(node, "sol-usdc")
    assert st.state == "ok" and st.balance == 20 * USDC == tokens(local, target)
    assert tokens(local, str(TREASURY.pubkey)) == before - 20 * USDC
    [tx] = txs(node)
    assert landed(local, associated_token_address(target, MINT)) == [tx.signature]
    [need] = top_ups(node)
    assert f"Program log: orbital topup-{need.id}" in local.chain.records[tx.signature].logs


def test_a_sol_top_up_that_could_not_create_the_wallet_is_not_sent(database_url, local,
                                                                   solana_node):
    target = str(Keypair().pubkey())           # does not exist: needs the rent-exempt minimum
    node, _, _ = solana_node(database_url, {"sol-gas": account(
        target, min_balance="0.0001", target_balance="0.0005")})
    poll(node, "sol-gas")
    [need] = top_ups(node)
    assert need.status == "failed" and "below the rent-exempt minimum 890880" in need.reason
    assert txs(node) == [] and landed(local, target) == []


def test_caps_and_cooldown_hold(database_url, local, solana_node):
    owner = Keypair()
    target = str(owner.pubkey())
    node, clock, alerts = solana_node(database_url, {"sol-usdc": account(
        target, asset="USDC", min_balance="5", target_balance="20", max_per_top_up="15",
        daily_cap="25", cooldown=60)})

    def drain(amount: int) -> None:
        local.chain.send_instructions([spl_transfer_checked(
            target, MINT, str(TREASURY.pubkey), amount, 6)], TREASURY.keypair, [owner])

    poll(node, "sol-usdc")
    assert poll(node, "sol-usdc").balance == 15 * USDC      # max_per_top_up
    drain(14 * USDC)                                          # 1 left, below min
    assert poll(node, "sol-usdc").state == "cooldown"
    clock.advance(61)
    poll(node, "sol-usdc")
    st = poll(node, "sol-usdc")
    assert st.balance == 11 * USDC and st.remaining_cap == 0  # cut to the cap: 10 of 19
    drain(10 * USDC)
    clock.advance(61)
    st = poll(node, "sol-usdc")
    assert st.state == "capped" and tokens(local, target) == 1 * USDC
    assert [n.amount for n in top_ups(node)] == [15 * USDC, 10 * USDC]
    assert len(landed(local, associated_token_address(target, MINT))) == 4   # 2 in, 2 out
    raised = [m for m in alerts.ask("seen") if isinstance(m, RaiseAlert)]
    assert [m.name for m in raised] == [ALERT_CAP]


@pytest.mark.parametrize("step", ["need_recorded", "tx_recorded", "tx_sent"])
def test_crash_between_record_and_send_tops_up_exactly_once(step, database_url, local,
                                                            solana_node):
    target = str(Keypair().pubkey())
    node, _, _ = solana_node(database_url, {"sol-gas": account(target)})
    crash_at(step)
    with pytest.raises(Crash):
        node.registry.ask("funding/sol-gas", Poll(), timeout=20)
    assert len(landed(local, target)) == (1 if step == "tx_sent" else 0)
    poll(node, "sol-gas")                 # the restarted actor finishes the need
    st = poll(node, "sol-gas")
    assert st.state == "ok" and lamports(local, target) == 10**7
    [need] = top_ups(node)
    [tx] = txs(node)
    assert need.status == "confirmed" and need.tx_hash == tx.signature
    assert landed(local, target) == [tx.signature]            # exactly one transfer
    for _ in range(2):
        poll(node, "sol-gas")
    assert len(top_ups(node)) == 1 and landed(local, target) == [tx.signature]


def test_expired_record_that_never_landed_is_rebuilt_once(database_url, local, solana_node):
    target = str(Keypair().pubkey())
    node, _, _ = solana_node(database_url, {"sol-gas": account(target)})
    crash_at("tx_recorded")
    with pytest.raises(Crash):
        node.registry.ask("funding/sol-gas", Poll(), timeout=20)
    expire(local)                          # its blockhash is gone; it was never sent
    poll(node, "sol-gas")                  # proven never landed: rebuilt and sent
    st = poll(node, "sol-gas")
    assert st.state == "ok" and lamports(local, target) == 10**7
    old, new = txs(node)
    assert (old.status, new.status, new.replaces) == (TX_EXPIRED, TX_LANDED, old.id)
    assert landed(local, target) == [new.signature]
    [need] = top_ups(node)
    assert need.status == "confirmed" and need.tx_hash == new.signature
    expire(local)
    poll(node, "sol-gas")
    assert len(txs(node)) == 2 and landed(local, target) == [new.signature]


def test_a_top_up_that_landed_with_its_confirmation_lost_is_never_resent(database_url, local,
                                                                         solana_node):
    target = str(Keypair().pubkey())
    node, _, _ = solana_node(database_url, {"sol-gas": account(target)})
    crash_at("tx_sent")                    # sent (it lands at once), the need not updated
    with pytest.raises(Crash):
        node.registry.ask("funding/sol-gas", Poll(), timeout=20)
    with node.store.atomic():              # and the send itself never recorded
        SolanaTx.update(sent_at=None).execute()
    [sig] = landed(local, target)
    expire(local)                          # its blockhash long expired: only its status
    poll(node, "sol-gas")                  # tells that it landed
    st = poll(node, "sol-gas")
    assert st.state == "ok" and lamports(local, target) == 10**7
    [tx] = txs(node)
    assert tx.signature == sig and tx.status == TX_LANDED
    assert landed(local, target) == [sig] and top_ups(node)[0].status == "confirmed"


def test_a_paused_holder_sends_nothing_after_its_lease_moved(tmp_path, pg_url, local):
    """Two nodes on one PostgreSQL database: A's actor pauses right after recording a need,
    past its 1 s lease; B takes the account over and sends that need's top-up. When A
    resumes, the fence refuses its record and send: one transfer on the chain."""
    target = str(Keypair().pubkey())
    accounts = {"sol-gas": account(target)}
    gate, paused, outcome = threading.Event(), threading.Event(), []

    def pause(name, actor):
        if name == "need_recorded" and actor.ctx.services.instance.startswith("node-a"):
            paused.set()
            gate.wait(30)
    FundingAccount.on_step = pause
    env = {"FUNDING_SOL_KEY": str(TREASURY.keypair)}
    with TestNodes(tmp_path) as nodes:
        try:
            a, b = (nodes.start(write(tmp_path / f"{n}.yaml", local, pg_url,
                                      tmp_path / f"var-{n}", accounts, name=n, lease_ttl=1),
                                make_app(), env=env) for n in ("node-a", "node-b"))
            assert paused.wait(20)
            threading.Thread(target=lambda: outcome.append(poll(a, "sol-gas")),
                             daemon=True).start()
            wait_until(lambda: leads(b, "sol-gas"), timeout=10, what="B takes over")
            poll(b, "sol-gas")          # B found A's need unsent and sent it
            assert lamports(local, target) == 10**7
            gate.set()                  # A resumes its round, believing it leads
            wait_until(lambda: outcome, timeout=20, what="A's round")
        finally:
            gate.set()
            FundingAccount.on_step = None
        assert outcome[0].state == "standby"
        assert poll(b, "sol-gas").state == "ok" and poll(a, "sol-gas").state == "standby"
        [need] = top_ups(b)
        [tx] = txs(b)
        assert need.status == "confirmed" and tx.reference == need.reference
        assert landed(local, target) == [tx.signature] and lamports(local, target) == 10**7
        assert not leads(a, "sol-gas")
