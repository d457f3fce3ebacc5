"""protocol.erc1271: the isValidSignature calldata and how an answer or a revert is read."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from protocol import ERC1271_MAGIC, describe_revert, is_valid_signature_call, wallet_answer


def test_calldata_is_the_abi_call_and_the_magic_is_its_selector():
    digest, sig = b"\x11" * 32, b"\x22" * 65
    assert keccak(text="isValidSignature(bytes32,bytes)")[:4] == ERC1271_MAGIC
    assert is_valid_signature_call(digest, sig) == ERC1271_MAGIC + abi_encode(["bytes32", "bytes"], [digest, sig])
    with pytest.raises(ValueError):
        is_valid_signature_call(b"\x11" * 31, sig)


def test_answers_are_read_as_the_settler_reads_them():
    assert wallet_answer(ERC1271_MAGIC + b"\x00" * 28) == ERC1271_MAGIC
    assert wallet_answer(b"\xff" * 32) == b"\xff" * 4
    assert wallet_answer(ERC1271_MAGIC) == b"\x00" * 4          # shorter than a word: no answer
    assert wallet_answer(b"") == b"\x00" * 4


def test_reverts_are_described():
    assert "without a reason" in describe_revert(b"")
    message = bytes.fromhex("08c379a0") + abi_encode(["string"], ["not the owner"])
    assert describe_revert(message) == "reverted: not the owner"
    custom = bytes.fromhex("deadbeef") + b"\x00" * 32
    assert describe_revert(custom).startswith("reverted with 0xdeadbeef (36 bytes")
    assert describe_revert(bytes.fromhex("08c379a0") + b"\x01").startswith("reverted with 0x08c379a0")
