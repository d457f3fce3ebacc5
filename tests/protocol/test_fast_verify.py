"""The submission fast path agrees with the eth-account reference, bit for bit.

``recover_order_signer`` / ``order_digest`` / ``order_id_of`` (hand-made EIP-712 words,
pycryptodome keccak through ctypes, coincurve) must give what ``recover_signer`` /
``typed_data_digest`` (eth-account walking the typed data) and ``GaslessOrder.order_id``
(eth_abi) give, on random valid orders in every number and address form the parser
accepts; and both paths must refuse the same signatures, with the same error type.
"""

from __future__ import annotations

import copy
import json

import coincurve
import pytest
from eth_utils import is_address, keccak
from eth_utils import to_checksum_address as reference_checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (GaslessOrder, OrbitalOrder, SignatureError, TypedDataError,
                      parse_order_typed_data, recover_signer, typed_data_digest)
from protocol._fast import keccak256, to_checksum_address
from protocol.signatures import SECP256K1_HALF_ORDER, order_digest, order_id_of, recover_order_signer

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
uint256 = st.integers(0, 2**256 - 1)
uint32 = st.integers(0, 2**32 - 1)
keys = st.integers(1, SECP256K1_N - 1)


def _address_form(draw, address: str) -> str:
    """An address as a user might write it: checksummed, lower, upper, unprefixed, 0X."""
    form = draw(st.sampled_from(["checksum", "lower", "upper", "bare", "0X"]))
    body = address[2:]
    return {"checksum": reference_checksum(address), "lower": address, "upper": "0x" + body.upper(),
            "bare": body, "0X": "0X" + body}[form]


def _uint_form(draw, value: int):
    form = draw(st.sampled_from(["int", "dec", "hex"]))
    return {"int": value, "dec": str(value), "hex": hex(value)}[form]


@st.composite
def signed_orders(draw):
    key = coincurve.PrivateKey.from_int(draw(keys))
    user = "0x" + keccak(key.public_key.format(compressed=False)[1:])[12:].hex()
    chain_id = draw(uint256)
    order = GaslessOrder(draw(addresses), user, draw(uint256), chain_id, draw(uint32), draw(uint32),
                         OrbitalOrder(draw(addresses), draw(uint256), draw(addresses), draw(uint256),
                                      draw(addresses), draw(uint256)))
    typed = order.typed_data()
    m, d = typed["message"], typed["message"]["orderData"]
    for holder, name in ((m, "originSettler"), (m, "user"), (d, "inputToken"), (d, "outputToken"),
                         (d, "recipient")):
        holder[name] = _address_form(draw, holder[name].lower())
    for holder, name in ((m, "nonce"), (m, "originChainId"), (m, "openDeadline"), (m, "fillDeadline"),
                         (d, "inputAmount"), (d, "outputAmount"), (d, "destinationChainId")):
        holder[name] = _uint_form(draw, int(holder[name]))
    typed["domain"]["chainId"] = _uint_form(draw, chain_id)
    typed["domain"]["verifyingContract"] = _address_form(draw, order.origin_settler.lower())
    text = json.dumps(typed)
    sig = key.sign_recoverable(typed_data_digest(text), hasher=None)   # the reference digest
    return order, text, "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()


@SETTINGS
@given(signed_orders())
def test_fast_path_agrees_with_eth_account(case):
    order, text, signature = case
    parsed = parse_order_typed_data(text)
    assert parsed == order
    assert order_digest(parsed) == typed_data_digest(text)
    assert order_id_of(parsed) == order.order_id
    signer = recover_signer(text, signature)
    assert signer == order.user
    assert recover_order_signer(parsed, signature) == signer
    assert recover_order_signer(parsed, bytes.fromhex(signature[2:])) == signer


def _outcome(fn, *args):
    try:
        return ("ok", fn(*args))
    except SignatureError as exc:
        return ("refused", str(exc).split(" (")[0])


@st.composite
def signatures(draw):
    """Signatures from valid to absurd: any r and s (edges included), any v, any length."""
    edge = st.sampled_from([0, 1, SECP256K1_HALF_ORDER, SECP256K1_HALF_ORDER + 1, SECP256K1_N - 1,
                            SECP256K1_N, 2**256 - 1])
    r = draw(st.one_of(edge, uint256))
    s = draw(st.one_of(edge, st.integers(0, SECP256K1_HALF_ORDER), uint256))
    v = draw(st.one_of(st.sampled_from([27, 28, 0, 1]), st.integers(0, 255)))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
    cut = draw(st.one_of(st.just(65), st.integers(0, 70)))
    raw = (raw + draw(st.binary(min_size=5, max_size=5)))[:cut]
    return draw(st.sampled_from([raw, "0x" + raw.hex(), "0x" + raw.hex().upper(), raw.hex()]))


@SETTINGS
@given(signatures())
def test_both_paths_refuse_the_same_signatures(signature):
    order = GaslessOrder("0x" + "aa" * 20, "0x" + "bb" * 20, 7, 31337, 1000, 2000,
                         OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20, 31338))
    typed = order.typed_data()
    assert _outcome(recover_signer, typed, signature) == _outcome(recover_order_signer, order, signature)


def test_refusals_name_the_rule():
    order = GaslessOrder("0x" + "aa" * 20, "0x" + "bb" * 20, 7, 31337, 1000, 2000,
                         OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20, 31338))
    good = bytes(32) + (1).to_bytes(32, "big") + bytes([27])
    for sig, reason in ((good[:64], "65 bytes"), (good[:32] + (2**256 - 1).to_bytes(32, "big") + b"\x1b", "upper half"),
                        (good[:64] + b"\x01", "v must be"), (good, "no public key"), ("0xzz", "not hex")):
        with pytest.raises(SignatureError, match=reason):
            recover_order_signer(order, sig)
        with pytest.raises(SignatureError, match=reason):
            recover_signer(order.typed_data(), sig)


@SETTINGS
@given(st.binary(max_size=300))
def test_keccak_matches_eth_utils(data):
    assert keccak256(data) == keccak(data)


@SETTINGS
@given(st.one_of(addresses.flatmap(lambda a: st.sampled_from(
    [a, a.upper(), "0x" + a[2:].upper(), a[2:], "0X" + a[2:], reference_checksum(a), a + "0", a[:-1]])),
    st.text(max_size=44)))
def test_checksum_matches_eth_utils(value):
    try:
        expected = ("ok", reference_checksum(value))
    except (ValueError, TypeError) as exc:
        expected = ("error", type(exc))
    try:
        got = ("ok", to_checksum_address(value))
    except (ValueError, TypeError) as exc:
        got = ("error", type(exc))
    assert got == expected
    if got[0] == "ok":   # a second time, from the cache
        assert to_checksum_address(value) == expected[1]


@SETTINGS
@given(st.one_of(addresses.map(lambda a: a.upper()), addresses, st.text(max_size=44)))
def test_parser_accepts_exactly_the_addresses_eth_utils_accepts(value):
    typed = GaslessOrder("0x" + "aa" * 20, "0x" + "bb" * 20, 7, 31337, 1000, 2000,
                         OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20,
                                      31338)).typed_data()
    typed = copy.deepcopy(typed)
    typed["message"]["orderData"]["recipient"] = value
    try:
        got = parse_order_typed_data(typed).order.recipient
    except TypedDataError as exc:
        assert exc.field == "message.orderData.recipient"
        got = None
    assert got == (reference_checksum(value) if is_address(value) else None)


@SETTINGS
@given(st.one_of(st.text(alphabet="0123456789abcdefxX_ +-", max_size=12), uint256.map(hex),
                 st.integers(-5, 2**256 + 5)))
def test_uint_forms_parse_only_where_eth_account_hashes(value):
    typed = GaslessOrder("0x" + "aa" * 20, "0x" + "bb" * 20, 7, 31337, 1000, 2000,
                         OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20,
                                      31338)).typed_data()
    typed["message"]["orderData"]["inputAmount"] = value
    try:
        parsed = parse_order_typed_data(typed)
    except TypedDataError:
        return
    assert order_digest(parsed) == typed_data_digest(typed)
