"""OrbitalOrder32: orders to a Solana destination (accounts in 32 bytes), hashed, parsed and
encoded bit for bit as eth-account and eth_abi do; the EVM type's encodings unchanged.

The contract side of the same parity (typehashes, digests, originData against the deployed
settler) is tests/contracts/test_order32.py.
"""

from __future__ import annotations

import copy
import json

import coincurve
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak
from eth_utils import to_checksum_address as reference_checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (GASLESS_ORDER32_TYPE, GASLESS_ORDER32_TYPEHASH, GASLESS_ORDER_TYPEHASH,
                      ORBITAL_ORDER32_TYPEHASH, ORDER32_DATA_TYPE, ORDER_DATA_TYPE, FillData,
                      FillInstruction, GaslessOrder, OrbitalOrder, Output, TypedDataError,
                      order_digest, parse_order_typed_data, recover_order_signer)
from protocol.accounts import b58encode
from tests import _eip712 as reference

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141

addresses = st.binary(min_size=20, max_size=20).map(lambda b: reference_checksum("0x" + b.hex()))
keys32 = st.one_of(st.sampled_from([bytes(32), b"\xff" * 32, bytes(31) + b"\x01"]),
                   st.binary(min_size=32, max_size=32)).map(b58encode)
uint256 = st.one_of(st.sampled_from([0, 1, 2**256 - 1]), st.integers(0, 2**256 - 1))
uint32 = st.one_of(st.sampled_from([0, 2**32 - 1]), st.integers(0, 2**32 - 1))

MINT = "So11111111111111111111111111111111111111112"
WALLET = "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM"


def _order32(**kw) -> GaslessOrder:
    swap = OrbitalOrder("0x" + "11" * 20, 5, MINT, 4, WALLET, 900, "solana")
    return GaslessOrder("0x" + "aa" * 20, Account.from_key("0x" + "01" * 32).address, 9, 31337,
                        1000, 2000, swap, **kw)


@st.composite
def orders32(draw, user: str | None = None) -> GaslessOrder:
    return GaslessOrder(draw(addresses), user or draw(addresses), draw(uint256), draw(uint256),
                        draw(uint32), draw(uint32),
                        OrbitalOrder(draw(addresses), draw(uint256), draw(keys32), draw(uint256),
                                     draw(keys32), draw(uint256), "solana"))


def test_type_strings_and_hashes():
    assert ORBITAL_ORDER32_TYPEHASH == ORDER32_DATA_TYPE == keccak(
        text="OrbitalOrder32(address inputToken,uint256 inputAmount,bytes32 outputToken,"
             "uint256 outputAmount,bytes32 recipient,uint256 destinationChainId)")
    assert GASLESS_ORDER32_TYPE.endswith(")OrbitalOrder32(address inputToken,uint256 inputAmount,"
                                         "bytes32 outputToken,uint256 outputAmount,bytes32 recipient,"
                                         "uint256 destinationChainId)")
    assert GASLESS_ORDER32_TYPEHASH == keccak(text=GASLESS_ORDER32_TYPE) != GASLESS_ORDER_TYPEHASH
    assert ORDER32_DATA_TYPE != ORDER_DATA_TYPE
    order = _order32()
    assert order.order_data_type == ORDER32_DATA_TYPE and order.to_abi()[6] == ORDER32_DATA_TYPE
    assert order.order.type_name == "OrbitalOrder32" and order.destination_kind == "solana"


@SETTINGS
@given(orders32())
def test_order32_digest_is_eth_accounts(order):
    typed = order.typed_data()
    assert typed["message"]["orderData"]["outputToken"] == "0x" + order.order.output_token_word.hex()
    assert order_digest(order) == reference.typed_data_digest(typed)
    parsed = parse_order_typed_data(json.dumps(typed))
    assert parsed == order
    assert order_digest(parsed) == reference.typed_data_digest(typed)


@SETTINGS
@given(st.integers(1, SECP256K1_N - 1).flatmap(lambda k: st.tuples(st.just(k), orders32(
    user=reference_checksum(keccak(coincurve.PrivateKey.from_int(k).public_key.format(
        compressed=False)[1:])[12:])))))
def test_order32_signer_is_eth_accounts(case):
    key, order = case
    typed = order.typed_data()
    signature = bytes(Account.sign_typed_data(key.to_bytes(32, "big"), full_message=typed).signature)
    assert recover_order_signer(order, signature) == reference.recover(typed, signature) == order.user


@SETTINGS
@given(orders32())
def test_order32_codecs_round_trip(order):
    o = order.order
    data = o.encode()
    assert data == abi_encode(["address", "uint256", "bytes32", "uint256", "bytes32", "uint256"],
                              [o.input_token, o.input_amount, o.output_token_word, o.output_amount,
                               o.recipient_word, o.destination_chain_id])
    assert OrbitalOrder.decode(data, "solana") == o
    fill = FillData(order.order_id, order.origin_chain_id, o.destination_chain_id, o.output_token,
                    o.output_amount, o.recipient, order.fill_deadline)
    assert FillData.decode(fill.encode(), "solana") == fill
    assert fill.fill_key == keccak(fill.encode())
    instr = FillInstruction(o.destination_chain_id, bytes(32), fill.encode())
    assert instr.decode_fill_data("solana") == fill
    out = Output(o.output_token_word, 1, o.recipient_word, o.destination_chain_id)
    assert out.token_account("solana") == o.output_token and out.recipient_account("solana") == o.recipient


@SETTINGS
@given(addresses, st.binary(min_size=32, max_size=32), uint256, uint256, addresses, uint256,
       addresses, uint32)
def test_evm_origin_data_is_the_address_layout(address, oid, origin, dest, token, amount, recipient,
                                               deadline):
    """FillData now carries bytes32 accounts; for EVM addresses its bytes are exactly the old
    abi.encode with address words, so EVM fill keys are unchanged."""
    fill = FillData(oid, origin, dest, token, amount, recipient, deadline)
    old = abi_encode(["bytes32", "uint256", "uint256", "address", "uint256", "address", "uint32"],
                     [oid, origin, dest, token, amount, recipient, deadline])
    assert fill.encode() == old and fill.fill_key == keccak(old)
    assert FillData.decode(old) == fill == FillData.decode(old, "evm")


def test_evm_fill_data_refuses_a_word_that_is_not_an_address():
    fill = FillData(b"\x01" * 32, 1, 900, MINT, 4, WALLET, 1000)
    with pytest.raises(ValueError, match="not a left-padded EVM address"):
        FillData.decode(fill.encode())


def test_orbital_order32_refuses_evm_accounts_and_unknown_kinds():
    with pytest.raises(ValueError, match="recipient: .*0x \\(EVM\\) address"):
        OrbitalOrder("0x" + "11" * 20, 5, MINT, 4, "0x" + "22" * 20, 900, "solana")
    with pytest.raises(ValueError, match="output_token: .*not a Solana public key"):
        OrbitalOrder("0x" + "11" * 20, 5, "0OIl", 4, WALLET, 900, "solana")
    with pytest.raises(ValueError, match="unknown destination kind"):
        OrbitalOrder("0x" + "11" * 20, 5, MINT, 4, WALLET, 900, "cosmos")  # type: ignore[arg-type]
    with pytest.raises(ValueError):   # a base58 key where an EVM address belongs
        OrbitalOrder("0x" + "11" * 20, 5, MINT, 4, WALLET, 900)


@pytest.mark.parametrize(
    "path, mutate",
    [
        ("types", lambda t: t["types"].update(OrbitalOrder=[])),
        ("types.OrbitalOrder32", lambda t: t["types"]["OrbitalOrder32"][2].update(type="address")),
        ("types.GaslessCrossChainOrder",
         lambda t: t["types"]["GaslessCrossChainOrder"][7].update(type="OrbitalOrder")),
        ("message.orderDataType", lambda t: t["message"].update(orderDataType="0x" + ORDER_DATA_TYPE.hex())),
        ("message.orderData.outputToken",
         lambda t: t["message"]["orderData"].update(outputToken="0x" + "22" * 20)),
        ("message.orderData.recipient", lambda t: t["message"]["orderData"].update(recipient=WALLET)),
        ("message.orderData.recipient", lambda t: t["message"]["orderData"].update(recipient="0x" + "2" * 63)),
        ("message.orderData.extra", lambda t: t["message"]["orderData"].update(extra=1)),
    ],
)
def test_parse_refuses_malformed_order32(path, mutate):
    typed = copy.deepcopy(_order32().typed_data())
    mutate(typed)
    with pytest.raises(TypedDataError) as exc:
        parse_order_typed_data(typed)
    assert exc.value.field == path


def test_evm_typed_data_cannot_claim_the_32_data_type():
    typed = GaslessOrder("0x" + "aa" * 20, "0x" + "bb" * 20, 1, 31337, 1000, 2000,
                         OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20,
                                      31338)).typed_data()
    typed["message"]["orderDataType"] = "0x" + ORDER32_DATA_TYPE.hex()
    with pytest.raises(TypedDataError) as exc:
        parse_order_typed_data(typed)
    assert exc.value.field == "message.orderDataType"


def test_order_id_does_not_depend_on_the_type():
    order = _order32()
    evm = GaslessOrder(order.origin_settler, order.user, order.nonce, order.origin_chain_id,
                       order.open_deadline, order.fill_deadline,
                       OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20, 31338))
    assert order.order_id == evm.order_id == reference.order_id(
        order.origin_chain_id, order.origin_settler, order.user, order.nonce)
