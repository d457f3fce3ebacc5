"""protocol/ against the deployed contracts: order ids, EIP-712 digests, event layouts and the
Open decoder must match Solidity bit for bit, and the strict typed-data parser must refuse what
the settler would refuse."""

from __future__ import annotations

import copy
import json

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

import protocol
from protocol import (
    EVENTS,
    FillData,
    GaslessOrder,
    OrbitalOrder,
    ResolvedOrder,
    SignatureError,
    TypedDataError,
    cancel_digest,
    cancel_typed_data,
    decode_open_event,
    load_artifact,
    order_digest,
    order_id,
    parse_cancel_typed_data,
    parse_order_typed_data,
    recover_cancel_signer,
    recover_order_signer,
)
from protocol.events import OPEN_TOPIC
from tests import _eip712 as reference

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.mark.parametrize("nonce", [0, 1, 2**64 + 3, 2**256 - 1])
def test_order_id_matches_solidity(chain_a, roles, nonce):
    user = roles["user"].address
    settler = chain_a.settler
    expected = settler.functions.orderId(chain_a.chain_id, settler.address, user, nonce).call()
    assert order_id(chain_a.chain_id, settler.address, user, nonce) == expected
    assert order_id(chain_a.chain_id, settler.address, user.lower(), nonce) == expected


def test_order_digest_matches_settler(chain_a, chain_b, roles, make_order):
    order = make_order(chain_a, chain_b, roles["user"], nonce=2**200)
    on_chain = chain_a.settler.functions.gaslessOrderDigest(order.to_abi()).call()
    assert order_digest(order) == on_chain
    # The typed data a wallet signs hashes the same, also after a JSON round trip (what the
    # gRPC API carries), and parses back to the same order.
    assert reference.typed_data_digest(order.typed_data()) == on_chain
    assert order_digest(parse_order_typed_data(json.dumps(order.typed_data()))) == on_chain


def test_signed_typed_data_is_accepted_and_open_event_decodes(chain_a, chain_b, roles, make_order):
    user, solver = roles["user"], roles["solver"]
    order = make_order(chain_a, chain_b, user)
    typed = order.typed_data()
    signature = Account.sign_typed_data(user.private_key, full_message=typed).signature
    assert parse_order_typed_data(typed) == order
    assert recover_order_signer(order, signature) == user.address
    expected = ResolvedOrder.from_abi(chain_a.settler.functions.resolveFor(order.to_abi(), b"").call(
        {"from": solver.address}))
    receipt = chain_a.send(chain_a.settler.functions.openFor(order.to_abi(), bytes(signature), b""), solver)
    [log] = [lg for lg in receipt["logs"] if "0x" + bytes(lg["topics"][0]).hex() == OPEN_TOPIC]
    assert bytes(log["topics"][1]) == order.order_id
    assert decode_open_event(log["data"]) == expected
    assert decode_open_event(bytes(log["data"]).hex()) == expected


def test_event_specs_match_compiled_abis():
    abi_events = {}
    for name in protocol.CONTRACT_NAMES:
        for entry in load_artifact(name).abi:
            if entry["type"] == "event":
                abi_events[entry["name"]] = entry
    for spec in EVENTS:
        entry = abi_events[spec.name]
        assert [(i["name"], i["indexed"]) for i in entry["inputs"]] == [(n, ix) for n, _, ix in spec.inputs]
        types = ",".join(_canonical(i) for i in entry["inputs"])
        assert spec.topic == "0x" + keccak(text=f"{spec.name}({types})").hex(), spec.name


def _canonical(param: dict) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_canonical(c) for c in param["components"]) + ")" + param["type"][len("tuple"):]
    return param["type"]


def test_codecs_round_trip():
    order = OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20, 31338)
    assert OrbitalOrder.decode(order.encode()) == order
    assert OrbitalOrder.decode("0x" + order.encode().hex()) == order
    fill = FillData(b"\x05" * 32, 31337, 31338, "0x" + "22" * 20, 4, "0x" + "33" * 20, 1234)
    assert FillData.decode(fill.encode()) == fill and fill.fill_key == keccak(fill.encode())
    with pytest.raises(ValueError):
        OrbitalOrder.decode(order.encode()[:-1])
    assert protocol.bytes32_to_address(protocol.address_to_bytes32(order.recipient)) == order.recipient
    with pytest.raises(ValueError):
        protocol.bytes32_to_address(b"\x01" * 32)


def _order() -> GaslessOrder:
    return GaslessOrder("0x" + "aa" * 20, Account.from_key("0x" + "01" * 32).address, 9, 31337, 1000, 2000,
                        OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20, 31338))


@pytest.mark.parametrize(
    "path, mutate",
    [
        ("primaryType", lambda t: t.update(primaryType="Other")),
        ("types", lambda t: t["types"].pop("OrbitalOrder")),
        ("types.OrbitalOrder", lambda t: t["types"]["OrbitalOrder"].reverse()),
        ("domain", lambda t: t["domain"].update(name="Evil")),
        ("domain.chainId", lambda t: t["domain"].update(chainId=1)),
        ("domain.verifyingContract", lambda t: t["domain"].update(verifyingContract="0x" + "bb" * 20)),
        ("message.nonce", lambda t: t["message"].pop("nonce")),
        ("message.extra", lambda t: t["message"].update(extra=1)),
        ("message.orderDataType", lambda t: t["message"].update(orderDataType="0x" + "00" * 32)),
        ("message.openDeadline", lambda t: t["message"].update(openDeadline=2**32)),
        ("message.orderData.inputAmount", lambda t: t["message"]["orderData"].update(inputAmount="-1")),
        ("message.orderData.recipient", lambda t: t["message"]["orderData"].update(recipient="0x12")),
    ],
)
def test_parse_refuses_non_orbital_typed_data(path, mutate):
    typed = copy.deepcopy(_order().typed_data())
    mutate(typed)
    with pytest.raises(TypedDataError) as exc:
        parse_order_typed_data(typed)
    assert exc.value.field == path


def test_parse_accepts_equivalent_number_forms():
    typed = _order().typed_data()
    typed["message"]["nonce"] = 9
    typed["message"]["orderData"]["inputAmount"] = "0x5"
    assert parse_order_typed_data(typed) == _order()


def test_recover_order_signer_is_strict():
    key = "0x" + "01" * 32
    order = _order()
    sig = bytes(Account.sign_typed_data(key, full_message=order.typed_data()).signature)
    assert recover_order_signer(order, sig) == recover_order_signer(order, "0x" + sig.hex()) == order.user
    s = int.from_bytes(sig[32:64], "big")
    with pytest.raises(SignatureError, match="upper half"):
        recover_order_signer(order, sig[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - sig[64]]))
    with pytest.raises(SignatureError, match="v must be"):
        recover_order_signer(order, sig[:64] + bytes([sig[64] - 27]))
    with pytest.raises(SignatureError, match="65 bytes"):
        recover_order_signer(order, sig[:64])
    other = bytes(Account.sign_typed_data("0x" + "02" * 32, full_message=order.typed_data()).signature)
    assert recover_order_signer(order, other) == Account.from_key("0x" + "02" * 32).address != order.user


def test_cancel_message_round_trip():
    key = "0x" + "01" * 32
    oid = _order().order_id
    typed = cancel_typed_data(31337, "0x" + "aa" * 20, oid, 9)
    cancel = parse_cancel_typed_data(json.dumps(typed))
    assert cancel == protocol.CancelMessage(31337, to_checksum_address("0x" + "aa" * 20), oid, 9)
    assert cancel_digest(cancel) == reference.typed_data_digest(typed)
    sig = Account.sign_typed_data(key, full_message=typed).signature
    assert recover_cancel_signer(cancel, sig) == Account.from_key(key).address
    assert keccak(text="CancelOrder(bytes32 orderId,uint256 nonce)") == protocol.CANCEL_ORDER_TYPEHASH


def test_settler_publishes_its_eip712_domain(chain_a):
    fields, name, version, chain_id, verifying, salt, extensions = chain_a.settler.functions.eip712Domain().call()
    assert fields == b"\x0f" and salt == bytes(32) and extensions == []
    assert {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying} == protocol.domain(
        chain_a.chain_id, chain_a.settler.address)
