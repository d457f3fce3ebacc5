"""A funding account under two nodes on one PostgreSQL database (two Nodes in this
process, each with its own instance id and store): one top-up per need, never two; the
standby takes over when the holder stops, and a holder paused past its lease writes and
sends nothing when it resumes.

The transfers are counted on anvil (the source's nonce) and in ``evm_tx``."""

from __future__ import annotations

import threading

from actors.funding import FundingAccount, Poll
from runtime.node import Node
from runtime.store import Lease
from runtime.testing import wait_until
from tests._node import TestNodes

from .conftest import ETH, default_account, fresh_address, make_app, top_ups, txs, write_config


def start(nodes: TestNodes, tmp_path, pg_url: str, chains, treasury, name: str,
          accounts: dict, **node) -> Node:
    cfg = tmp_path / f"{name}.yaml"
    write_config(cfg, pg_url, tmp_path / f"var-{name}", accounts, chains, name=name, **node)
    return nodes.start(str(cfg), make_app(real_alerts=True),
                       env={"FUNDING_KEY": treasury.private_key})


def holder(node: Node, lease: str) -> str | None:
    with node.store.connection():
        row = Lease.get_or_none(Lease.name == lease)
    return row.owner if row is not None and row.expires_at > 0 else None


def leads(node: Node, account: str) -> bool:
    return holder(node, f"funding:{account}") == node.instance


def poll(node: Node, account: str):
    return node.registry.ask(f"funding/{account}", Poll(), timeout=20)


def test_two_nodes_one_top_up_per_need_and_the_standby_takes_over(
        tmp_path, pg_url, chains, chain_a, treasury):
    target = fresh_address()
    chain_a.set_balance(target, 0)
    accounts = {"gas": default_account(target)}
    nonce = chain_a.nonce(treasury.address)
    with TestNodes(tmp_path) as nodes:
        a = start(nodes, tmp_path, pg_url, chains, treasury, "node-a", accounts)
        b = start(nodes, tmp_path, pg_url, chains, treasury, "node-b", accounts)
        assert a.instance != b.instance
        assert leads(a, "gas") and not leads(b, "gas")

        for _ in range(3):              # both nodes are asked for rounds: A alone acts
            assert poll(b, "gas").state == "standby"
            poll(a, "gas")
        assert chain_a.balance(target) == 3 * ETH
        assert chain_a.nonce(treasury.address) == nonce + 1      # one transfer
        [need] = top_ups(a)
        assert need.status == "confirmed"

        # a second need, sent by A, whose receipt A does not follow: A stops
        chain_a.set_balance(target, 0)
        chain_a.rpc("evm_setAutomine", False)
        assert poll(a, "gas").state == "topping_up"
        nodes.stop(a)                   # graceful: the lease is released
        wait_until(lambda: leads(b, "gas"), timeout=10, what="B takes the account over")
        chain_a.rpc("evm_mine")
        for _ in range(3):              # B follows A's need, sends nothing new
            st = poll(b, "gas")
        assert st.state == "ok" and chain_a.balance(target) == 3 * ETH
        assert chain_a.nonce(treasury.address) == nonce + 2
        needs = top_ups(b)
        assert [n.status for n in needs] == ["confirmed", "confirmed"]
        rows = txs(b)
        assert len(rows) == 2 and all(r.status == "mined" for r in rows)
        assert sorted(r.reference for r in rows) == sorted(n.reference for n in needs)


def test_a_paused_holder_writes_and_sends_nothing_after_its_lease_moved(
        tmp_path, pg_url, chains, chain_a, treasury):
    """A's actor is paused right after it recorded a need (the ``need_recorded`` seam),
    past its 1 s lease: B takes the account over and sends that need's top-up. When A
    resumes, its send is refused by the fence (no tx row, no broadcast) and it stands by."""
    target = fresh_address()
    chain_a.set_balance(target, 0)
    accounts = {"gas": default_account(target)}
    nonce = chain_a.nonce(treasury.address)
    gate, paused, outcome = threading.Event(), threading.Event(), []

    def pause(name, actor):             # set before A starts: its first round pauses
        if name == "need_recorded" and actor.ctx.services.instance.startswith("node-a"):
            paused.set()
            gate.wait(30)
    FundingAccount.on_step = pause
    with TestNodes(tmp_path) as nodes:
        try:
            a = start(nodes, tmp_path, pg_url, chains, treasury, "node-a", accounts,
                      lease_ttl=1)
            b = start(nodes, tmp_path, pg_url, chains, treasury, "node-b", accounts,
                      lease_ttl=1)
            assert paused.wait(20)      # A led (its need is written fenced) and pauses
            threading.Thread(target=lambda: outcome.append(poll(a, "gas")),   # queued
                             daemon=True).start()
            wait_until(lambda: leads(b, "gas"), timeout=10, what="B takes over")
            poll(b, "gas")              # B found A's need unsent and sent it (at its
            assert chain_a.balance(target) == 3 * ETH   # take-over round, or this one)
            gate.set()                  # A resumes its round, believing it leads
            wait_until(lambda: outcome, timeout=20, what="A's round")
        finally:
            gate.set()
            FundingAccount.on_step = None
        assert outcome[0].state == "standby"
        assert chain_a.nonce(treasury.address) == nonce + 1      # B's transfer only
        [need] = top_ups(b)
        [row] = txs(b)
        assert row.reference == need.reference and row.status in ("pending", "mined")
        assert poll(a, "gas").state == "standby" and not leads(a, "gas")
        assert poll(b, "gas").state == "ok"
        assert chain_a.nonce(treasury.address) == nonce + 1
        with b.store.connection():
            lease = Lease.get(Lease.name == "funding:gas")
        assert (lease.owner, lease.epoch) == (b.instance, 2)
