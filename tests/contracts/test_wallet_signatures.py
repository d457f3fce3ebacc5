"""EIP-1271 in the settler: an order whose user is a contract wallet is opened when the
wallet accepts the signature, and refused with the wallet's answer or its revert otherwise
(contracts/src/lib/SignatureChecker.sol)."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi import decode as abi_decode
from web3.exceptions import ContractCustomError

from protocol import ResolvedOrder, order_digest
from tests._wallet import deploy_wallet, fund_wallet

from .conftest import ONE_USDC, error_selector

S = "OrbitalSettler"


def _open_for(chain, order, signature):
    return chain.settler.functions.openFor(order.to_abi(), signature, b"")


def _wallet_user(chain_a, owner, amount=100 * ONE_USDC):
    wallet = deploy_wallet(chain_a.w3, owner.address)
    fund_wallet(chain_a.w3, wallet, chain_a.usdc.address, amount, chain_a.settler.address)
    return wallet


def test_wallet_order_is_opened_with_the_owners_signature(chain_a, chain_b, roles, make_order, sign):
    owner, solver = roles["user"], roles["solver"]
    wallet = _wallet_user(chain_a, owner)
    order = dataclasses.replace(make_order(chain_a, chain_b, owner), user=wallet.address)
    sig = sign(order, owner.private_key)
    assert wallet.functions.isValidSignature(order_digest(order), sig).call() == bytes.fromhex("1626ba7e")
    receipt = chain_a.send(_open_for(chain_a, order, sig), solver)
    (opened,) = chain_a.events(receipt, "Open")
    assert ResolvedOrder.from_abi(opened["resolvedOrder"]).user == wallet.address
    assert chain_a.balance("USDC", wallet.address) == 0          # the escrow came from the wallet
    assert chain_a.balance("USDC", chain_a.settler.address) >= 100 * ONE_USDC


def _revert_data(chain, fn, sender) -> bytes:
    with pytest.raises(ContractCustomError) as exc:
        fn.call({"from": sender.address})
    data = exc.value.data if isinstance(exc.value.data, str) else exc.value.message
    return bytes.fromhex(data[2:])


def test_a_wallet_that_answers_invalid_is_refused_with_its_answer(chain_a, chain_b, roles, make_order, sign):
    owner, other, solver = roles["user"], roles["user2"], roles["solver"]
    wallet = _wallet_user(chain_a, owner)
    order = dataclasses.replace(make_order(chain_a, chain_b, owner), user=wallet.address)
    forged = sign(order, other.private_key)          # a key that is not the wallet's owner
    data = _revert_data(chain_a, _open_for(chain_a, order, forged), solver)
    assert "0x" + data[:4].hex() == error_selector(S, "InvalidContractSignature")
    assert abi_decode(["address", "bytes4"], data[4:]) == (wallet.address.lower(), bytes.fromhex("ffffffff"))
    # the owner's signature of other terms is not the wallet's signature of these
    tampered = dataclasses.replace(order, order=dataclasses.replace(order.order, output_amount=1))
    data = _revert_data(chain_a, _open_for(chain_a, tampered, sign(order, owner.private_key)), solver)
    assert "0x" + data[:4].hex() == error_selector(S, "InvalidContractSignature")
    # nor is the owner's signature of an order in the owner's own name (the digest names the user)
    own = make_order(chain_a, chain_b, owner)
    data = _revert_data(chain_a, _open_for(chain_a, order, sign(own, owner.private_key)), solver)
    assert "0x" + data[:4].hex() == error_selector(S, "InvalidContractSignature")
    assert chain_a.balance("USDC", wallet.address) == 100 * ONE_USDC


def test_an_account_that_reverts_is_refused_with_its_revert(chain_a, chain_b, roles, make_order, sign):
    """A contract without isValidSignature (here: the USDC token) reverts; the settler passes
    the revert data on in ContractSignatureReverted."""
    owner, solver = roles["user"], roles["solver"]
    order = dataclasses.replace(make_order(chain_a, chain_b, owner), user=chain_a.usdc.address)
    data = _revert_data(chain_a, _open_for(chain_a, order, sign(order, owner.private_key)), solver)
    assert "0x" + data[:4].hex() == error_selector(S, "ContractSignatureReverted")
    wallet, reason = abi_decode(["address", "bytes"], data[4:])
    assert wallet == chain_a.usdc.address.lower() and reason == b""


def test_only_the_owner_makes_the_wallet_call(chain_a, roles):
    owner, other = roles["user"], roles["user2"]
    wallet = _wallet_user(chain_a, owner)
    approve = chain_a.usdc.encode_abi("approve", [other.address, 1])
    chain_a.expect_revert(wallet.functions.execute(chain_a.usdc.address, 0, approve), other, "SimpleWallet",
                          "Unauthorized")


def test_eoa_signatures_are_checked_as_before(chain_a, chain_b, roles, make_order, sign):
    """An EOA user's wrong signer is still InvalidSigner (no wallet is asked)."""
    user, solver = roles["user"], roles["solver"]
    order = make_order(chain_a, chain_b, user)
    chain_a.expect_revert(_open_for(chain_a, order, sign(order, roles["user2"].private_key)), solver, S,
                          "InvalidSigner")


def _code_at(chain, code: str) -> str:
    """An account with exactly ``code`` (raw runtime bytecode) at a fresh address."""
    from eth_account import Account
    address = Account.create().address
    chain.w3.provider.make_request("anvil_setCode", [address, code])
    return address


def test_a_wallets_reply_is_read_within_a_bound(chain_a, chain_b, roles, make_order, sign):
    """A wallet cannot make the filler copy an arbitrarily large reply: a revert of 1000 bytes
    is passed on cut to 256; an answer is its first word whatever follows it."""
    owner, solver = roles["user"], roles["solver"]
    reverter = _code_at(chain_a, "0x6103e86000fd")            # revert(0, 1000)
    order = dataclasses.replace(make_order(chain_a, chain_b, owner), user=reverter)
    data = _revert_data(chain_a, _open_for(chain_a, order, sign(order, owner.private_key)), solver)
    assert "0x" + data[:4].hex() == error_selector(S, "ContractSignatureReverted")
    wallet, reason = abi_decode(["address", "bytes"], data[4:])
    assert wallet == reverter.lower() and reason == b"\x00" * 256
    # mstore(0, 0x1626ba7e << 224); return(0, 1000): the magic, then 968 more bytes
    talker = _code_at(chain_a, "0x631626ba7e60e01b6000526103e86000f3")
    order = dataclasses.replace(make_order(chain_a, chain_b, owner), user=talker)
    sig = sign(order, owner.private_key)
    # accepted by its answer: the open then fails only at the token pull (no balance)
    data = _revert_data(chain_a, _open_for(chain_a, order, sig), solver)
    assert "0x" + data[:4].hex() in (error_selector("TestToken", "InsufficientAllowance"),
                                     error_selector("TestToken", "InsufficientBalance"))
