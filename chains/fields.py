"""How the API spells values (SPEC section 2), parsed in one place for every service.

Amounts are decimal strings of base units (uint256 does not fit int64), order ids are
``0x`` + 64 hex digits (any case), EVM addresses are ``0x`` + 40 hex digits (mixed case
must be a valid EIP-55 checksum). Each parser raises :class:`runtime.InvalidArgument`
naming the request field, which becomes a ``google.rpc.BadRequest`` violation.
"""

from __future__ import annotations

import re

from protocol import to_checksum_address
from protocol.accounts import EVM, ChainKind, parse_account
from protocol.solana import SYSTEM_PROGRAM
from runtime import InvalidArgument

__all__ = ["amount", "order_id", "address", "account", "block_number", "shown", "ZERO_ADDRESS",
           "MAX_BLOCK"]

ZERO_ADDRESS = "0x" + "0" * 40
MAX_BLOCK = 2**63 - 1
"""Block numbers and slots are stored as signed 64-bit integers (``bigint``): a bound above
this is refused, not passed to the database (where it overflows)."""
_DIGITS = re.compile(r"[0-9]{1,78}")
_ORDER_ID = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def amount(text: str, field: str) -> int:
    """Base units: digits only, > 0 and < 2^256."""
    if not _DIGITS.fullmatch(text or ""):
        raise InvalidArgument(f"{field} must be a decimal string of base units: a decimal integer, "
                              f"digits only (e.g. '1000000'), got {(text or '')[:80]!r}", field=field)
    value = int(text)
    if value <= 0:
        raise InvalidArgument(f"{field} must be greater than 0", field=field)
    if value >= 2**256:
        raise InvalidArgument(f"{field} must be below 2^256", field=field)
    return value


def order_id(text: str, field: str) -> str:
    """An ERC-7683 order id, returned lowercase (the form ids are stored in)."""
    text = (text or "").strip()
    if not _ORDER_ID.fullmatch(text):
        raise InvalidArgument(f"{field} must be 0x followed by 64 hex digits", field=field)
    return text.lower()


def address(text: str, field: str, *, allow_zero: bool = False) -> str:
    """A checksummed EVM address."""
    if not _ADDRESS.fullmatch(text or ""):
        raise InvalidArgument(f"{field} must be a 0x-prefixed 20-byte hex address, "
                              f"got {(text or '')[:80]!r}", field=field)
    body = text[2:]
    checksummed = to_checksum_address(text)   # protocol's: one keccak without eth-utils
    if body != body.lower() and body != body.upper() and checksummed != text:
        raise InvalidArgument(f"{field} has an invalid EIP-55 checksum", field=field)
    if not allow_zero and text.lower() == ZERO_ADDRESS:
        raise InvalidArgument(f"{field} must not be the zero address", field=field)
    return checksummed


def block_number(value: int, field: str) -> int:
    """A block number or slot of a request (proto ``uint64``): at most 2^63 - 1."""
    if value > MAX_BLOCK:
        raise InvalidArgument(f"{field} must be at most {MAX_BLOCK} (2^63 - 1), got {value}",
                              field=field)
    return value


def shown(value: object, limit: int = 64) -> str:
    """A request value as quoted in a refusal, cut short: a value comes from a request, and
    a 1 MB name echoed into a gRPC status message overflows the trailers (the client then
    sees INTERNAL instead of the refusal)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"... ({len(str(value))} chars)"


def account(text: str, kind: ChainKind, field: str) -> str:
    """An account on a chain of ``kind``: an EVM address (as :func:`address`), or a Solana
    public key in base58. The other chain kind's form is refused naming the form expected
    (a 0x address where the chain is Solana, a base58 key where it is EVM)."""
    if kind == EVM and (text or "").startswith("0x"):
        return address(text, field)
    try:
        value = parse_account((text or "")[:100], kind)
    except ValueError as exc:
        raise InvalidArgument(f"{field}: {exc}", field=field) from None
    if value == SYSTEM_PROGRAM:      # 32 zero bytes: no one's wallet
        raise InvalidArgument(f"{field} must not be the all-zero key", field=field)
    return value
