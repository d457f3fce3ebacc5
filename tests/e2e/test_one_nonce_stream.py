"""Two actors of one node on one key (issue 16, point 4): the in-house solver fills intents
(``openFor`` on A, ``fill`` on B) while a rebalance strategy moves the same operator's
USDC off chain B (approve and bridge deposits on B), both signing with the operator key
and both going through the node's one sender. Every transaction of the key is mined, no
nonce of a chain is taken twice, none is replaced or refused, and the chain's count moved
by exactly the node's transactions. The component-level test with many concurrent sends
and a restart is ``tests/funding/test_one_nonce_stream.py``."""

from __future__ import annotations

import os
import threading
from collections import Counter

from chains.evm.txsend import EvmTx
from clients import IntentStatus, OrbitalClient
from node import build_app
from runtime.node import Node

from .conftest import node_config, wait_until

ONE_USDC = 10**6
HOUSE, STRATEGY = "intents/in-house", "rebalance/usdc"


def test_in_house_solver_and_a_strategy_on_the_operator_key(tmp_path, devnet_info, database_url, w3s):
    a, b = devnet_info.chains
    operator = devnet_info.account("operator")
    cfg = node_config(tmp_path / "supervisor.yaml", devnet_info, database_url, tmp_path / "var")
    with open(cfg, "a") as fh:
        fh.write(
            "in_house_solver:\n  key: ${ORBITAL_OPERATOR_KEY}\n  poll_interval: 0.2\n"
            "rebalance:\n  strategies:\n"
            f"    usdc: {{token: USDC, weights: {{{a.name}: 0.9, {b.name}: 0.1}}, tolerance: 0.01,"
            " min_transfer: '1', max_transfer: '2', cooldown: 0, poll_interval: 0.2,"
            " move_timeout: 120, signer: {key: '${ORBITAL_OPERATOR_KEY}'}}\n"
            "bridge_relayer:\n  key: ${ORBITAL_RELAYER_KEY}\n  poll_interval: 0.2\n")
    start = [w3.eth.get_transaction_count(operator.address) for w3 in w3s]
    env = {**os.environ, "ORBITAL_OPERATOR_KEY": operator.private_key,
           "ORBITAL_RELAYER_KEY": devnet_info.account("bridge_relayer").private_key,
           "ORBITAL_ATTESTER_KEY": devnet_info.account("attester").private_key}
    node = Node(cfg, build_app(), env=env).start()

    def rows() -> list[EvmTx]:
        with node.store.connection():
            return list(EvmTx.select().where(EvmTx.sender == operator.address)
                        .order_by(EvmTx.chain, EvmTx.nonce))
    try:
        wait_until(lambda: node.registry.paths("intents/solvers/session/"), what="the in-house session")
        users = [x for x in devnet_info.accounts if "user" in x.roles][1:4]
        assert len(users) == 3
        done: list = []
        errors: list[BaseException] = []

        def trade(user) -> None:
            try:
                with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
                    quote = client.quote(a.name, b.name, "USDC", "USDC", 15 * ONE_USDC, user.address)
                    intent = client.sign_and_submit(quote, user.private_key)
                    done.append(client.wait(intent.id, until=[IntentStatus.SETTLED]))
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
        threads = [threading.Thread(target=trade, args=(u,)) for u in users]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert not errors, errors
        assert [d.status for d in done] == [IntentStatus.SETTLED] * len(users)
        assert {d.solver for d in done} == {operator.address}
        # the strategy sent on B too (its deposits), and every row of the key is final
        wait_until(lambda: (r := rows()) and all(x.status != "pending" for x in r)
                   and Counter((x.owner, x.chain) for x in r if x.status == "mined")
                   [(STRATEGY, b.name)] >= 2, timeout=90, what="the strategy's moves mined")
        got = rows()
        assert Counter(x.status for x in got) == {"mined": len(got)}, [(x.owner, x.status, x.error) for x in got]
        by_owner = Counter((x.owner, x.chain) for x in got)
        assert by_owner[(HOUSE, a.name)] == by_owner[(HOUSE, b.name)] == len(users)
        for i, chain in enumerate((a, b)):
            nonces = [x.nonce for x in got if x.chain == chain.name]
            assert nonces == list(range(start[i], start[i] + len(nonces)))   # none twice
            assert w3s[i].eth.get_transaction_count(operator.address) == start[i] + len(nonces)
        assert all(x.replaces is None for x in got)
    finally:
        node.shutdown()
