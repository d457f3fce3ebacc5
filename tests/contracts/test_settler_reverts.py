"""Every way OrbitalSettler refuses: each case asserts the exact custom error, so a refactor that
changes which check fires (or lets something through) fails here."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi import encode as abi_encode

from eth_utils import keccak

from protocol import ORDER_DATA_TYPE, FillData, OrbitalOrder, ResolvedOrder

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
S = "OrbitalSettler"


@pytest.fixture
def opened(chain_a, chain_b, roles, make_order, sign):
    """An order opened on chain A by the solver, with its originData for chain B."""
    user, solver = roles["user"], roles["solver"]
    order = make_order(chain_a, chain_b, user, fill_in=600)
    receipt = chain_a.send(chain_a.settler.functions.openFor(order.to_abi(), sign(order, user.private_key), b""), solver)
    [event] = chain_a.events(receipt, "Open")
    return order, ResolvedOrder.from_abi(event["resolvedOrder"]).fill_instructions[0].origin_data


def _open_for(chain, order, signature, filler_data=b""):
    return chain.settler.functions.openFor(order.to_abi(), signature, filler_data)


@pytest.mark.parametrize(
    "change, error",
    [
        (lambda o, a, b: {"origin_settler": a.usdc.address}, "WrongSettler"),
        (lambda o, a, b: {"origin_chain_id": b.chain_id}, "WrongChain"),
        (lambda o, a, b: {"open_deadline": a.now() - 1}, "OpenDeadlinePassed"),
        (lambda o, a, b: {"fill_deadline": a.now() - 1}, "InvalidFillDeadline"),
        (lambda o, a, b: {"order": dataclasses.replace(o.order, destination_chain_id=999)}, "UnsupportedDestination"),
        (lambda o, a, b: {"order": dataclasses.replace(o.order, input_amount=0)}, "InvalidOrderData"),
        (lambda o, a, b: {"order": dataclasses.replace(o.order, recipient="0x" + "00" * 20)}, "InvalidOrderData"),
    ],
    ids=["wrong-settler", "wrong-chain", "open-deadline", "fill-deadline", "unknown-destination", "zero-amount",
         "zero-recipient"],
)
def test_open_for_rejects_invalid_orders(chain_a, chain_b, roles, make_order, sign, change, error):
    user = roles["user"]
    base = make_order(chain_a, chain_b, user)
    order = dataclasses.replace(base, **change(base, chain_a, chain_b))
    chain_a.expect_revert(_open_for(chain_a, order, sign(order, user.private_key)), roles["solver"], S, error)


def test_open_for_rejects_foreign_order_data(chain_a, chain_b, roles, make_order, sign):
    user, solver = roles["user"], roles["solver"]
    order = make_order(chain_a, chain_b, user)
    sig = sign(order, user.private_key)
    wrong_type = order.to_abi()[:6] + (b"\x01" * 32, order.order_data)
    chain_a.expect_revert(chain_a.settler.functions.openFor(wrong_type, sig, b""), solver, S, "UnsupportedOrderDataType")
    short = order.to_abi()[:7] + (order.order_data[:-32],)
    chain_a.expect_revert(chain_a.settler.functions.openFor(short, sig, b""), solver, S, "InvalidOrderData")


def test_forged_and_tampered_signatures(chain_a, chain_b, roles, make_order, sign):
    user, solver = roles["user"], roles["solver"]
    order = make_order(chain_a, chain_b, user)
    forged = sign(order, roles["user2"].private_key)  # someone else signs for the user
    chain_a.expect_revert(_open_for(chain_a, order, forged), solver, S, "InvalidSigner")
    tampered = dataclasses.replace(order, order=dataclasses.replace(order.order, output_amount=1))
    chain_a.expect_revert(_open_for(chain_a, tampered, sign(order, user.private_key)), solver, S, "InvalidSigner")
    # A signature over chain B's domain is not valid on chain A even for an identical message.
    other_domain = order.typed_data()
    other_domain["domain"]["chainId"] = chain_b.chain_id
    chain_a.expect_revert(_open_for(chain_a, order, sign(other_domain, user.private_key)), solver, S, "InvalidSigner")


def test_malleable_and_malformed_signatures(chain_a, chain_b, roles, make_order, sign):
    user, solver = roles["user"], roles["solver"]
    order = make_order(chain_a, chain_b, user)
    sig = sign(order, user.private_key)
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    high_s = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # same signer, other encoding
    chain_a.expect_revert(_open_for(chain_a, order, high_s), solver, S, "InvalidSignatureS")
    chain_a.expect_revert(_open_for(chain_a, order, sig[:64] + bytes([v - 27])), solver, S, "InvalidSignatureV")
    chain_a.expect_revert(_open_for(chain_a, order, sig[:64]), solver, S, "InvalidSignatureLength")
    chain_a.expect_revert(_open_for(chain_a, order, bytes(64) + b"\x1b"), solver, S, "InvalidSignature")


def test_replay_and_burnt_nonces(chain_a, chain_b, roles, make_order, sign, opened):
    user, solver = roles["user"], roles["solver"]
    order, _ = opened
    chain_a.expect_revert(_open_for(chain_a, order, sign(order, user.private_key)), solver, S, "OrderAlreadyOpened")
    # Same nonce, different terms: still the same order id, still refused.
    again = make_order(chain_a, chain_b, user, nonce=order.nonce, input_amount=5)
    chain_a.expect_revert(_open_for(chain_a, again, sign(again, user.private_key)), solver, S, "OrderAlreadyOpened")
    burnt = make_order(chain_a, chain_b, user, nonce=42)
    chain_a.send(chain_a.settler.functions.invalidateNonce(42), user)
    chain_a.expect_revert(_open_for(chain_a, burnt, sign(burnt, user.private_key)), solver, S, "NonceAlreadyUsed")
    chain_a.expect_revert(chain_a.settler.functions.invalidateNonce(42), user, S, "NonceAlreadyUsed")


def test_bad_origin_filler_data(chain_a, chain_b, roles, make_order, sign):
    user = roles["user"]
    order = make_order(chain_a, chain_b, user)
    sig = sign(order, user.private_key)
    for data in (b"\x01" * 20, abi_encode(["address"], ["0x" + "00" * 20])):
        chain_a.expect_revert(_open_for(chain_a, order, sig, data), roles["solver"], S, "InvalidFillerData")


def test_open_pulls_tokens_or_reverts(chain_a, chain_b, roles, make_order, sign):
    user = roles["user"]
    order = make_order(chain_a, chain_b, user, input_amount=10**30)  # more than the user holds
    chain_a.expect_revert(_open_for(chain_a, order, sign(order, user.private_key)), roles["solver"], "TestToken",
                          "InsufficientBalance")


def test_fill_reverts(chain_a, chain_b, roles, opened, filler_data):
    order, origin_data = opened
    solver, fill = roles["solver"], chain_b.settler.functions.fill
    chain_b.send(fill(order.order_id, origin_data, b""), solver)
    chain_b.expect_revert(fill(order.order_id, origin_data, b""), roles["operator"], S, "OrderAlreadyFilled")
    chain_b.expect_revert(fill(b"\x07" * 32, origin_data, b""), solver, S, "OrderIdMismatch")
    chain_a.expect_revert(chain_a.settler.functions.fill(order.order_id, origin_data, b""), solver, S,
                          "WrongDestinationChain")
    chain_b.expect_revert(fill(order.order_id, origin_data[:-1], b""), solver, S, "InvalidOriginData")


def test_fill_terms_and_deadline(chain_b, roles, opened, filler_data):
    order, origin_data = opened
    solver, fill = roles["solver"], chain_b.settler.functions.fill
    chain_b.expect_revert(fill(order.order_id, origin_data, filler_data(solver.address, order.order.output_amount - 1)),
                          solver, S, "FillAmountTooLow")
    chain_b.expect_revert(fill(order.order_id, origin_data, b"\x01" * 33), solver, S, "InvalidRepaymentData")
    chain_b.expect_revert(fill(order.order_id, origin_data, filler_data("0x" + "00" * 20)), solver, S,
                          "InvalidRepaymentData")
    chain_b.warp(order.fill_deadline - chain_b.now() + 1)
    chain_b.expect_revert(fill(order.order_id, origin_data, b""), solver, S, "FillDeadlinePassed")


def test_settle_reverts(chain_a, roles, opened):
    order, origin_data = opened
    key = keccak(origin_data)
    attester, solver, settle = roles["attester"], roles["solver"], chain_a.settler.functions.settle
    chain_a.expect_revert(settle([order.order_id], [solver.address], [key]), solver, S, "Unauthorized")
    chain_a.expect_revert(settle([b"\x09" * 32], [solver.address], [key]), attester, S, "OrderNotOpened")
    chain_a.expect_revert(settle([order.order_id], [], [key]), attester, S, "LengthMismatch")
    chain_a.expect_revert(settle([order.order_id], [solver.address], []), attester, S, "LengthMismatch")
    chain_a.expect_revert(settle([order.order_id], ["0x" + "00" * 20], [key]), attester, S, "ZeroAddress")
    chain_a.send(settle([order.order_id], [solver.address], [key]), attester)
    chain_a.expect_revert(settle([order.order_id], [solver.address], [key]), attester, S, "OrderAlreadySettled")
    chain_a.warp(order.fill_deadline - chain_a.now() + 1)
    chain_a.expect_revert(chain_a.settler.functions.refund(order.order_id), solver, S, "OrderAlreadySettled")


def test_refund_reverts(chain_a, roles, opened):
    order, _ = opened
    refund, outsider = chain_a.settler.functions.refund, roles["outsider"]
    chain_a.expect_revert(refund(order.order_id), outsider, S, "RefundTooEarly")
    chain_a.expect_revert(refund(b"\x09" * 32), outsider, S, "OrderNotOpened")
    chain_a.warp(order.fill_deadline - chain_a.now() + 1)
    chain_a.send(refund(order.order_id), outsider)
    chain_a.expect_revert(refund(order.order_id), outsider, S, "OrderAlreadyRefunded")
    chain_a.expect_revert(chain_a.settler.functions.settle([order.order_id], [roles["solver"].address],
                                                           [keccak(opened[1])]),
                          roles["attester"], S, "OrderAlreadyRefunded")


def test_admin_controls_attester_and_destinations(chain_a, roles, opened):
    order, _ = opened
    settler, admin, outsider = chain_a.settler, roles["admin"], roles["outsider"]
    chain_a.expect_revert(settler.functions.setAttester(outsider.address), outsider, S, "Unauthorized")
    chain_a.expect_revert(settler.functions.setDestinationSettler(5, outsider.address), outsider, S, "Unauthorized")
    chain_a.expect_revert(settler.functions.setAttester("0x" + "00" * 20), admin, S, "ZeroAddress")
    chain_a.send(settler.functions.setAttester(outsider.address), admin)
    key = keccak(opened[1])
    chain_a.expect_revert(settler.functions.settle([order.order_id], [outsider.address], [key]),
                          roles["attester"], S, "Unauthorized")
    chain_a.send(settler.functions.settle([order.order_id], [roles["solver"].address], [key]), outsider)


def test_settle_pays_only_for_the_escrows_own_fill_key(chain_a, chain_b, roles, opened):
    """A fill of the same order id with other originData (fillDeadline + 1: a shadow fill)
    succeeds on the destination, but its fill key is not the escrow's: settling on the
    strength of it reverts with FillKeyMismatch, whoever the attester names."""
    order, origin_data = opened
    attester, attacker = roles["attester"], roles["outsider"]
    shadow = FillData.decode(origin_data)
    shadow = dataclasses.replace(shadow, fill_deadline=shadow.fill_deadline + 1).encode()
    receipt = chain_b.send(chain_b.settler.functions.fill(order.order_id, shadow, b""), roles["solver"])
    [filled] = chain_b.events(receipt, "Filled")
    assert filled["fillKey"] == keccak(shadow) != keccak(origin_data)
    assert chain_a.settler.functions.escrows(order.order_id).call()[6] == keccak(origin_data)
    settle = chain_a.settler.functions.settle
    chain_a.expect_revert(settle([order.order_id], [attacker.address], [keccak(shadow)]), attester, S,
                          "FillKeyMismatch")
    chain_a.send(settle([order.order_id], [roles["solver"].address], [keccak(origin_data)]), attester)


def test_onchain_open_validates(chain_a, chain_b, roles):
    user = roles["user"]
    data = OrbitalOrder(chain_a.usdc.address, 1, chain_b.usdc.address, 1, user.address, chain_b.chain_id).encode()
    open_ = chain_a.settler.functions.open
    chain_a.expect_revert(open_((chain_a.now() - 1, ORDER_DATA_TYPE, data)), user, S, "InvalidFillDeadline")
    chain_a.expect_revert(open_((chain_a.now() + 60, b"\x02" * 32, data)), user, S, "UnsupportedOrderDataType")
