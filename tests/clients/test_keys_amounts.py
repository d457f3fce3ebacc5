"""Key loading (env var, keystore), signing in the node's format, and amount parsing."""

from __future__ import annotations

import json

import pytest
from eth_account import Account

from clients import ClientError, Signer, as_signer, format_amount, load_key_env, load_keystore, parse_amount
from protocol import recover_order_signer

from .conftest import USER, make_order

KEY_HEX = USER.private_key[2:]


def test_key_from_env_signs_orders_the_node_accepts():
    signer = load_key_env("MY_KEY", {"MY_KEY": USER.private_key})
    assert signer.address == USER.address
    order = make_order()
    sig = signer.sign_typed_data(json.dumps(order.typed_data()))
    raw = bytes.fromhex(sig[2:])
    assert sig.startswith("0x") and len(raw) == 65 and raw[64] in (27, 28)
    assert recover_order_signer(order, sig) == order.user


def test_missing_env_var_names_the_variable():
    with pytest.raises(ClientError, match="ORBITAL_KEY is not set"):
        load_key_env("ORBITAL_KEY", {})


def test_a_bad_key_is_refused_without_quoting_it():
    bad = "0x" + KEY_HEX[:-2] + "zz"
    with pytest.raises(ClientError) as err:
        load_key_env("K", {"K": bad})
    assert "K does not hold a valid private key" in str(err.value)
    assert KEY_HEX[:20] not in str(err.value) and err.value.__cause__ is None
    assert err.value.__suppress_context__


def test_signer_never_shows_its_key():
    signer = as_signer(USER.private_key)
    for text in (repr(signer), str(signer), f"{signer}", repr([signer])):
        assert KEY_HEX not in text and USER.address in text
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(signer)
    assert as_signer(signer) is signer
    assert as_signer(Account.from_key(USER.private_key)).address == USER.address


@pytest.fixture
def keystore(tmp_path):
    path = tmp_path / "user.json"
    path.write_text(json.dumps(Account.encrypt(USER.private_key, "s3cret", kdf="pbkdf2",
                                               iterations=16)))
    return str(path)


def test_keystore_round_trip(keystore):
    assert load_keystore(keystore, "s3cret").address == USER.address


def test_keystore_wrong_password_or_bad_file(keystore, tmp_path):
    with pytest.raises(ClientError, match="wrong password"):
        load_keystore(keystore, "nope")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ClientError, match="not JSON"):
        load_keystore(str(tmp_path / "junk.json"), "x")
    (tmp_path / "empty.json").write_text("{}")
    with pytest.raises(ClientError, match="not a valid keystore"):
        load_keystore(str(tmp_path / "empty.json"), "x")
    with pytest.raises(ClientError, match="cannot read keystore"):
        load_keystore(str(tmp_path / "missing.json"), "x")


def test_signer_accepts_bytes_and_unprefixed_hex():
    assert Signer(bytes.fromhex(KEY_HEX)).address == USER.address
    assert Signer(KEY_HEX).address == USER.address


@pytest.mark.parametrize("text,decimals,expected", [
    ("100000000", None, 100_000_000),
    ("1_000", None, 1000),
    (" 42 ", None, 42),
    ("100.5", 6, 100_500_000),
    ("0.1", 6, 100_000),
    ("1", 18, 10**18),
    ("0.000000000000000001", 18, 1),
    (str(2**256 - 1), None, 2**256 - 1),
    (123, None, 123),
])
def test_parse_amount(text, decimals, expected):
    assert parse_amount(text, decimals) == expected


@pytest.mark.parametrize("text,decimals,message", [
    ("1.5", None, "has a fraction"),
    ("1e6", None, "has a fraction"),
    ("0.0000001", 6, "more than 6 decimals"),
    ("0", None, "must be > 0"),
    ("-5", None, "must be > 0"),
    ("abc", None, "not a number"),
    ("nan", 6, "not a number"),
    (str(2**256), None, "does not fit in uint256"),
    ("1", 99, "decimals must be"),
])
def test_parse_amount_refusals(text, decimals, message):
    with pytest.raises(ClientError, match=message):
        parse_amount(text, decimals)


def test_format_amount():
    assert format_amount(100_500_000, 6) == "100.5"
    assert format_amount(10**18, 18) == "1"
    assert format_amount(1, 18) == "0.000000000000000001"
    assert format_amount(77) == "77"
