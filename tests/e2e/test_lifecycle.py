"""GetQuote -> sign -> SubmitIntent -> auction -> openFor -> fill -> settle, end to end;
and the refund path. Balances are checked on both chains."""

from __future__ import annotations

import threading

import grpc
import pytest

from actors.chain_watcher import WatcherStatus
from clients import IntentStatus, OrbitalClient, OrbitalRpcError
from orbital.v1 import admin_pb2, admin_pb2_grpc

from .conftest import ADMIN, erc20, wait_until

S = IntentStatus
ONE_USDC = 10**6


def _watch(client, intent_id, out: list):
    for update in client.watch([intent_id]):
        out.append(update)


def test_quote_sign_submit_auction_open_fill_settle(system, solver, devnet_info, w3s):
    node = system()
    solver(node)
    a, b = devnet_info.chains
    user = [x for x in devnet_info.accounts if "user" in x.roles][0]
    filler = devnet_info.account("solver").address
    usdc_a, usdc_b = erc20(w3s[0], a.contracts.tokens["USDC"].address), erc20(w3s[1], b.contracts.tokens["USDC"].address)
    before = (usdc_a.functions.balanceOf(user.address).call(), usdc_b.functions.balanceOf(user.address).call(),
              usdc_a.functions.balanceOf(filler).call())
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 250 * ONE_USDC, user.address)
        intent = client.sign_and_submit(quote, user.private_key)
        assert intent.status is S.PENDING
        seen: list = []
        t = threading.Thread(target=_watch, args=(client, intent.id, seen))
        t.start()
        t.join(90)
        assert not t.is_alive(), f"not terminal: {[u.intent.status for u in seen]}"
        statuses = [u.intent.status for u in seen]
        assert statuses == [S.PENDING, S.ASSIGNED, S.OPENED, S.FILLED, S.SETTLED], statuses
        final = client.get(intent.id)
    assert [t.version for t in final.history] == [1, 2, 3, 4, 5]
    evidence = {t.status: t.evidence for t in final.history if t.evidence is not None}
    assert set(evidence) == {S.OPENED, S.FILLED, S.SETTLED}
    assert evidence[S.FILLED].chain == "devnet-b" and evidence[S.SETTLED].chain == "devnet-a"
    assert final.solver == filler
    after = (usdc_a.functions.balanceOf(user.address).call(), usdc_b.functions.balanceOf(user.address).call(),
             usdc_a.functions.balanceOf(filler).call())
    assert before[0] - after[0] == 250 * ONE_USDC                       # input left the user on A
    assert after[1] - before[1] >= final.min_output_amount              # at least the minimum on B
    assert after[1] - before[1] == final.awarded_output_amount          # exactly the winning bid
    assert after[2] - before[2] == 250 * ONE_USDC                       # the escrow paid the filler on A
    # a Solana chain was configured beside the EVM ones all along, its watcher following it
    sol = node.registry.ask("chains/watcher/solana-local", WatcherStatus(), timeout=5)
    assert sol["kind"] == "solana" and sol["indexed"] >= 0 and sol["last_error"] == ""
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client, \
            pytest.raises(OrbitalRpcError) as err:                   # not a destination yet
        client.quote("devnet-a", "solana-local", "USDC", "USDC", ONE_USDC, user.address)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT, err.value


def test_opened_never_filled_is_refunded_after_fill_deadline(system, devnet_info, w3s):
    from protocol import parse_order_typed_data
    from eth_abi import encode as abi_encode
    from .conftest import settler
    node = system(keeper="refund-expired: {cron: '0 0 1 1 *', action: refund_expired}")
    a = devnet_info.chains[0]
    user = [x for x in devnet_info.accounts if "user" in x.roles][1]
    opener = devnet_info.account("operator")          # opens on chain, never fills
    usdc = erc20(w3s[0], a.contracts.tokens["USDC"].address)
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 40 * ONE_USDC, user.address)
        intent = client.sign_and_submit(quote, user.private_key)
        start = usdc.functions.balanceOf(user.address).call()
        order = parse_order_typed_data(quote.typed_data)
        stored = node.store  # the signature as the book stored it
        from actors.book import IntentRow
        with stored.connection():
            sig = IntentRow.get_by_id(intent.id).signature
        tx = settler(w3s[0], a.contracts.settler).functions.openFor(
            order.to_abi(), bytes.fromhex(sig[2:]), abi_encode(["address"], [opener.address])
        ).transact({"from": opener.address})
        assert w3s[0].eth.wait_for_transaction_receipt(tx)["status"] == 1
        wait_until(lambda: client.get(intent.id).status is S.OPENED, what="OPENED")
        assert usdc.functions.balanceOf(user.address).call() == start - 40 * ONE_USDC
        # Time passes on the origin chain beyond fillDeadline; the keeper's task refunds.
        now = w3s[0].eth.get_block("latest")["timestamp"]
        w3s[0].provider.make_request("evm_setNextBlockTimestamp", [max(now, order.fill_deadline) + 1])
        w3s[0].provider.make_request("evm_mine", [])
        with grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as ch:
            admin = admin_pb2_grpc.AdminServiceStub(ch)
            admin.RunTask(admin_pb2.RunTaskRequest(name="refund-expired"), metadata=ADMIN)
        done = wait_until(lambda: (i := client.get(intent.id)).status is S.REFUNDED and i, what="REFUNDED")
    assert usdc.functions.balanceOf(user.address).call() == start
    assert [t.status for t in done.history] == [S.PENDING, S.OPENED, S.REFUNDED]
    assert done.history[-1].evidence.chain == "devnet-a"


def test_the_in_house_solver_wins_through_the_same_session_path(tmp_path, devnet_info, database_url, w3s):
    """in_house_solver configured (operator key), no outside solver: it logs in like any
    solver, wins the auction and takes the intent through open and fill."""
    import os

    from node import build_app
    from runtime.node import Node

    from .conftest import node_config
    cfg = node_config(tmp_path / "supervisor.yaml", devnet_info, database_url, tmp_path / "var")
    with open(cfg, "a") as fh:
        fh.write("in_house_solver:\n  key: ${ORBITAL_OPERATOR_KEY}\n")
    operator = devnet_info.account("operator")
    env = {**os.environ, "ORBITAL_OPERATOR_KEY": operator.private_key,
           "ORBITAL_ATTESTER_KEY": devnet_info.account("attester").private_key}
    node = Node(cfg, build_app(), env=env).start()
    try:
        assert node.registry.paths("intents/in-house") == ["intents/in-house"]
        wait_until(lambda: node.registry.paths("intents/solvers/session/"), what="the in-house session")
        user = [x for x in devnet_info.accounts if "user" in x.roles][4]
        with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
            quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 30 * ONE_USDC, user.address)
            intent = client.sign_and_submit(quote, user.private_key)
            done = client.wait(intent.id, until=[S.SETTLED])
        assert done.status is S.SETTLED and done.solver == operator.address
    finally:
        node.shutdown()
