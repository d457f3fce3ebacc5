"""Accounts of every chain kind Orbital serves, and their one bytes32 form.

An order names tokens and recipients on its destination chain. On an EVM chain they are
20-byte addresses, written ``0x`` + 40 hex (checksummed); on Solana they are 32-byte public
keys, written in base58. ERC-7683's ``Output`` and Orbital's ``FillData`` carry both as
``bytes32``: an EVM address left-padded with 12 zero bytes (what ``abi.encode(address)``
makes, so the EVM encodings are unchanged), a Solana public key as its own 32 bytes.

Which form is allowed is decided by the chain, never guessed from the text alone: a 0x
address where the chain is Solana, or a base58 key where it is EVM, is refused with a
message naming the form expected (:func:`parse_account`).
"""

from __future__ import annotations

import re
from typing import Literal

from protocol._fast import address_word, to_checksum_address

__all__ = ["ChainKind", "EVM", "SOLANA", "CHAIN_KINDS", "b58encode", "b58decode",
           "is_evm_address", "is_solana_address", "is_solana_signature", "parse_account", "account_to_bytes32",
           "bytes32_to_account"]

ChainKind = Literal["evm", "solana"]
EVM: ChainKind = "evm"
SOLANA: ChainKind = "solana"
CHAIN_KINDS: tuple[ChainKind, ...] = (EVM, SOLANA)

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
_EVM = re.compile(r"0x[0-9a-fA-F]{40}")
_SOLANA = re.compile(r"[1-9A-HJ-NP-Za-km-z]{32,44}")


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58 (Solana's), leading zero bytes as ``1``."""
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`; ``ValueError`` on a character outside the alphabet."""
    n = 0
    for ch in text:
        try:
            n = n * 58 + _B58_INDEX[ch]
        except KeyError:
            raise ValueError(f"{ch!r} is not a base58 character") from None
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def is_evm_address(text: str) -> bool:
    return bool(_EVM.fullmatch(text))


def is_solana_address(text: str) -> bool:
    """A base58 text of exactly 32 bytes (any 32 bytes: program-derived addresses, such as
    associated token accounts, are off the curve and still valid accounts)."""
    if not _SOLANA.fullmatch(text):
        return False
    return len(b58decode(text)) == 32


def is_solana_signature(text: str) -> bool:
    """A Solana transaction signature: base58 of exactly 64 bytes."""
    if not re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{64,88}", text or ""):
        return False
    return len(b58decode(text)) == 64


def parse_account(text: str, kind: ChainKind) -> str:
    """``text`` as an account of a ``kind`` chain in its canonical form (EVM: checksummed;
    Solana: base58 as given), else ``ValueError`` with what is expected."""
    if kind == EVM:
        if is_evm_address(text):
            return to_checksum_address(text)
        if is_solana_address(text):
            raise ValueError(f"{text!r} is a base58 (Solana) key; this is an EVM chain: "
                             "expected 0x and 40 hex digits")
        raise ValueError(f"{text!r} is not an EVM address (0x and 40 hex digits)")
    if kind == SOLANA:
        if is_solana_address(text):
            return text
        if is_evm_address(text):
            raise ValueError(f"{text!r} is a 0x (EVM) address; this is a Solana chain: "
                             "expected a base58 public key")
        raise ValueError(f"{text!r} is not a Solana public key (base58, 32 bytes)")
    raise ValueError(f"unknown chain kind {kind!r}")


def account_to_bytes32(text: str) -> bytes:
    """The bytes32 word of an account: an EVM address left-padded, a Solana key as is."""
    if is_evm_address(text):
        return address_word(to_checksum_address(text))
    if is_solana_address(text):
        return b58decode(text)
    raise ValueError(f"{text!r} is neither an EVM address nor a Solana public key")


def bytes32_to_account(value: bytes, kind: ChainKind) -> str:
    """Inverse of :func:`account_to_bytes32` for an account of a ``kind`` chain; for EVM,
    ``ValueError`` unless the high 12 bytes are zero."""
    value = bytes(value)
    if len(value) != 32:
        raise ValueError(f"expected 32 bytes, got {len(value)}")
    if kind == EVM:
        if any(value[:12]):
            raise ValueError(f"not a left-padded EVM address: 0x{value.hex()}")
        return to_checksum_address(value[12:])
    if kind == SOLANA:
        return b58encode(value)
    raise ValueError(f"unknown chain kind {kind!r}")
