"""protocol's one implementation of each signature operation agrees with eth-account, bit for bit.

``order_id`` / ``GaslessOrder.order_id``, ``order_digest`` / ``cancel_digest`` and
``recover_order_signer`` / ``recover_cancel_signer`` (hand-made ABI words, pycryptodome
keccak through ctypes, coincurve) must give what eth_abi and eth-account give
(tests/_eip712.py) on random orders and keys, uint256 edges included, in every number and
address form the parser accepts; and the recovery must refuse exactly what the settler
refuses (wrong length, high s, v not 27 or 28), with the messages the API returns.
"""

from __future__ import annotations

import copy
import json

import coincurve
import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_keys.exceptions import BadSignature, ValidationError
from eth_utils import is_address, keccak
from eth_utils import to_checksum_address as reference_checksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import (SECP256K1_HALF_ORDER, CancelMessage, FillData, GaslessOrder, OrbitalOrder,
                      SignatureError, TypedDataError, address_to_bytes32, cancel_digest,
                      cancel_typed_data,
                      order_digest, order_id, parse_cancel_typed_data, parse_order_typed_data,
                      recover_cancel_signer, recover_order_signer)
from protocol._fast import keccak256, to_checksum_address
from tests import _eip712 as reference

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST = settings(max_examples=300, deadline=None)

addresses = st.binary(min_size=20, max_size=20).map(lambda b: reference_checksum("0x" + b.hex()))
uint256 = st.one_of(st.sampled_from([0, 1, 2**256 - 1]), st.integers(0, 2**256 - 1))
uint32 = st.one_of(st.sampled_from([0, 2**32 - 1]), st.integers(0, 2**32 - 1))
keys = st.one_of(st.sampled_from([1, SECP256K1_N - 1]), st.integers(1, SECP256K1_N - 1))


def _address_of(key: int) -> str:
    pub = coincurve.PrivateKey.from_int(key).public_key.format(compressed=False)[1:]
    return reference_checksum(keccak(pub)[12:])


@st.composite
def orders(draw, user: str | None = None) -> GaslessOrder:
    return GaslessOrder(draw(addresses), user or draw(addresses), draw(uint256), draw(uint256),
                        draw(uint32), draw(uint32),
                        OrbitalOrder(draw(addresses), draw(uint256), draw(addresses), draw(uint256),
                                     draw(addresses), draw(uint256)))


@st.composite
def keyed_orders(draw) -> tuple[int, GaslessOrder]:
    key = draw(keys)
    return key, draw(orders(user=_address_of(key)))


# ---- order ids and digests ------------------------------------------------------------------
@FAST
@given(orders())
def test_order_id_is_keccak_of_abi_encode(order):
    expected = reference.order_id(order.origin_chain_id, order.origin_settler, order.user, order.nonce)
    assert order.order_id == expected
    assert order_id(order.origin_chain_id, order.origin_settler.lower(), order.user.lower(),
                    order.nonce) == expected


@pytest.mark.parametrize("chain_id, nonce", [(-1, 0), (2**256, 0), (1, -1), (1, 2**256)])
def test_order_id_refuses_what_abi_encode_cannot_encode(chain_id, nonce):
    with pytest.raises(ValueError, match="out of range for uint256"):
        order_id(chain_id, "0x" + "aa" * 20, "0x" + "bb" * 20, nonce)


@SETTINGS
@given(orders())
def test_order_digest_is_eth_accounts(order):
    typed = order.typed_data()
    assert order_digest(order) == reference.typed_data_digest(typed)
    assert order_digest(parse_order_typed_data(json.dumps(typed))) == reference.typed_data_digest(typed)


@SETTINGS
@given(st.integers(0, 2**256 - 1), addresses, st.binary(min_size=32, max_size=32), uint256)
def test_cancel_digest_is_eth_accounts(chain_id, settler, oid, nonce):
    typed = cancel_typed_data(chain_id, settler, oid, nonce)
    cancel = CancelMessage(chain_id, settler.lower(), oid, nonce)
    assert cancel_digest(cancel) == reference.typed_data_digest(typed)
    assert parse_cancel_typed_data(json.dumps(typed)) == cancel


# ---- recovery -------------------------------------------------------------------------------
@SETTINGS
@given(keyed_orders())
def test_order_signer_is_eth_accounts(case):
    key, order = case
    typed = order.typed_data()
    signature = bytes(Account.sign_typed_data(key.to_bytes(32, "big"), full_message=typed).signature)
    expected = reference.recover(typed, signature)
    assert expected == order.user
    assert recover_order_signer(order, signature) == expected
    assert recover_order_signer(order, "0x" + signature.hex()) == expected
    other_key = (key % (SECP256K1_N - 1)) + 1        # another key, in range
    other = Account.sign_typed_data(other_key.to_bytes(32, "big"), full_message=typed).signature
    assert recover_order_signer(order, bytes(other)) == reference.recover(typed, bytes(other)) != order.user


@SETTINGS
@given(keys, st.integers(0, 2**256 - 1), addresses, st.binary(min_size=32, max_size=32), uint256)
def test_cancel_signer_is_eth_accounts(key, chain_id, settler, oid, nonce):
    typed = cancel_typed_data(chain_id, settler, oid, nonce)
    signature = bytes(Account.sign_message(reference.signable(typed), key.to_bytes(32, "big")).signature)
    expected = reference.recover(typed, signature)
    assert expected == _address_of(key)
    assert recover_cancel_signer(CancelMessage(chain_id, settler, oid, nonce), signature) == expected


def _address_form(draw, address: str) -> str:
    """An address as a user might write it: checksummed, lower, upper, unprefixed, 0X."""
    form = draw(st.sampled_from(["checksum", "lower", "upper", "bare", "0X"]))
    body = address[2:].lower()
    return {"checksum": reference_checksum(address), "lower": "0x" + body, "upper": "0x" + body.upper(),
            "bare": body, "0X": "0X" + body}[form]


def _uint_form(draw, value: int):
    form = draw(st.sampled_from(["int", "dec", "hex"]))
    return {"int": value, "dec": str(value), "hex": hex(value)}[form]


@st.composite
def signed_typed_data(draw):
    """Typed data a wallet may send (any address and number form), signed over eth-account's
    digest of that very text."""
    key, order = draw(keyed_orders())
    typed = order.typed_data()
    m, d = typed["message"], typed["message"]["orderData"]
    for holder, name in ((m, "originSettler"), (m, "user"), (d, "inputToken"), (d, "outputToken"),
                         (d, "recipient")):
        holder[name] = _address_form(draw, holder[name])
    for holder, name in ((m, "nonce"), (m, "originChainId"), (m, "openDeadline"), (m, "fillDeadline"),
                         (d, "inputAmount"), (d, "outputAmount"), (d, "destinationChainId")):
        holder[name] = _uint_form(draw, int(holder[name]))
    typed["domain"]["chainId"] = _uint_form(draw, order.origin_chain_id)
    typed["domain"]["verifyingContract"] = _address_form(draw, order.origin_settler)
    text = json.dumps(typed)
    sig = coincurve.PrivateKey.from_int(key).sign_recoverable(reference.typed_data_digest(text),
                                                              hasher=None)
    return order, text, "0x" + (sig[:64] + bytes([sig[64] + 27])).hex()


@SETTINGS
@given(signed_typed_data())
def test_every_accepted_form_parses_to_what_was_signed(case):
    order, text, signature = case
    parsed = parse_order_typed_data(text)
    assert parsed == order
    assert order_digest(parsed) == reference.typed_data_digest(text)
    assert recover_order_signer(parsed, signature) == reference.recover(text, bytes.fromhex(signature[2:]))
    assert recover_order_signer(parsed, signature) == order.user


# ---- the settler's signature rules ----------------------------------------------------------
ORDER = GaslessOrder("0x" + "aa" * 20, "0x" + "bb" * 20, 7, 31337, 1000, 2000,
                     OrbitalOrder("0x" + "11" * 20, 5, "0x" + "22" * 20, 4, "0x" + "33" * 20, 31338))
CANCEL = CancelMessage(31337, "0x" + "aa" * 20, ORDER.order_id, 7)


def _expected(typed: dict, raw: bytes) -> tuple[str, str]:
    """What the settler's rules make of ``raw``, then what eth-account recovers."""
    if len(raw) != 65:
        return ("refused", f"signature must be 65 bytes, got {len(raw)}")
    if int.from_bytes(raw[32:64], "big") > SECP256K1_HALF_ORDER:
        return ("refused", "signature s is in the upper half of the curve order (malleable form)")
    if raw[64] not in (27, 28):
        return ("refused", f"signature v must be 27 or 28, got {raw[64]}")
    try:
        return ("ok", reference.recover(typed, raw))
    except (BadSignature, ValidationError, ValueError):
        return ("refused", "no public key recovers from this signature")


def _outcome(fn, *args) -> tuple[str, str]:
    try:
        return ("ok", fn(*args))
    except SignatureError as exc:
        message = str(exc)
        if message.startswith("no public key recovers"):   # then the library's detail
            message = message.split(" (")[0]
        return ("refused", message)


@st.composite
def signatures(draw) -> tuple[bytes, bytes | str]:
    """Signatures from valid to absurd (any r and s, edges included, any v, any length), as
    bytes or hex in any case; with their raw bytes."""
    edge = st.sampled_from([0, 1, SECP256K1_HALF_ORDER, SECP256K1_HALF_ORDER + 1, SECP256K1_N - 1,
                            SECP256K1_N, 2**256 - 1])
    r = draw(st.one_of(edge, uint256))
    s = draw(st.one_of(edge, st.integers(0, SECP256K1_HALF_ORDER), uint256))
    v = draw(st.one_of(st.sampled_from([27, 28, 0, 1]), st.integers(0, 255)))
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v])
    cut = draw(st.one_of(st.just(65), st.integers(0, 70)))
    raw = (raw + draw(st.binary(min_size=5, max_size=5)))[:cut]
    return raw, draw(st.sampled_from([raw, "0x" + raw.hex(), "0x" + raw.hex().upper(), raw.hex()]))


@SETTINGS
@given(signatures())
def test_recovery_refuses_what_the_settler_refuses(case):
    raw, signature = case
    assert _outcome(recover_order_signer, ORDER, signature) == _expected(ORDER.typed_data(), raw)
    cancel_typed = cancel_typed_data(CANCEL.chain_id, CANCEL.settler, CANCEL.order_id, CANCEL.nonce)
    assert _outcome(recover_cancel_signer, CANCEL, signature) == _expected(cancel_typed, raw)


def test_refusals_name_the_rule():
    good = bytes(Account.sign_typed_data("0x" + "01" * 32, full_message=ORDER.typed_data()).signature)
    s = int.from_bytes(good[32:64], "big")
    high_s = good[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - good[64]])
    assert reference.recover(ORDER.typed_data(), high_s) == reference.recover(ORDER.typed_data(), good)
    for sig, message in (
            (good[:64], "signature must be 65 bytes, got 64"),
            (good + b"\x00", "signature must be 65 bytes, got 66"),
            (high_s, "signature s is in the upper half of the curve order (malleable form)"),
            (good[:64] + bytes([good[64] - 27]), f"signature v must be 27 or 28, got {good[64] - 27}"),
            (bytes(32) + (1).to_bytes(32, "big") + b"\x1b", "no public key recovers from this signature"),
            ("0xzz", "signature is not hex")):
        for fn, msg in ((recover_order_signer, ORDER), (recover_cancel_signer, CANCEL)):
            with pytest.raises(SignatureError) as exc:
                fn(msg, sig)
            assert str(exc.value).startswith(message), (fn.__name__, sig)


# ---- the primitives ---------------------------------------------------------------------------
@FAST
@given(st.binary(max_size=300))
def test_keccak_matches_eth_utils(data):
    assert keccak256(data) == keccak(data)


@FAST
@given(st.one_of(addresses.flatmap(lambda a: st.sampled_from(
    [a, a.lower(), a.upper(), "0x" + a[2:].upper(), a[2:], "0X" + a[2:], a + "0", a[:-1]])),
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


@FAST
@given(addresses, st.binary(min_size=32, max_size=32), uint256, uint256, addresses, uint256, addresses,
       uint32)
def test_abi_words_and_fill_key_match_eth_abi(address, oid, origin, dest, token, amount, recipient, deadline):
    assert address_to_bytes32(address.lower()) == abi_encode(["address"], [address])
    fill = FillData(oid, origin, dest, token, amount, recipient, deadline)
    assert fill.fill_key == keccak(fill.encode())


# ---- what the parser accepts is what eth-account hashes ----------------------------------------
@FAST
@given(st.one_of(addresses.map(lambda a: a.upper()), addresses.map(str.lower), st.text(max_size=44)))
def test_parser_accepts_exactly_the_addresses_eth_utils_accepts(value):
    typed = copy.deepcopy(ORDER.typed_data())
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
    typed = ORDER.typed_data()
    typed["message"]["orderData"]["inputAmount"] = value
    try:
        parsed = parse_order_typed_data(typed)
    except TypedDataError:
        return
    assert order_digest(parsed) == reference.typed_data_digest(typed)
