"""Account forms by chain kind: table tests of :mod:`protocol.accounts`."""

import pytest
from solders.pubkey import Pubkey

from protocol.accounts import (
    EVM,
    SOLANA,
    account_to_bytes32,
    b58decode,
    b58encode,
    bytes32_to_account,
    is_solana_address,
    parse_account,
)

EVM_ADDR = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SOL_KEY = "444YucPLqi6FUoEiUw7Dveb3RDfZzPAazdJSATSAkfcT"
SYSTEM = "11111111111111111111111111111111"


@pytest.mark.parametrize("raw", [b"", b"\0", b"\0\0\1", bytes(range(32)), b"\xff" * 32,
                                 bytes(Pubkey.from_string(SOL_KEY))])
def test_base58_round_trips_and_matches_solders(raw):
    assert b58decode(b58encode(raw)) == raw
    if len(raw) == 32:
        assert b58encode(raw) == str(Pubkey.from_bytes(raw))


@pytest.mark.parametrize("text, kind, expected", [
    (EVM_ADDR.lower(), EVM, EVM_ADDR),
    (SOL_KEY, SOLANA, SOL_KEY),
    (SYSTEM, SOLANA, SYSTEM),
])
def test_parse_account_accepts_the_chains_form(text, kind, expected):
    assert parse_account(text, kind) == expected


@pytest.mark.parametrize("text, kind, words", [
    (SOL_KEY, EVM, "base58 (Solana) key; this is an EVM chain"),
    (EVM_ADDR, SOLANA, "0x (EVM) address; this is a Solana chain"),
    ("0x1234", EVM, "not an EVM address"),
    ("0OIl" + SOL_KEY[4:], SOLANA, "not a Solana public key"),
    (SOL_KEY[:-3], SOLANA, "not a Solana public key"),      # 31 bytes
    ("", SOLANA, "not a Solana public key"),
])
def test_parse_account_refuses_the_other_form_and_says_which(text, kind, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_account(text, kind)


def test_bytes32_forms():
    word = account_to_bytes32(EVM_ADDR)
    assert word == bytes(12) + bytes.fromhex(EVM_ADDR[2:])
    assert bytes32_to_account(word, EVM) == EVM_ADDR
    key = account_to_bytes32(SOL_KEY)
    assert key == bytes(Pubkey.from_string(SOL_KEY))
    assert bytes32_to_account(key, SOLANA) == SOL_KEY
    with pytest.raises(ValueError, match="left-padded"):
        bytes32_to_account(key, EVM)
    assert not is_solana_address(EVM_ADDR)


def test_associated_token_address_is_spls():
    from spl.token.instructions import get_associated_token_address

    from protocol.solana import associated_token_address
    owner, mint = "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin", SOL_KEY
    assert associated_token_address(owner, mint) == str(get_associated_token_address(
        Pubkey.from_string(owner), Pubkey.from_string(mint)))
