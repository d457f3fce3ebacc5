"""On-chain cancel through the book: ``orbital cancel --onchain ID`` burns the order's nonce
on the origin settler from the user's key; the watcher's NonceInvalidated moves the intent to
CANCELLED with the transaction in its history. A nonce invalidated by someone else (their
own nonce of the same number) changes nothing; after open there is nothing to cancel."""

from __future__ import annotations

import dataclasses
import json

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak
from web3.exceptions import ContractCustomError

from actors.book import BookCursor, IntentRow
from chains.evm import ChainEvent
from clients import ClientError, IntentStatus, OrbitalClient, Signer, cancel_onchain
from clients.cli import main as cli
from protocol import parse_order_typed_data

from .conftest import settler, wait_until

S = IntentStatus
ONE_USDC = 10**6


def _users(devnet_info):
    return [x for x in devnet_info.accounts if "user" in x.roles]


def _pending(client, user, amount=20 * ONE_USDC):
    quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", amount, user.address)
    return quote, client.sign_and_submit(quote, user.private_key)


def _applied(node, tx) -> bool:
    """The book has applied (or judged and ignored) the events of transaction ``tx``."""
    tx_hash = "0x" + bytes(tx).hex()
    with node.store.connection():
        rows = list(ChainEvent.select().where(ChainEvent.tx_hash == tx_hash))
        cursor = BookCursor.get_or_none(BookCursor.name == "chain_events")
    return bool(rows) and cursor is not None and cursor.last_event_id >= max(r.id for r in rows)


def _cancel(node, devnet_info, intent_id, key, monkeypatch, capsys, *extra) -> tuple[int, str, str]:
    monkeypatch.setenv("ORBITAL_KEY", key)
    code = cli(["cancel", "--onchain", intent_id, "--rpc", devnet_info.chains[0].rpc_url,
                "--target", f"127.0.0.1:{node.grpc_port}", "--json", *extra])
    out, err = capsys.readouterr()
    return code, out, err


def test_onchain_cancel_moves_the_intent_to_cancelled_with_its_transaction(
        system, devnet_info, w3s, monkeypatch, capsys):
    node = system()          # no solver: the intent stays PENDING until cancelled
    user, attacker = _users(devnet_info)[0], _users(devnet_info)[1]
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        _, intent = _pending(client, user)
        s = settler(w3s[0], devnet_info.chains[0].contracts.settler)
        # another account burns its own nonce of the same number: not this order's
        tx = s.functions.invalidateNonce(intent.nonce).transact({"from": attacker.address})
        assert w3s[0].eth.wait_for_transaction_receipt(tx)["status"] == 1
        # the user burns this nonce on the other chain (the settler has the same address
        # there): the order's origin is devnet-a, so not this order's either
        s_b = settler(w3s[1], devnet_info.chains[1].contracts.settler)
        tx_b = s_b.functions.invalidateNonce(intent.nonce).transact({"from": user.address})
        assert w3s[1].eth.wait_for_transaction_receipt(tx_b)["status"] == 1
        wait_until(lambda: _applied(node, tx) and _applied(node, tx_b), what="events applied")
        assert client.get(intent.id).status is S.PENDING      # judged, and changed nothing
        monkeypatch.setenv("ORBITAL_KEY", user.private_key)
        monkeypatch.delenv("ORBITAL_RPC", raising=False)
        assert cli(["cancel", "--onchain", intent.id, "--target", f"127.0.0.1:{node.grpc_port}"]) == 2
        assert "--onchain needs --rpc" in capsys.readouterr().err
        # the key must be the user's: nothing is sent for anyone else
        code, _, err = _cancel(node, devnet_info, intent.id, attacker.private_key, monkeypatch, capsys)
        assert code == 2 and "belongs to" in err
        # a node's answer that does not make the intent's id cannot direct the transaction
        # elsewhere (another settler, another nonce): refused before any RPC
        for forged in (dataclasses.replace(intent, origin_settler=attacker.address),
                       dataclasses.replace(intent, nonce=intent.nonce + 1)):
            with pytest.raises(ClientError, match="do not make its id"):
                cancel_onchain("http://127.0.0.1:1", forged, Signer(user.private_key))
        # an endpoint of another chain than the intent's origin: nothing sent
        monkeypatch.setenv("ORBITAL_KEY", user.private_key)
        assert cli(["cancel", "--onchain", intent.id, "--rpc", devnet_info.chains[1].rpc_url,
                    "--target", f"127.0.0.1:{node.grpc_port}"]) == 2
        assert "the RPC endpoint is chain" in capsys.readouterr().err
        code, out, _ = _cancel(node, devnet_info, intent.id, user.private_key, monkeypatch, capsys,
                               "--watch", "--watch-timeout", "60")
        assert code == 0, out
        sent = json.loads(out.splitlines()[0])
        assert sent["id"] == intent.id and sent["nonce"] == str(intent.nonce)
        assert s.functions.usedNonces(user.address, intent.nonce).call()
        done = wait_until(lambda: (i := client.get(intent.id)).status is S.CANCELLED and i,
                          what="CANCELLED")
    # the attacker's invalidation (mined first) left no entry: the one transition is the user's
    assert [t.status for t in done.history] == [S.PENDING, S.CANCELLED]
    last = done.history[-1]
    assert last.evidence is not None and last.evidence.chain == "devnet-a"
    assert last.evidence.tx_hash == sent["tx_hash"]
    assert "nonce invalidated on chain" in last.reason
    # and a cancelled intent's nonce cannot be burnt twice: refused locally, nothing sent
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        code, _, err = _cancel(node, devnet_info, intent.id, user.private_key, monkeypatch, capsys)
    assert code == 2 and "used on chain already" in err


def test_cancel_after_open_changes_nothing(system, devnet_info, w3s, monkeypatch, capsys):
    node = system()
    user = _users(devnet_info)[0]
    opener = devnet_info.account("operator")
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote, intent = _pending(client, user)
        order = parse_order_typed_data(quote.typed_data)
        with node.store.connection():
            sig = IntentRow.get_by_id(intent.id).signature
        s = settler(w3s[0], devnet_info.chains[0].contracts.settler)
        tx = s.functions.openFor(order.to_abi(), bytes.fromhex(sig[2:]),
                                 abi_encode(["address"], [opener.address])).transact({"from": opener.address})
        assert w3s[0].eth.wait_for_transaction_receipt(tx)["status"] == 1
        wait_until(lambda: client.get(intent.id).status is S.OPENED, what="OPENED")
        code, _, err = _cancel(node, devnet_info, intent.id, user.private_key, monkeypatch, capsys)
        assert code == 2 and "escrow runs its course" in err
        # on chain too: the settler refuses to burn a nonce an open used
        with pytest.raises(ContractCustomError) as refused:
            s.functions.invalidateNonce(intent.nonce).call({"from": user.address})
        data = refused.value.data if isinstance(refused.value.data, str) else refused.value.message
        assert data[:10] == "0x" + keccak(text="NonceAlreadyUsed(address,uint256)")[:4].hex()
        after = client.get(intent.id)
    assert after.status is S.OPENED and [t.status for t in after.history] == [S.PENDING, S.OPENED]
