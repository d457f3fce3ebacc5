"""OrbitalOrder32 on the deployed settler (real anvil): orders to a Solana destination are
signed, opened by signature and settled only to the filler named at open; each orderData type
is accepted only for its kind of destination; Python and Solidity agree on every typehash,
digest and originData of both types; EVM orders and fills are byte-for-byte what they were.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from devnet.solana_keys import CHAIN_ID as SOLANA_CHAIN_ID
from protocol import (OPEN_TOPIC, ORDER32_DATA_TYPE, ORDER_DATA_TYPE, FillData, GaslessOrder,
                      OrbitalOrder, ResolvedOrder, decode_open_event, order_digest,
                      parse_order_typed_data)
from protocol.accounts import account_to_bytes32
from protocol.solana import MEMO_PROGRAM
from tests import _eip712 as reference

S = "OrbitalSettler"
MINT = "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT"
WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def _order32(chain, user, *, nonce: int = 77, fill_in: int = 3600, **swap) -> GaslessOrder:
    now = chain.now()
    fields = {"input_token": chain.usdc.address, "input_amount": 100 * 10**6, "output_token": MINT,
              "output_amount": 99 * 10**6, "recipient": WALLET,
              "destination_chain_id": SOLANA_CHAIN_ID, "destination_kind": "solana"} | swap
    return GaslessOrder(chain.settler.address, user.address, nonce, chain.chain_id, now + 600,
                        now + fill_in, OrbitalOrder(**fields))


def _open(chain, order, sign, user, sender, filler: str) -> tuple[dict, ResolvedOrder]:
    receipt = chain.send(chain.settler.functions.openFor(
        order.to_abi(), sign(order, user.private_key), abi_encode(["address"], [filler])), sender)
    [event] = chain.events(receipt, "Open")
    resolved = ResolvedOrder.from_abi(event["resolvedOrder"])
    [log] = [lg for lg in receipt["logs"] if "0x" + bytes(lg["topics"][0]).hex() == OPEN_TOPIC]
    assert decode_open_event(log["data"]) == resolved      # the raw log, as the watcher has it
    return event, resolved


def test_devnet_registers_solana_local_as_a_32_destination(chains):
    for chain in chains:
        assert chain.settler.functions.destinations32(SOLANA_CHAIN_ID).call() == account_to_bytes32(MEMO_PROGRAM)
        assert chain.settler.functions.destinationSettlers(SOLANA_CHAIN_ID).call() == "0x" + "00" * 20


def test_order32_digest_and_resolution_match_python(chain_a, roles):
    order = _order32(chain_a, roles["user"], nonce=2**200)
    on_chain = chain_a.settler.functions.gaslessOrderDigest(order.to_abi()).call()
    assert order_digest(order) == on_chain == reference.typed_data_digest(order.typed_data())
    assert order_digest(parse_order_typed_data(json.dumps(order.typed_data()))) == on_chain
    # the same swap as an OrbitalOrder would sign another digest: the type is in the hash
    resolved = ResolvedOrder.from_abi(chain_a.settler.functions.resolveFor(
        order.to_abi(), abi_encode(["address"], [roles["solver"].address])).call())
    instr = resolved.fill_instructions[0]
    assert instr.destination_settler == account_to_bytes32(MEMO_PROGRAM)
    assert instr.origin_data == FillData(order.order_id, chain_a.chain_id, SOLANA_CHAIN_ID, MINT,
                                         99 * 10**6, WALLET, order.fill_deadline).encode()


def test_open_by_signature_and_settle_only_to_the_named_filler(chain_a, roles, sign):
    user, solver, attester, other = roles["user"], roles["solver"], roles["attester"], roles["outsider"]
    order = _order32(chain_a, user)
    before = chain_a.balance("USDC", solver.address)
    event, resolved = _open(chain_a, order, sign, user, other, solver.address)
    assert event["orderId"] == order.order_id == resolved.order_id
    [spent], [received] = resolved.max_spent, resolved.min_received
    assert (spent.token_account("solana"), spent.recipient_account("solana")) == (MINT, WALLET)
    assert (spent.amount, spent.chain_id) == (99 * 10**6, SOLANA_CHAIN_ID)
    assert received.recipient_address == solver.address
    fill = resolved.fill_instructions[0].decode_fill_data("solana")
    assert (fill.output_token, fill.recipient, fill.destination_chain_id) == (MINT, WALLET, SOLANA_CHAIN_ID)
    settler = chain_a.settler
    assert settler.functions.isOrder32(order.order_id).call() is True
    escrow = settler.functions.escrows(order.order_id).call()
    assert escrow[4] == solver.address and escrow[6] == fill.fill_key
    # the attester (or its key, stolen) cannot redirect the escrow to anyone else
    chain_a.expect_revert(settler.functions.settle([order.order_id], [other.address], [fill.fill_key]),
                          attester, S, "FillerMismatch")
    chain_a.expect_revert(settler.functions.settle([order.order_id], [solver.address], [keccak(b"x")]),
                          attester, S, "FillKeyMismatch")
    receipt = chain_a.send(settler.functions.settle([order.order_id], [solver.address], [fill.fill_key]), attester)
    [settled] = chain_a.events(receipt, "Settled")
    assert settled["filler"] == solver.address and settled["amount"] == 100 * 10**6
    assert chain_a.balance("USDC", solver.address) == before + 100 * 10**6


def test_open_without_filler_data_names_the_sender(chain_a, roles, sign):
    user, solver = roles["user"], roles["solver"]
    order = _order32(chain_a, user)
    chain_a.send(chain_a.settler.functions.openFor(order.to_abi(), sign(order, user.private_key), b""), solver)
    assert chain_a.settler.functions.escrows(order.order_id).call()[4] == solver.address


def test_each_type_only_for_its_kind_of_destination(chain_a, chain_b, roles, make_order, sign):
    user, solver = roles["user"], roles["solver"]
    to_evm = _order32(chain_a, user, destination_chain_id=chain_b.chain_id)
    chain_a.expect_revert(chain_a.settler.functions.openFor(to_evm.to_abi(), sign(to_evm, user.private_key), b""),
                          solver, S, "UnsupportedDestination")
    evm = make_order(chain_a, chain_b, user)
    to_solana = dataclasses.replace(evm, order=dataclasses.replace(evm.order, destination_chain_id=SOLANA_CHAIN_ID))
    chain_a.expect_revert(chain_a.settler.functions.openFor(to_solana.to_abi(), sign(to_solana, user.private_key),
                                                            b""), solver, S, "UnsupportedDestination")
    unknown = _order32(chain_a, user, destination_chain_id=901)
    chain_a.expect_revert(chain_a.settler.functions.openFor(unknown.to_abi(), sign(unknown, user.private_key), b""),
                          solver, S, "UnsupportedDestination")


def test_order32_refusals(chain_a, roles, sign):
    user, solver = roles["user"], roles["solver"]
    order = _order32(chain_a, user)
    sig = sign(order, user.private_key)
    open_for = chain_a.settler.functions.openFor
    # signed as an OrbitalOrder32, submitted as the EVM type: another digest, another signer
    # its bytes32 accounts relabeled as the EVM type: not left-padded addresses
    relabeled = order.to_abi()[:6] + (ORDER_DATA_TYPE, order.order_data)
    chain_a.expect_revert(open_for(relabeled, sig, b""), solver, S, "InvalidOrderData")
    for field in ("output_token", "recipient"):
        zero = dataclasses.replace(order, order=dataclasses.replace(order.order, **{field: "1" * 32}))
        chain_a.expect_revert(open_for(zero.to_abi(), sign(zero, user.private_key), b""), solver, S,
                              "InvalidOrderData")
    chain_a.expect_revert(open_for(order.to_abi()[:7] + (order.order_data[:-1],), sig, b""), solver, S,
                          "InvalidOrderData")
    # on chain, an order names no filler: an OrbitalOrder32 can only be opened by signature
    onchain = (chain_a.now() + 600, ORDER32_DATA_TYPE, order.order_data)
    chain_a.expect_revert(chain_a.settler.functions.open(onchain), user, S, "UnsupportedOrderDataType")
    chain_a.expect_revert(chain_a.settler.functions.resolve(onchain), user, S, "UnsupportedOrderDataType")


def test_admin_sets_32_destinations_one_kind_per_chain(chain_a, chain_b, roles):
    settler, admin, outsider = chain_a.settler, roles["admin"], roles["outsider"]
    dest = account_to_bytes32(MEMO_PROGRAM)
    chain_a.expect_revert(settler.functions.setDestination32(5, dest), outsider, S, "Unauthorized")
    receipt = chain_a.send(settler.functions.setDestination32(5, dest), admin)
    [log] = [lg for lg in receipt["logs"] if bytes(lg["topics"][0]) == keccak(text="Destination32Set(uint256,bytes32)")]
    assert int.from_bytes(bytes(log["topics"][1]), "big") == 5 and bytes(log["data"]) == dest
    assert settler.functions.destinations32(5).call() == dest
    # a chain is an EVM destination or a 32-byte one, never both
    chain_a.expect_revert(settler.functions.setDestinationSettler(5, settler.address), admin, S,
                          "DestinationKindConflict")
    chain_a.expect_revert(settler.functions.setDestination32(chain_b.chain_id, dest), admin, S,
                          "DestinationKindConflict")
    chain_a.send(settler.functions.setDestination32(5, bytes(32)), admin)      # cleared: now it may be EVM
    chain_a.send(settler.functions.setDestinationSettler(5, settler.address), admin)


# ---- EVM orders: unchanged ------------------------------------------------------------------
def test_evm_origin_data_is_the_address_encoding(chain_a, chain_b, roles, make_order, sign):
    """FillData is bytes32 now; the originData of an EVM order is still abi.encode with address
    words (so fill keys of EVM orders are unchanged), and the escrow is not a 32-order."""
    user, solver = roles["user"], roles["solver"]
    order = make_order(chain_a, chain_b, user, recipient=roles["user2"].address)
    receipt = chain_a.send(chain_a.settler.functions.openFor(order.to_abi(), sign(order, user.private_key), b""),
                           solver)
    [event] = chain_a.events(receipt, "Open")
    origin_data = ResolvedOrder.from_abi(event["resolvedOrder"]).fill_instructions[0].origin_data
    o = order.order
    assert origin_data == abi_encode(
        ["bytes32", "uint256", "uint256", "address", "uint256", "address", "uint32"],
        [order.order_id, chain_a.chain_id, chain_b.chain_id, o.output_token, o.output_amount, o.recipient,
         order.fill_deadline])
    assert chain_a.settler.functions.isOrder32(order.order_id).call() is False
    # an EVM escrow still pays whichever repayment address the destination's Filled names
    key = keccak(origin_data)
    chain_a.send(chain_a.settler.functions.settle([order.order_id], [roles["operator"].address], [key]),
                 roles["attester"])


def test_destination_refuses_origin_data_whose_words_are_not_addresses(chain_a, chain_b, roles, make_order, sign):
    user, solver = roles["user"], roles["solver"]
    order = make_order(chain_a, chain_b, user)
    good = FillData(order.order_id, chain_a.chain_id, chain_b.chain_id, order.order.output_token, 1,
                    order.order.recipient, order.fill_deadline).encode()
    for word in (3, 5):     # outputToken, recipient
        bad = bytearray(good)
        bad[32 * word] = 1   # a high byte: a 32-byte account, not a left-padded address
        chain_b.expect_revert(chain_b.settler.functions.fill(order.order_id, bytes(bad), b""), solver, S,
                              "InvalidOriginData")
    chain_b.send(chain_b.settler.functions.fill(order.order_id, good, b""), solver)


@pytest.mark.parametrize("kind", ["evm", "solana"])
def test_python_and_solidity_typehashes_agree(chain_a, chain_b, roles, make_order, kind):
    """gaslessOrderDigest hashes with the typehashes of the order's type: equal digests for
    random-ish orders of both types mean equal typehashes (and the type is in the digest)."""
    user = roles["user"]
    order = make_order(chain_a, chain_b, user) if kind == "evm" else _order32(chain_a, user)
    assert chain_a.settler.functions.gaslessOrderDigest(order.to_abi()).call() == order_digest(order)
