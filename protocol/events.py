"""Event signatures, topics and a log decoder for every contract event the runtime indexes.

Why hand-written instead of derived from the ABI at run time: the watcher filters by topic
before it has any contract object, and the event layout is part of the protocol (docs/erc7683.md);
tests check every spec here against the compiled ABI so the two cannot drift.

Topics are 0x-prefixed lowercase hex strings, the form JSON-RPC filters and log dicts use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes

__all__ = [
    "ANSWER_UPDATED",
    "ANSWER_UPDATED_TOPIC",
    "BRIDGE_DEPOSIT",
    "BRIDGE_DEPOSIT_TOPIC",
    "BRIDGE_RELEASE",
    "BRIDGE_RELEASE_TOPIC",
    "EVENTS",
    "EVENTS_BY_TOPIC",
    "FILLED",
    "FILLED_TOPIC",
    "FILL_INSTRUCTION_TYPE",
    "NONCE_INVALIDATED",
    "NONCE_INVALIDATED_TOPIC",
    "OPEN",
    "OPEN_TOPIC",
    "OUTPUT_TYPE",
    "REFUNDED",
    "REFUNDED_TOPIC",
    "RESOLVED_ORDER_TYPE",
    "SETTLED",
    "SETTLED_TOPIC",
    "UNORDERED_NONCE_INVALIDATION",
    "UNORDERED_NONCE_INVALIDATION_TOPIC",
    "EventSpec",
    "decode_log",
]

# ABI tuple types of the ERC-7683 structs (field order as in the standard).
OUTPUT_TYPE = "(bytes32,uint256,bytes32,uint256)"
FILL_INSTRUCTION_TYPE = "(uint256,bytes32,bytes)"
RESOLVED_ORDER_TYPE = (
    f"(address,uint256,uint32,uint32,bytes32,{OUTPUT_TYPE}[],{OUTPUT_TYPE}[],{FILL_INSTRUCTION_TYPE}[])"
)


@dataclass(frozen=True)
class EventSpec:
    """One event: its name and (name, abi type, indexed) inputs; knows its topic and decodes logs."""

    name: str
    inputs: tuple[tuple[str, str, bool], ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(t for _, t, _ in self.inputs)})"

    @property
    def topic(self) -> str:
        return "0x" + keccak(text=self.signature).hex()

    def decode(self, log: Mapping[str, Any]) -> dict[str, Any]:
        """Decode a JSON-RPC/web3 log dict ({'topics': [...], 'data': ...}) into {input name: value}.

        Addresses come back checksummed, bytes32 as bytes, integers as int, tuples as tuples.
        Raises ValueError if the log is not this event.
        """
        topics = [HexBytes(t) for t in log["topics"]]
        if not topics or "0x" + topics[0].hex() != self.topic:
            raise ValueError(f"log is not a {self.name} event")
        indexed = [(n, t) for n, t, i in self.inputs if i]
        if len(topics) != 1 + len(indexed):
            raise ValueError(f"{self.name}: expected {1 + len(indexed)} topics, got {len(topics)}")
        values: dict[str, Any] = {}
        for (name, typ), topic in zip(indexed, topics[1:]):
            values[name] = abi_decode([typ], topic)[0]
        plain = [(n, t) for n, t, i in self.inputs if not i]
        decoded = abi_decode([t for _, t in plain], HexBytes(log["data"]))
        values.update({n: v for (n, _), v in zip(plain, decoded)})
        return {n: _checksum(t, values[n]) for n, t, _ in self.inputs}


def _checksum(typ: str, value: Any) -> Any:
    return to_checksum_address(value) if typ == "address" else value


# OrbitalSettler, origin role (ERC-7683 Open plus Orbital's settlement events).
OPEN = EventSpec("Open", (("orderId", "bytes32", True), ("resolvedOrder", RESOLVED_ORDER_TYPE, False)))
SETTLED = EventSpec(
    "Settled",
    (("orderId", "bytes32", True), ("filler", "address", True), ("token", "address", False),
     ("amount", "uint256", False)),
)
REFUNDED = EventSpec(
    "Refunded",
    (("orderId", "bytes32", True), ("user", "address", True), ("token", "address", False),
     ("amount", "uint256", False)),
)
NONCE_INVALIDATED = EventSpec("NonceInvalidated", (("user", "address", True), ("nonce", "uint256", False)))
# OrbitalSettler, destination role.
FILLED = EventSpec(
    "Filled",
    (("orderId", "bytes32", True), ("filler", "address", True), ("fillKey", "bytes32", True),
     ("recipient", "address", False),
     ("token", "address", False), ("amount", "uint256", False), ("originChainId", "uint256", False)),
)
# Bridge.
BRIDGE_DEPOSIT = EventSpec(
    "BridgeDeposit",
    (("depositId", "bytes32", True), ("sender", "address", True), ("token", "address", False),
     ("amount", "uint256", False), ("destinationChainId", "uint256", False), ("recipient", "address", False)),
)
BRIDGE_RELEASE = EventSpec(
    "BridgeRelease",
    (("depositId", "bytes32", True), ("recipient", "address", True), ("token", "address", False),
     ("amount", "uint256", False), ("originChainId", "uint256", False)),
)
# Permit2 (canonical, 0x000000000022D473030F116dDEE9F6B43aC78BA3): the user burnt Permit2
# nonces, ``mask`` of word ``word`` of its unordered nonce bitmap (invalidateUnorderedNonces).
UNORDERED_NONCE_INVALIDATION = EventSpec(
    "UnorderedNonceInvalidation",
    (("owner", "address", True), ("word", "uint256", False), ("mask", "uint256", False)),
)
# PriceFeed (Chainlink's event).
ANSWER_UPDATED = EventSpec(
    "AnswerUpdated", (("current", "int256", True), ("roundId", "uint256", True), ("updatedAt", "uint256", False))
)

EVENTS: tuple[EventSpec, ...] = (
    OPEN, FILLED, SETTLED, REFUNDED, NONCE_INVALIDATED, BRIDGE_DEPOSIT, BRIDGE_RELEASE, ANSWER_UPDATED,
    UNORDERED_NONCE_INVALIDATION,
)
EVENTS_BY_TOPIC: dict[str, EventSpec] = {e.topic: e for e in EVENTS}

OPEN_TOPIC = OPEN.topic
FILLED_TOPIC = FILLED.topic
SETTLED_TOPIC = SETTLED.topic
REFUNDED_TOPIC = REFUNDED.topic
NONCE_INVALIDATED_TOPIC = NONCE_INVALIDATED.topic
BRIDGE_DEPOSIT_TOPIC = BRIDGE_DEPOSIT.topic
BRIDGE_RELEASE_TOPIC = BRIDGE_RELEASE.topic
ANSWER_UPDATED_TOPIC = ANSWER_UPDATED.topic
UNORDERED_NONCE_INVALIDATION_TOPIC = UNORDERED_NONCE_INVALIDATION.topic


def decode_log(log: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(event name, decoded inputs) for a log of a known event; None for any other log."""
    topics = log.get("topics") or []
    if not topics:
        return None
    spec = EVENTS_BY_TOPIC.get("0x" + HexBytes(topics[0]).hex())
    return None if spec is None else (spec.name, spec.decode(log))
