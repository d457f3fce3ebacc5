"""The in-house solver signing through a remote signer: its session challenge through
``eth_sign``, its ``openFor`` and ``fill`` through ``eth_signTransaction``, both anvil's own
for the operator account it holds unlocked (chain B's transactions by chain B's anvil:
``remote_chains``). The node's config and environment hold no key for that account. It
wins an intent through the session path and takes it through open and fill to SETTLED,
its transactions recorded and sent by the node's sender (``evm_tx``)."""

from __future__ import annotations

import os
from pathlib import Path

from chains.evm.txsend import EvmTx
from clients import IntentStatus, OrbitalClient
from node import build_app
from runtime.node import Node

from .conftest import node_config, wait_until

ONE_USDC = 10**6


def test_the_in_house_solver_fills_through_a_remote_signer(tmp_path, devnet_info, database_url):
    a, b = devnet_info.chains
    operator = devnet_info.account("operator")
    cfg = node_config(tmp_path / "supervisor.yaml", devnet_info, database_url, tmp_path / "var")
    with open(cfg, "a") as fh:
        fh.write(f"in_house_solver:\n  remote: '{a.rpc_url}'\n  address: '{operator.address}'\n"
                 f"  remote_chains: {{{b.name}: '{b.rpc_url}'}}\n")
    text = Path(cfg).read_text()
    assert operator.private_key[2:].lower() not in text.lower()
    env = {k: v for k, v in os.environ.items() if k != "ORBITAL_OPERATOR_KEY"}
    env["ORBITAL_ATTESTER_KEY"] = devnet_info.account("attester").private_key
    assert operator.private_key not in env.values()
    node = Node(cfg, build_app(), env=env).start()
    try:
        wait_until(lambda: node.registry.paths("intents/solvers/session/"),
                   what="the in-house session (challenge signed remotely)")
        user = [x for x in devnet_info.accounts if "user" in x.roles][5]
        with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
            quote = client.quote(a.name, b.name, "USDC", "USDC", 20 * ONE_USDC, user.address)
            intent = client.sign_and_submit(quote, user.private_key)
            done = client.wait(intent.id, until=[IntentStatus.SETTLED])
        assert done.status is IntentStatus.SETTLED and done.solver == operator.address

        def house_rows() -> list[EvmTx]:
            with node.store.connection():
                return list(EvmTx.select().where(EvmTx.owner == "intents/in-house")
                            .order_by(EvmTx.id))
        # openFor on A, fill on B: both recorded by the node's sender, signed remotely,
        # closed as mined by the actor's rounds
        wait_until(lambda: [(r.chain, r.purpose, r.status) for r in house_rows()] ==
                   [(a.name, "openFor", "mined"), (b.name, "fill", "mined")],
                   what="the in-house transactions mined")
        assert {r.sender for r in house_rows()} == {operator.address}
    finally:
        node.shutdown()
