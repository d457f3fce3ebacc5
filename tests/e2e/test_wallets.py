"""EIP-1271 users through the node: a smart-contract wallet's order, signed by its owner,
is accepted after the wallet's own isValidSignature answer and goes to SETTLED; a wallet
that answers "invalid", or an account that reverts, is refused UNAUTHENTICATED with that
answer; a wallet cancels off-chain with its owner's signature."""

from __future__ import annotations

import json

import grpc
import pytest
from eth_account import Account

from clients import IntentStatus, OrbitalClient, OrbitalRpcError
from orbital.v1 import intents_pb2, intents_pb2_grpc
from protocol import cancel_typed_data
from tests._wallet import deploy_wallet, fund_wallet

from .conftest import erc20, wait_until

S = IntentStatus
ONE_USDC = 10**6


def _users(devnet_info):
    return [x for x in devnet_info.accounts if "user" in x.roles]


def _sign(typed_data, key: str) -> str:
    typed = json.loads(typed_data) if isinstance(typed_data, str) else typed_data
    return "0x" + bytes(Account.sign_typed_data(key, full_message=typed).signature).hex()


def _wallet(devnet_info, w3s, owner, amount):
    a = devnet_info.chains[0]
    wallet = deploy_wallet(w3s[0], owner.address)
    fund_wallet(w3s[0], wallet, a.contracts.tokens["USDC"].address, amount, a.contracts.settler)
    return wallet


def test_a_wallets_order_signed_by_its_owner_is_settled(system, solver, devnet_info, w3s):
    node = system()
    solver(node)
    a, b = devnet_info.chains
    owner = _users(devnet_info)[2]
    wallet = _wallet(devnet_info, w3s, owner, 60 * ONE_USDC)
    usdc_a, usdc_b = (erc20(w3s[0], a.contracts.tokens["USDC"].address),
                      erc20(w3s[1], b.contracts.tokens["USDC"].address))
    before_b = usdc_b.functions.balanceOf(wallet.address).call()
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 60 * ONE_USDC, wallet.address)
        intent = client.submit(quote.typed_data, _sign(quote.typed_data, owner.private_key))
        assert intent.status is S.PENDING and intent.user == wallet.address
        done = wait_until(lambda: (i := client.get(intent.id)).status is S.SETTLED and i,
                          what="SETTLED", timeout=90)
    assert [t.status for t in done.history] == [S.PENDING, S.ASSIGNED, S.OPENED, S.FILLED, S.SETTLED]
    assert usdc_a.functions.balanceOf(wallet.address).call() == 0      # the escrow left the wallet
    assert usdc_b.functions.balanceOf(wallet.address).call() - before_b == done.awarded_output_amount


def test_a_wallet_that_answers_invalid_is_refused_at_submission(system, devnet_info, w3s):
    node = system()
    owner, other = _users(devnet_info)[2], _users(devnet_info)[3]
    wallet = _wallet(devnet_info, w3s, owner, 10 * ONE_USDC)
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 10 * ONE_USDC, wallet.address)
        with pytest.raises(OrbitalRpcError) as err:      # signed by a key that is not the owner's
            client.submit(quote.typed_data, _sign(quote.typed_data, other.private_key))
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED, err.value
        assert "isValidSignature answered 0xffffffff" in err.value.message
        assert [f for f, _ in err.value.violations] == ["signature"]
        # the same refusal in a batch, order by order
        [res] = client.submit_many([(quote.typed_data, _sign(quote.typed_data, other.private_key))])
        assert isinstance(res, OrbitalRpcError) and res.code == grpc.StatusCode.UNAUTHENTICATED
        # an account with code but no isValidSignature (the USDC token) reverts: refused with it
        typed = json.loads(quote.typed_data)
        typed["message"]["user"] = devnet_info.chains[0].contracts.tokens["USDC"].address
        with pytest.raises(OrbitalRpcError) as err:
            client.submit(json.dumps(typed), _sign(typed, owner.private_key))
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED, err.value
        assert "isValidSignature reverted" in err.value.message
        # an EOA signed for by someone else is refused as before, without asking any wallet
        eoa = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 10 * ONE_USDC, owner.address)
        with pytest.raises(OrbitalRpcError) as err:
            client.submit(eoa.typed_data, _sign(eoa.typed_data, other.private_key))
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
        assert f"not by the order's user {owner.address}" in err.value.message
        assert client.list(user=wallet.address).intents == ()


def test_a_wallet_cancels_off_chain_with_its_owners_signature(system, devnet_info, w3s):
    node = system()          # no solver: the intent stays PENDING
    owner, other = _users(devnet_info)[2], _users(devnet_info)[3]
    wallet = _wallet(devnet_info, w3s, owner, 10 * ONE_USDC)
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client, \
            grpc.insecure_channel(f"127.0.0.1:{node.grpc_port}") as channel:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 10 * ONE_USDC, wallet.address)
        intent = client.submit(quote.typed_data, _sign(quote.typed_data, owner.private_key))
        stub = intents_pb2_grpc.IntentServiceStub(channel)
        cancel = cancel_typed_data(intent.origin_chain_id, intent.origin_settler,
                                   bytes.fromhex(intent.id[2:]), intent.nonce)
        with pytest.raises(grpc.RpcError) as err:
            stub.CancelIntent(intents_pb2.CancelIntentRequest(
                id=intent.id, signature=_sign(cancel, other.private_key)))
        assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert "isValidSignature answered 0xffffffff" in err.value.details()
        assert client.get(intent.id).status is S.PENDING
        stub.CancelIntent(intents_pb2.CancelIntentRequest(
            id=intent.id, signature=_sign(cancel, owner.private_key)))
        assert client.get(intent.id).status is S.CANCELLED
