"""Permit2 on the devnet (contracts/src/permit2/Permit2.sol at the canonical address) and the
settler's Permit2 form of openFor: signatures made with eth-account over the typed data as
served, every refusal asserted by its exact custom error."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account
from web3 import Web3

from protocol.erc7683 import (PERMIT_TRANSFER_FROM_TYPEHASH, PERMIT_WITNESS_STUB,
                              TOKEN_PERMISSIONS_TYPEHASH)
from protocol import (PERMIT2_ADDRESS, PERMIT2_SIGNATURE_TAG, OrbitalOrder, abi, order_struct_hash,
                      permit2_domain_separator)

P = "Permit2"
S = "OrbitalSettler"
MAX = 2**256 - 1
WITNESS_TYPE = "Note(uint256 value)"   # a witness of the tests' own, as any app brings


def _permit2(chain):
    return chain.w3.eth.contract(address=PERMIT2_ADDRESS, abi=abi(P))


def _permit_typed(chain, token: str, amount: int, spender: str, nonce: int, deadline: int,
                  note: int | None = None) -> dict:
    """PermitTransferFrom (or PermitWitnessTransferFrom with a Note witness) as a wallet signs it."""
    types = {
        "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"},
                         {"name": "verifyingContract", "type": "address"}],
        "TokenPermissions": [{"name": "token", "type": "address"}, {"name": "amount", "type": "uint256"}],
    }
    fields = [{"name": "permitted", "type": "TokenPermissions"}, {"name": "spender", "type": "address"},
              {"name": "nonce", "type": "uint256"}, {"name": "deadline", "type": "uint256"}]
    message = {"permitted": {"token": token, "amount": amount}, "spender": spender, "nonce": nonce,
               "deadline": deadline}
    primary = "PermitTransferFrom"
    if note is not None:
        primary = "PermitWitnessTransferFrom"
        fields.append({"name": "witness", "type": "Note"})
        types["Note"] = [{"name": "value", "type": "uint256"}]
        message["witness"] = {"value": note}
    types[primary] = fields
    return {"types": types, "primaryType": primary, "message": message,
            "domain": {"name": "Permit2", "chainId": chain.chain_id, "verifyingContract": PERMIT2_ADDRESS}}


def _sig(typed: dict, key: str) -> bytes:
    return bytes(Account.sign_typed_data(key, full_message=typed).signature)


@pytest.fixture
def funded(chain_a, roles):
    """The user approves Permit2 (only) for USDC; the settler's allowance is taken away."""
    user = roles["user"]
    chain_a.send(chain_a.usdc.functions.approve(PERMIT2_ADDRESS, MAX), user)
    chain_a.send(chain_a.usdc.functions.approve(chain_a.info.contracts.settler, 0), user)
    return user


def test_deployed_at_the_canonical_address_on_every_chain(chains, devnet_info):
    for chain in chains:
        assert chain.info.contracts.permit2 == PERMIT2_ADDRESS
        assert len(chain.w3.eth.get_code(PERMIT2_ADDRESS)) > 0
        # computed at call time: right at the address the code was set to, on each chain id
        assert _permit2(chain).functions.DOMAIN_SEPARATOR().call() == permit2_domain_separator(chain.chain_id)
    # the contract's type strings are protocol's (which spell out the canonical Permit2's)
    p2 = _permit2(chains[0]).functions
    assert p2.TOKEN_PERMISSIONS_TYPEHASH().call() == TOKEN_PERMISSIONS_TYPEHASH
    assert p2.PERMIT_TRANSFER_FROM_TYPEHASH().call() == PERMIT_TRANSFER_FROM_TYPEHASH
    assert p2.PERMIT_WITNESS_TRANSFER_FROM_TYPEHASH_STUB().call() == PERMIT_WITNESS_STUB
    assert p2.HASHED_NAME().call() == Web3.keccak(text="Permit2")


def test_signature_transfer(chain_a, roles, funded):
    user, spender, to = funded, roles["outsider"], roles["user2"]
    p2, usdc = _permit2(chain_a), chain_a.usdc.address
    deadline = chain_a.now() + 600
    typed = _permit_typed(chain_a, usdc, 1000, spender.address, 5, deadline)
    sig = _sig(typed, user.private_key)
    before = chain_a.balance("USDC", to.address)
    call = p2.functions.permitTransferFrom(((usdc, 1000), 5, deadline), (to.address, 600), user.address, sig)
    chain_a.expect_revert(call, roles["user2"], P, "InvalidSigner")       # a spender it was not signed for
    chain_a.send(call, spender)
    assert chain_a.balance("USDC", to.address) == before + 600
    assert p2.functions.nonceBitmap(user.address, 0).call() == 1 << 5
    chain_a.expect_revert(call, spender, P, "InvalidNonce")                # the nonce is used
    over = p2.functions.permitTransferFrom(((usdc, 1000), 6, deadline), (to.address, 1001), user.address, sig)
    chain_a.expect_revert(over, spender, P, "InvalidAmount")
    late_typed = _permit_typed(chain_a, usdc, 1000, spender.address, 7, chain_a.now() - 1)
    late = p2.functions.permitTransferFrom(((usdc, 1000), 7, chain_a.now() - 1), (to.address, 1),
                                           user.address, _sig(late_typed, user.private_key))
    chain_a.expect_revert(late, spender, P, "SignatureExpired")


def test_witness_transfer_binds_the_witness_and_its_type(chain_a, roles, funded):
    user, spender = funded, roles["outsider"]
    p2, usdc = _permit2(chain_a), chain_a.usdc.address
    deadline = chain_a.now() + 600
    nonce = 3 << 8 | 9          # word 3, bit 9
    typed = _permit_typed(chain_a, usdc, 50, spender.address, nonce, deadline, note=42)
    sig = _sig(typed, user.private_key)
    # the witness is hashStruct(Note{42}); eth-account hashed the same typed data when signing
    note_hash = Web3.keccak(Web3.keccak(text=WITNESS_TYPE) + (42).to_bytes(32, "big"))
    type_string = "Note witness)Note(uint256 value)TokenPermissions(address token,uint256 amount)"
    permit = ((usdc, 50), nonce, deadline)

    def call(w: bytes, t: str):
        return p2.functions.permitWitnessTransferFrom(permit, (spender.address, 50), user.address, w, t, sig)

    chain_a.expect_revert(call(Web3.keccak(text="other"), type_string), spender, P, "InvalidSigner")
    chain_a.expect_revert(call(note_hash, "Note witness)Note(uint256 other)TokenPermissions(address token,"
                                          "uint256 amount)"), spender, P, "InvalidSigner")
    chain_a.send(call(note_hash, type_string), spender)
    assert p2.functions.nonceBitmap(user.address, 3).call() == 1 << 9


def test_invalidate_unordered_nonces(chain_a, roles, funded):
    user, spender = funded, roles["outsider"]
    p2, usdc = _permit2(chain_a), chain_a.usdc.address
    receipt = chain_a.send(p2.functions.invalidateUnorderedNonces(2, (1 << 4) | (1 << 200)), user)
    [log] = p2.events.UnorderedNonceInvalidation().process_receipt(receipt)
    assert (log.args.owner, log.args.word, log.args.mask) == (user.address, 2, (1 << 4) | (1 << 200))
    assert p2.functions.nonceBitmap(user.address, 2).call() == (1 << 4) | (1 << 200)
    deadline = chain_a.now() + 600
    nonce = 2 << 8 | 4
    sig = _sig(_permit_typed(chain_a, usdc, 1, spender.address, nonce, deadline), user.private_key)
    chain_a.expect_revert(p2.functions.permitTransferFrom(((usdc, 1), nonce, deadline), (spender.address, 1),
                                                          user.address, sig), spender, P, "InvalidNonce")


# ---- the settler's Permit2 form -----------------------------------------------------------------
def _open(chain, order, signature: bytes):
    return chain.settler.functions.openFor(order.to_abi(), signature, b"")


def test_open_for_pulls_through_permit2(chain_a, chain_b, roles, make_order, sign, funded):
    user, solver = funded, roles["solver"]
    order = make_order(chain_a, chain_b, user, nonce=(7 << 8) | 1, permit2=True)
    sig = sign(order, user.private_key)
    settler = chain_a.info.contracts.settler
    assert chain_a.usdc.functions.allowance(user.address, settler).call() == 0
    # the Orbital form cannot pull (no allowance to the settler) and a bare Permit2 signature
    # is not an Orbital-form signature
    chain_a.expect_revert(_open(chain_a, order, sig), solver, S, "InvalidSigner")
    before = chain_a.balance("USDC", user.address)
    receipt = chain_a.send(_open(chain_a, order, PERMIT2_SIGNATURE_TAG + sig), solver)
    [event] = chain_a.events(receipt, "Open")
    assert event["orderId"] == order.order_id
    assert chain_a.balance("USDC", user.address) == before - order.order.input_amount
    assert chain_a.balance("USDC", settler) >= order.order.input_amount
    assert _permit2(chain_a).functions.nonceBitmap(user.address, 7).call() == 1 << 1
    assert chain_a.settler.functions.usedNonces(user.address, order.nonce).call()
    chain_a.expect_revert(_open(chain_a, order, PERMIT2_SIGNATURE_TAG + sig), solver, S, "OrderAlreadyOpened")
    # the witness is the order's struct hash, the same the Orbital form signs
    assert order_struct_hash(order) == order_struct_hash(dataclasses.replace(order, permit2=False))


def test_open_for_permit2_refusals(chain_a, chain_b, roles, make_order, sign, funded):
    user, solver = funded, roles["solver"]
    order = make_order(chain_a, chain_b, user, nonce=11, permit2=True)
    sig = PERMIT2_SIGNATURE_TAG + sign(order, user.private_key)
    # the signed witness is not this order (terms changed after signing)
    tampered = dataclasses.replace(order, order=dataclasses.replace(order.order, output_amount=1))
    chain_a.expect_revert(_open(chain_a, tampered, sig), solver, P, "InvalidSigner")
    # signed for another spender (the typed data named a settler that is not this one)
    typed = order.typed_data()
    typed["message"]["spender"] = roles["outsider"].address
    chain_a.expect_revert(_open(chain_a, order, PERMIT2_SIGNATURE_TAG + sign(typed, user.private_key)),
                          solver, P, "InvalidSigner")
    # signed in Permit2's domain on the other chain (a cross-chain replay)
    typed = order.typed_data()
    typed["domain"]["chainId"] = chain_b.chain_id
    chain_a.expect_revert(_open(chain_a, order, PERMIT2_SIGNATURE_TAG + sign(typed, user.private_key)),
                          solver, P, "InvalidSigner")
    # an Orbital-form signature sent as the Permit2 form
    orbital = sign(dataclasses.replace(order, permit2=False), user.private_key)
    chain_a.expect_revert(_open(chain_a, order, PERMIT2_SIGNATURE_TAG + orbital), solver, P, "InvalidSigner")
    # the Permit2 nonce burnt by the user on Permit2 (an on-chain cancel)
    chain_a.send(_permit2(chain_a).functions.invalidateUnorderedNonces(0, 1 << 11), user)
    chain_a.expect_revert(_open(chain_a, order, sig), solver, P, "InvalidNonce")
    # past the deadline (= openDeadline): the settler refuses before Permit2 is asked
    late = make_order(chain_a, chain_b, user, nonce=12, open_in=5, permit2=True)
    late_sig = PERMIT2_SIGNATURE_TAG + sign(late, user.private_key)
    chain_a.warp(10)
    chain_a.expect_revert(_open(chain_a, late, late_sig), solver, S, "OpenDeadlinePassed")


def test_open_for_permit2_order32(chain_a, roles, make_order, sign, funded):
    """An OrbitalOrder32 (Solana destination) in the Permit2 form: the witness type string of
    OrbitalOrder32 is what the settler passes."""
    user, solver = funded, roles["solver"]
    base = make_order(chain_a, chain_a, user, nonce=21, permit2=True)
    swap = OrbitalOrder(base.order.input_token, base.order.input_amount,
                        "So11111111111111111111111111111111111111112", 5,
                        "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", 900, "solana")
    order = dataclasses.replace(base, order=swap)
    receipt = chain_a.send(_open(chain_a, order, PERMIT2_SIGNATURE_TAG + sign(order, user.private_key)), solver)
    assert chain_a.events(receipt, "Open")[0]["orderId"] == order.order_id
    assert chain_a.settler.functions.isOrder32(order.order_id).call()
