"""Typed contract events: one record class per event of :mod:`protocol.events`, and the one
decoder every reader uses to get them back from an indexed row's JSON ``args``.

Why one decoder: the chain watcher stores each event's decoded inputs as JSON (amounts as
decimal strings, bytes as 0x hex, tuples as lists; ``chains.evm.ingest``), and a reader that
turns that JSON back into values by looking at the strings ("0x and not 42 characters long:
bytes"; "all digits: an int") guesses, and guesses differ from reader to reader. Here the
JSON is read by the event's ABI types, the same :class:`~protocol.events.EventSpec` that
the watcher filters and decodes logs with, into frozen records with Python types
(addresses checksummed, bytes32 as ``bytes``, integers as ``int``, the ``Open`` event's
ResolvedCrossChainOrder as :class:`~protocol.erc7683.ResolvedOrder`). A malformed row is a
``ValueError`` naming the event and the input, never a half-typed value.

:func:`record` builds the same records from a log decoded by :func:`protocol.decode_log`,
so a receipt's logs and an indexed row give equal objects (tests/chains/test_decode.py).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from protocol._fast import to_checksum_address
from protocol.erc7683 import ResolvedOrder
from protocol.events import EVENTS, EventSpec

__all__ = [
    "AnswerUpdated",
    "BridgeDeposit",
    "BridgeRelease",
    "EventRecord",
    "Filled",
    "NonceInvalidated",
    "Open",
    "Refunded",
    "Settled",
    "UnorderedNonceInvalidation",
    "from_json",
    "record",
]


@dataclass(frozen=True, slots=True)
class Open:
    """ERC-7683 ``Open(orderId, resolvedOrder)`` of an origin settler."""

    order_id: bytes
    resolved: ResolvedOrder


@dataclass(frozen=True, slots=True)
class Filled:
    """``Filled`` of a destination settler: ``filler`` is the repayment address, ``fill_key``
    keccak256 of the originData filled (the destination's replay key)."""

    order_id: bytes
    filler: str
    fill_key: bytes
    recipient: str
    token: str
    amount: int
    origin_chain_id: int


@dataclass(frozen=True, slots=True)
class Settled:
    order_id: bytes
    filler: str
    token: str
    amount: int


@dataclass(frozen=True, slots=True)
class Refunded:
    order_id: bytes
    user: str
    token: str
    amount: int


@dataclass(frozen=True, slots=True)
class NonceInvalidated:
    user: str
    nonce: int


@dataclass(frozen=True, slots=True)
class BridgeDeposit:
    deposit_id: bytes
    sender: str
    token: str
    amount: int
    destination_chain_id: int
    recipient: str


@dataclass(frozen=True, slots=True)
class BridgeRelease:
    deposit_id: bytes
    recipient: str
    token: str
    amount: int
    origin_chain_id: int


@dataclass(frozen=True, slots=True)
class AnswerUpdated:
    current: int
    round_id: int
    updated_at: int


@dataclass(frozen=True, slots=True)
class UnorderedNonceInvalidation:
    """Permit2's ``UnorderedNonceInvalidation(owner, word, mask)``: ``owner`` burnt the
    nonces whose bits are set in ``mask`` of its bitmap word ``word`` (nonce ``n`` is bit
    ``n & 0xff`` of word ``n >> 8``)."""

    owner: str
    word: int
    mask: int

    def covers(self, nonce: int) -> bool:
        """Whether nonce ``nonce`` is one of the nonces this invalidation burnt."""
        return nonce >> 8 == self.word and (self.mask >> (nonce & 0xFF)) & 1 == 1


EventRecord = Union[Open, Filled, Settled, Refunded, NonceInvalidated, BridgeDeposit,
                    BridgeRelease, AnswerUpdated, UnorderedNonceInvalidation]

_CLASSES: dict[str, type] = {c.__name__: c for c in (Open, Filled, Settled, Refunded,
                                                      NonceInvalidated, BridgeDeposit,
                                                      BridgeRelease, AnswerUpdated,
                                                      UnorderedNonceInvalidation)}
_SPECS: dict[str, EventSpec] = {e.name: e for e in EVENTS}
assert set(_CLASSES) == set(_SPECS), "every indexed event has a record class"


def _build(name: str, values: Mapping[str, Any]) -> EventRecord:
    """The record of event ``name`` from its inputs keyed by ABI name, in spec order."""
    spec = _SPECS[name]
    args = [values[n] for n, _, _ in spec.inputs]
    if name == "Open":
        return Open(bytes(args[0]), ResolvedOrder.from_abi(args[1]))
    return _CLASSES[name](*args)


def record(name: str, values: Mapping[str, Any]) -> EventRecord:
    """The record of a log decoded by :func:`protocol.decode_log` (``(name, values)``)."""
    if name not in _SPECS:
        raise ValueError(f"{name!r} is not an indexed event")
    return _build(name, values)


def from_json(name: str, args: str | Mapping[str, Any]) -> EventRecord:
    """The record of event ``name`` from the JSON ``args`` of an indexed row (text or the
    parsed object), each input read by its ABI type. ``ValueError`` if it does not fit."""
    spec = _SPECS.get(name)
    if spec is None:
        raise ValueError(f"{name!r} is not an indexed event")
    obj = json.loads(args) if isinstance(args, str) else args
    if not isinstance(obj, Mapping):
        raise ValueError(f"{name}: args must be a JSON object")
    values = {}
    for input_name, typ, _ in spec.inputs:
        if input_name not in obj:
            raise ValueError(f"{name}: args has no {input_name!r}")
        try:
            values[input_name] = _value(typ, obj[input_name])
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name}.{input_name} ({typ}): {exc}") from None
    return _build(name, values)


# ---- JSON -> ABI values, by type -----------------------------------------------------------
def _value(typ: str, v: Any) -> Any:
    if typ.endswith("[]"):
        if not isinstance(v, list):
            raise ValueError(f"expected a list, got {type(v).__name__}")
        return tuple(_value(typ[:-2], x) for x in v)
    if typ.startswith("("):
        parts = _components(typ)
        if not isinstance(v, list) or len(v) != len(parts):
            raise ValueError(f"expected a list of {len(parts)} values")
        return tuple(_value(t, x) for t, x in zip(parts, v))
    if typ == "address":
        if not isinstance(v, str) or len(v) != 42 or not v.startswith("0x"):
            raise ValueError(f"not an address: {str(v)[:50]!r}")
        return to_checksum_address(v)
    if typ == "bool":
        if not isinstance(v, bool):
            raise ValueError("not a bool")
        return v
    if typ.startswith(("uint", "int")):
        if not isinstance(v, str) or not v.lstrip("-").isdigit():
            raise ValueError(f"not a decimal integer string: {str(v)[:50]!r}")
        n = int(v)
        if typ.startswith("uint") and n < 0:
            raise ValueError("negative value for an unsigned type")
        return n
    if typ.startswith("bytes"):
        if not isinstance(v, str) or not v.startswith("0x"):
            raise ValueError(f"not 0x hex: {str(v)[:50]!r}")
        b = bytes.fromhex(v[2:])
        size = typ[5:]
        if size and len(b) != int(size):
            raise ValueError(f"expected {size} bytes, got {len(b)}")
        return b
    raise ValueError(f"unsupported ABI type {typ}")


def _components(typ: str) -> list[str]:
    """``(a,(b,c)[],d)`` -> ``["a", "(b,c)[]", "d"]``."""
    inner, depth, start, out = typ[1:-1], 0, 0, []
    for i, ch in enumerate(inner):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(inner[start:i])
            start = i + 1
    out.append(inner[start:])
    return out
