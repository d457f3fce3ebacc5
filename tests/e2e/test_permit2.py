"""Permit2 witness orders through the whole system (docs/erc7683.md 3b): a user who approved
Permit2 only (allowance to the settler 0) is quoted the Permit2 form, signs it as served,
and the reference solver opens it (the settler pulls through Permit2), fills and is repaid:
SETTLED. Replays and bad input are refused with precise statuses."""

from __future__ import annotations

import copy
import json

import grpc
import pytest
from eth_account import Account

from clients import IntentStatus, OrbitalClient, OrbitalRpcError
from protocol import PERMIT2_ADDRESS, abi, parse_order_typed_data

from .conftest import erc20, settler, wait_until

S = IntentStatus
ONE_USDC = 10**6
MAX = 2**256 - 1


def _permit2_only(w3, chain, user) -> None:
    """The user approves Permit2 (once, for any app) and takes the settler's allowance away."""
    usdc = erc20(w3, chain.contracts.tokens["USDC"].address)
    for spender, amount in ((PERMIT2_ADDRESS, MAX), (chain.contracts.settler, 0)):
        tx = usdc.functions.approve(spender, amount).transact({"from": user.address})
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def _sign(typed: dict, key: str) -> str:
    return "0x" + bytes(Account.sign_typed_data(key, full_message=typed).signature).hex()


def _users(devnet_info):
    return [x for x in devnet_info.accounts if "user" in x.roles]


def test_permit2_order_from_quote_to_settled(system, solver, devnet_info, w3s):
    node = system()
    solver(node)
    a, b = devnet_info.chains
    user = _users(devnet_info)[2]
    filler = devnet_info.account("solver").address
    _permit2_only(w3s[0], a, user)
    usdc_a, usdc_b = erc20(w3s[0], a.contracts.tokens["USDC"].address), erc20(w3s[1], b.contracts.tokens["USDC"].address)
    assert usdc_a.functions.allowance(user.address, a.contracts.settler).call() == 0
    before = (usdc_a.functions.balanceOf(user.address).call(), usdc_b.functions.balanceOf(user.address).call(),
              usdc_a.functions.balanceOf(filler).call())
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 120 * ONE_USDC, user.address)
        assert quote.signing == "permit2"                       # chosen: the allowance to Permit2 covers it
        typed = json.loads(quote.typed_data)
        assert typed["primaryType"] == "PermitWitnessTransferFrom"
        intent = client.sign_and_submit(quote, user.private_key)
        assert intent.status is S.PENDING and intent.source == "permit2"
        client.wait(intent.id, until=[S.SETTLED])
        done = client.get(intent.id)
        assert [t.status for t in done.history] == [S.PENDING, S.ASSIGNED, S.OPENED, S.FILLED, S.SETTLED]
        assert done.solver == filler
        # replay: the same signed order again, and another order reusing its (now spent)
        # nonce. Two refusals are right, with their reasons: the chain check (the nonce is
        # used on the settler and on Permit2), or, while admission still answers from a head
        # read before the open (admission.head_ttl), the book (same user and nonce)
        other = copy.deepcopy(typed)
        other["message"]["permitted"]["amount"] = other["message"]["witness"]["orderData"]["inputAmount"] = \
            str(121 * ONE_USDC)
        for replay in (typed, other):
            with pytest.raises(OrbitalRpcError) as err:
                client.submit(replay, _sign(replay, user.private_key))
            if err.value.code == grpc.StatusCode.ALREADY_EXISTS:
                assert f"intent {intent.id} was already submitted (same user and nonce)" in err.value.message
                continue
            assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION, err.value
            [(kind, subject, why)] = err.value.preconditions
            assert (kind, subject) == ("NONCE", a.contracts.settler) and "already used" in why
    after = (usdc_a.functions.balanceOf(user.address).call(), usdc_b.functions.balanceOf(user.address).call(),
             usdc_a.functions.balanceOf(filler).call())
    assert before[0] - after[0] == 120 * ONE_USDC                       # pulled through Permit2
    assert after[1] - before[1] == done.awarded_output_amount
    assert after[2] - before[2] == 120 * ONE_USDC                       # the escrow repaid the filler
    nonce = parse_order_typed_data(quote.typed_data).nonce
    permit2 = w3s[0].eth.contract(address=PERMIT2_ADDRESS, abi=abi("Permit2"))
    assert permit2.functions.nonceBitmap(user.address, nonce >> 8).call() >> (nonce & 0xFF) & 1 == 1
    assert usdc_a.functions.allowance(user.address, a.contracts.settler).call() == 0


def test_permit2_refusals(system, devnet_info, w3s):
    node = system()
    a = devnet_info.chains[0]
    user = _users(devnet_info)[3]
    with OrbitalClient(f"127.0.0.1:{node.grpc_port}") as client:
        # asked for the Permit2 form without an allowance to Permit2: not executable
        quote = client.quote("devnet-a", "devnet-b", "USDC", "USDC", 50 * ONE_USDC, user.address,
                             signing="permit2")
        typed = json.loads(quote.typed_data)
        with pytest.raises(OrbitalRpcError) as err:
            client.submit(typed, _sign(typed, user.private_key))
        assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION, err.value
        [(kind, _, why)] = err.value.preconditions
        assert kind == "ALLOWANCE" and f"approve Permit2 {PERMIT2_ADDRESS}" in why

        _permit2_only(w3s[0], a, user)

        def refused(mutate) -> OrbitalRpcError:
            bad = copy.deepcopy(typed)
            mutate(bad)
            with pytest.raises(OrbitalRpcError) as err:
                client.submit(bad, _sign(bad, user.private_key))
            return err.value

        # a wrong witness type string ("GaslessCrossChainOrder order)..." instead of "... witness)...")
        def renamed(t):
            t["types"]["PermitWitnessTransferFrom"][4]["name"] = "order"
            t["message"]["order"] = t["message"].pop("witness")
        err_ = refused(renamed)
        assert err_.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in err_.violations] == ["typed_data.types.PermitWitnessTransferFrom"]
        # a wrong spender (not the order's settler)
        err_ = refused(lambda t: t["message"].update(spender=devnet_info.account("operator").address))
        assert err_.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in err_.violations] == ["typed_data.message.spender"]
        # a deadline that is not the order's openDeadline, and an openDeadline in the past
        err_ = refused(lambda t: t["message"].update(deadline="1"))
        assert [f for f, _ in err_.violations] == ["typed_data.message.deadline"]
        past = str(w3s[0].eth.get_block("latest")["timestamp"] - 10)

        def expired(t):
            t["message"]["deadline"] = past
            t["message"]["witness"]["openDeadline"] = int(past)
        err_ = refused(expired)
        assert err_.code == grpc.StatusCode.INVALID_ARGUMENT
        assert [f for f, _ in err_.violations] == ["typed_data.message.witness.openDeadline"]
        assert "in the past" in err_.message

        # a Permit2 nonce already used (burnt on Permit2): refused with the reason
        nonce = int(typed["message"]["nonce"])
        permit2 = w3s[0].eth.contract(address=PERMIT2_ADDRESS, abi=abi("Permit2"))
        tx = permit2.functions.invalidateUnorderedNonces(nonce >> 8, 1 << (nonce & 0xFF)).transact(
            {"from": user.address})
        assert w3s[0].eth.wait_for_transaction_receipt(tx)["status"] == 1
        def refusal() -> OrbitalRpcError:
            with pytest.raises(OrbitalRpcError) as err:
                client.submit(typed, _sign(typed, user.private_key))
            return err.value
        # admission reuses a head for admission.head_ttl: wait until it reads past the approval
        final = wait_until(lambda: (e := refusal()).preconditions[0][0] != "ALLOWANCE" and e,
                           what="a check after the approval")
        assert final.code == grpc.StatusCode.FAILED_PRECONDITION, final
        [(kind, subject, why)] = final.preconditions
        assert (kind, subject) == ("NONCE", PERMIT2_ADDRESS)
        assert f"Permit2 nonce {nonce}" in why and "already used" in why
        # the same order is not opened on chain either (what the refusal protects the solver from)
        order = parse_order_typed_data(quote.typed_data)
        sig = bytes.fromhex(_sign(typed, user.private_key)[2:])
        call = settler(w3s[0], a.contracts.settler).functions.openFor(order.to_abi(), order.open_signature(sig), b"")
        with pytest.raises(Exception, match="0x756688fe"):      # InvalidNonce()
            call.call({"from": devnet_info.account("operator").address})
