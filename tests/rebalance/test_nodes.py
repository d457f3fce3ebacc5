"""A rebalance strategy (lease ``rebalance:<name>``) under two nodes on one PostgreSQL
database (two Nodes in this process, the operator key on both, no watchers): only the
holder plans and sends a move; the standby does nothing; when the holder stops, the
standby takes the strategy over and follows the move in flight, never starting a second.
"""

from __future__ import annotations

from chains.evm.config import ChainConfig
from actors.rebalance import Poll, RebalanceMove
from actors.rebalance import install as install_rebalance
from chains.evm.txsend import EvmTx
from node import new_app
from runtime.node import Node
from runtime.store import Lease
from runtime.testing import wait_until
from tests._node import TestNodes, chains_section

from .conftest import ONE_USDC, strategy_yaml


def owner(node: Node, lease: str) -> str | None:
    with node.store.connection():
        row = Lease.get_or_none(Lease.name == lease)
    return row.owner if row is not None and row.expires_at > 0 else None


def poll(node: Node) -> dict:
    return node.registry.ask("rebalance/usdc", Poll(), timeout=20)


def moves(node: Node) -> list[RebalanceMove]:
    with node.store.connection():
        return list(RebalanceMove.select().order_by(RebalanceMove.created_at))


def txs(node: Node) -> list[EvmTx]:
    with node.store.connection():
        return list(EvmTx.select().order_by(EvmTx.id))


def test_one_strategy_holder_one_move_across_a_take_over(tmp_path, pg_url, chains, roles):
    a_chain, b_chain = chains
    op, out = roles["operator"].address, roles["outsider"].address
    b_chain.send(b_chain.usdc.functions.transfer(out, 600_000 * ONE_USDC), op)  # B poor
    first = a_chain.head() + 1
    with TestNodes(tmp_path) as nodes:
        def start(name: str) -> Node:
            section = chains_section(chains, tokens=("USDC", "WETH"), rpc_backoff_max=0.2)
            path = nodes.config(pg_url, {"chains": section}, file=f"{name}.yaml", name=name,
                                extra="rebalance:\n  strategies:\n" + strategy_yaml("usdc")
                                + "\n")

            def make():
                built = new_app()
                built.section("chains", dict[str, ChainConfig])   # no watchers
                install_rebalance(built)
                return built
            return nodes.start(path, make,
                               env={"ORBITAL_OPERATOR_KEY": roles["operator"].private_key})

        a = start("node-a")
        b = start("node-b")
        assert owner(a, "rebalance:usdc") == a.instance

        for _ in range(3):
            assert poll(b)["state"] == "standby"
            poll(a)
        [move] = moves(a)                         # one move, planned and sent by A
        assert move.status == "planned"
        sent = txs(a)
        assert [t.purpose for t in sent][-1] == "rebalance-deposit"

        nodes.stop(a)                             # graceful: the lease is released
        wait_until(lambda: owner(b, "rebalance:usdc") == b.instance, timeout=10,
                   what="B takes the strategy over")
        for _ in range(3):                        # B follows A's move: no second deposit
            assert poll(b)["state"] in ("moving", "error")
        assert [m.id for m in moves(b)] == [move.id]
        assert [t.id for t in txs(b)] == [t.id for t in sent]
        assert len(a_chain.logs("BridgeDeposit", first)) == 1      # one deposit on chain
