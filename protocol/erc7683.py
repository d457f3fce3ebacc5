"""Orbital's ERC-7683 orders in Python: types, EIP-712 typed data, codecs and order ids.

Every constant and encoding here mirrors contracts/src/OrbitalTypes.sol and OriginSettler.sol bit
for bit (tests/contracts checks parity against the deployed settler). docs/erc7683.md is the
prose version. Conventions: addresses are checksummed strings, bytes32 values are ``bytes``,
amounts and chain ids are ``int``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hexbytes import HexBytes

from protocol._fast import address_word, keccak256, to_checksum_address, word
from protocol.events import (
    BRIDGE_DEPOSIT_TOPIC,
    BRIDGE_RELEASE_TOPIC,
    FILLED_TOPIC,
    NONCE_INVALIDATED_TOPIC,
    OPEN_TOPIC,
    REFUNDED_TOPIC,
    RESOLVED_ORDER_TYPE,
    SETTLED_TOPIC,
)

__all__ = [
    "BRIDGE_DEPOSIT_TOPIC",
    "BRIDGE_RELEASE_TOPIC",
    "CANCEL_ORDER_TYPE",
    "CANCEL_ORDER_TYPEHASH",
    "CANCEL_TYPES",
    "DOMAIN_NAME",
    "DOMAIN_VERSION",
    "EIP712_DOMAIN_FIELDS",
    "FILLED_TOPIC",
    "GASLESS_ORDER_TYPE",
    "GASLESS_ORDER_TYPEHASH",
    "NONCE_INVALIDATED_TOPIC",
    "OPEN_TOPIC",
    "ORBITAL_ORDER_TYPE",
    "ORBITAL_ORDER_TYPEHASH",
    "ORDER_DATA_TYPE",
    "ORDER_TYPES",
    "REFUNDED_TOPIC",
    "SETTLED_TOPIC",
    "FillData",
    "FillInstruction",
    "GaslessOrder",
    "OrbitalOrder",
    "Output",
    "ResolvedOrder",
    "address_to_bytes32",
    "bytes32_to_address",
    "cancel_typed_data",
    "decode_open_event",
    "domain",
    "order_id",
    "order_typed_data",
]

DOMAIN_NAME = "Orbital"
DOMAIN_VERSION = "1"

ORBITAL_ORDER_TYPE = (
    "OrbitalOrder(address inputToken,uint256 inputAmount,address outputToken,uint256 outputAmount,"
    "address recipient,uint256 destinationChainId)"
)
ORBITAL_ORDER_TYPEHASH = keccak(text=ORBITAL_ORDER_TYPE)
ORDER_DATA_TYPE = ORBITAL_ORDER_TYPEHASH
"""ERC-7683 ``orderDataType`` of every Orbital order."""

GASLESS_ORDER_TYPE = (
    "GaslessCrossChainOrder(address originSettler,address user,uint256 nonce,uint256 originChainId,"
    "uint32 openDeadline,uint32 fillDeadline,bytes32 orderDataType,OrbitalOrder orderData)"
    + ORBITAL_ORDER_TYPE
)
GASLESS_ORDER_TYPEHASH = keccak(text=GASLESS_ORDER_TYPE)
CANCEL_ORDER_TYPE = "CancelOrder(bytes32 orderId,uint256 nonce)"
CANCEL_ORDER_TYPEHASH = keccak(text=CANCEL_ORDER_TYPE)

EIP712_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
ORDER_TYPES = {
    "EIP712Domain": EIP712_DOMAIN_FIELDS,
    "GaslessCrossChainOrder": [
        {"name": "originSettler", "type": "address"},
        {"name": "user", "type": "address"},
        {"name": "nonce", "type": "uint256"},
        {"name": "originChainId", "type": "uint256"},
        {"name": "openDeadline", "type": "uint32"},
        {"name": "fillDeadline", "type": "uint32"},
        {"name": "orderDataType", "type": "bytes32"},
        {"name": "orderData", "type": "OrbitalOrder"},
    ],
    "OrbitalOrder": [
        {"name": "inputToken", "type": "address"},
        {"name": "inputAmount", "type": "uint256"},
        {"name": "outputToken", "type": "address"},
        {"name": "outputAmount", "type": "uint256"},
        {"name": "recipient", "type": "address"},
        {"name": "destinationChainId", "type": "uint256"},
    ],
}
CANCEL_TYPES = {
    "EIP712Domain": EIP712_DOMAIN_FIELDS,
    "CancelOrder": [{"name": "orderId", "type": "bytes32"}, {"name": "nonce", "type": "uint256"}],
}

_ORDER_ABI = ["address", "uint256", "address", "uint256", "address", "uint256"]
_FILL_ABI = ["bytes32", "uint256", "uint256", "address", "uint256", "address", "uint32"]


def address_to_bytes32(address: str) -> bytes:
    """Left-pad an EVM address to the bytes32 form ERC-7683 Outputs use."""
    return address_word(to_checksum_address(address))


def bytes32_to_address(value: bytes) -> str:
    """Inverse of address_to_bytes32; raises ValueError if the high 12 bytes are not zero."""
    value = HexBytes(value)
    if len(value) != 32 or any(value[:12]):
        raise ValueError(f"not a left-padded EVM address: 0x{value.hex()}")
    return to_checksum_address(value[12:])


def order_id(origin_chain_id: int, origin_settler: str, user: str, nonce: int) -> bytes:
    """keccak256(abi.encode(originChainId, originSettler, user, nonce)), as OrbitalTypes.orderId.

    The four ABI words are made by hand and hashed once (every submission computes one, and
    eth_abi's encoder costs more than the hash); tests/protocol checks it against eth_abi."""
    for name, value in (("origin_chain_id", origin_chain_id), ("nonce", nonce)):
        if not 0 <= value < 2**256:
            raise ValueError(f"{name} out of range for uint256: {value}")
    return keccak256(word(origin_chain_id) + address_word(to_checksum_address(origin_settler))
                     + address_word(to_checksum_address(user)) + word(nonce))


def domain(chain_id: int, settler: str) -> dict[str, Any]:
    """EIP-712 domain of the settler at ``settler`` on ``chain_id``."""
    return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": int(chain_id),
            "verifyingContract": to_checksum_address(settler)}


@dataclass(frozen=True)
class OrbitalOrder:
    """The swap inside ``orderData``; ``output_amount`` is the user's minimum."""

    input_token: str
    input_amount: int
    output_token: str
    output_amount: int
    recipient: str
    destination_chain_id: int

    def __post_init__(self) -> None:
        for name in ("input_token", "output_token", "recipient"):
            object.__setattr__(self, name, to_checksum_address(getattr(self, name)))

    def encode(self) -> bytes:
        """``orderData`` bytes: abi.encode(OrbitalOrder)."""
        return abi_encode(_ORDER_ABI, [self.input_token, self.input_amount, self.output_token,
                                       self.output_amount, self.recipient, self.destination_chain_id])

    @classmethod
    def decode(cls, data: bytes | str) -> OrbitalOrder:
        data = HexBytes(data)
        if len(data) != 32 * len(_ORDER_ABI):
            raise ValueError(f"orderData must be {32 * len(_ORDER_ABI)} bytes, got {len(data)}")
        return cls(*abi_decode(_ORDER_ABI, data, strict=True))

    def to_eip712(self) -> dict[str, Any]:
        """EIP-712 message value; uint256 as decimal strings so JSON/JavaScript keep precision."""
        return {"inputToken": self.input_token, "inputAmount": str(self.input_amount),
                "outputToken": self.output_token, "outputAmount": str(self.output_amount),
                "recipient": self.recipient, "destinationChainId": str(self.destination_chain_id)}


@dataclass(frozen=True)
class GaslessOrder:
    """An ERC-7683 GaslessCrossChainOrder whose orderData is an OrbitalOrder."""

    origin_settler: str
    user: str
    nonce: int
    origin_chain_id: int
    open_deadline: int
    fill_deadline: int
    order: OrbitalOrder

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin_settler", to_checksum_address(self.origin_settler))
        object.__setattr__(self, "user", to_checksum_address(self.user))

    @property
    def order_id(self) -> bytes:
        return order_id(self.origin_chain_id, self.origin_settler, self.user, self.nonce)

    @property
    def order_data(self) -> bytes:
        return self.order.encode()

    def to_abi(self) -> tuple:
        """The Solidity struct as a tuple, ready for web3 ``openFor``/``resolveFor`` calls."""
        return (self.origin_settler, self.user, self.nonce, self.origin_chain_id, self.open_deadline,
                self.fill_deadline, ORDER_DATA_TYPE, self.order_data)

    def typed_data(self) -> dict[str, Any]:
        return order_typed_data(self)


def order_typed_data(order: GaslessOrder) -> dict[str, Any]:
    """Full EIP-712 JSON for ``eth_signTypedData_v4`` / ``Account.sign_typed_data(full_message=...)``.

    The message nests OrbitalOrder (the contract hashes the decoded orderData the same way), so
    wallets show the swap instead of an opaque byte string.
    """
    return {
        "types": {name: [dict(f) for f in fields] for name, fields in ORDER_TYPES.items()},
        "primaryType": "GaslessCrossChainOrder",
        "domain": domain(order.origin_chain_id, order.origin_settler),
        "message": {
            "originSettler": order.origin_settler,
            "user": order.user,
            "nonce": str(order.nonce),
            "originChainId": str(order.origin_chain_id),
            "openDeadline": int(order.open_deadline),
            "fillDeadline": int(order.fill_deadline),
            "orderDataType": "0x" + ORDER_DATA_TYPE.hex(),
            "orderData": order.order.to_eip712(),
        },
    }


def cancel_typed_data(chain_id: int, settler: str, order_id_: bytes, nonce: int) -> dict[str, Any]:
    """EIP-712 JSON of an off-chain cancellation, signed by the order's user, same domain."""
    return {
        "types": {name: [dict(f) for f in fields] for name, fields in CANCEL_TYPES.items()},
        "primaryType": "CancelOrder",
        "domain": domain(chain_id, settler),
        "message": {"orderId": "0x" + HexBytes(order_id_).hex(), "nonce": str(nonce)},
    }


@dataclass(frozen=True)
class FillData:
    """What a FillInstruction's ``originData`` carries: abi.encode of these seven words."""

    order_id: bytes
    origin_chain_id: int
    destination_chain_id: int
    output_token: str
    amount: int
    recipient: str
    fill_deadline: int

    def encode(self) -> bytes:
        return abi_encode(_FILL_ABI, [self.order_id, self.origin_chain_id, self.destination_chain_id,
                                      self.output_token, self.amount, self.recipient, self.fill_deadline])

    @classmethod
    def decode(cls, data: bytes | str) -> FillData:
        data = HexBytes(data)
        if len(data) != 32 * len(_FILL_ABI):
            raise ValueError(f"originData must be {32 * len(_FILL_ABI)} bytes, got {len(data)}")
        oid, ocid, dcid, token, amount, recipient, deadline = abi_decode(_FILL_ABI, data, strict=True)
        return cls(oid, ocid, dcid, to_checksum_address(token), amount, to_checksum_address(recipient), deadline)

    @property
    def fill_key(self) -> bytes:
        """The destination settler's replay key: keccak256(originData)."""
        return keccak256(self.encode())


@dataclass(frozen=True)
class Output:
    token: bytes
    amount: int
    recipient: bytes
    chain_id: int

    @property
    def token_address(self) -> str:
        return bytes32_to_address(self.token)

    @property
    def recipient_address(self) -> str:
        return bytes32_to_address(self.recipient)


@dataclass(frozen=True)
class FillInstruction:
    destination_chain_id: int
    destination_settler: bytes
    origin_data: bytes

    @property
    def fill_data(self) -> FillData:
        return FillData.decode(self.origin_data)


@dataclass(frozen=True)
class ResolvedOrder:
    """ERC-7683 ResolvedCrossChainOrder (current text: with orderId, uint256 chain ids)."""

    user: str
    origin_chain_id: int
    open_deadline: int
    fill_deadline: int
    order_id: bytes
    max_spent: tuple[Output, ...]
    min_received: tuple[Output, ...]
    fill_instructions: tuple[FillInstruction, ...]

    @classmethod
    def from_abi(cls, value: tuple) -> ResolvedOrder:
        """From the decoded ABI tuple (eth_abi or a web3 ``resolve``/``resolveFor`` call result)."""
        user, ocid, open_dl, fill_dl, oid, spent, received, instructions = value
        return cls(
            to_checksum_address(user), ocid, open_dl, fill_dl, bytes(oid),
            tuple(Output(bytes(t), a, bytes(r), c) for t, a, r, c in spent),
            tuple(Output(bytes(t), a, bytes(r), c) for t, a, r, c in received),
            tuple(FillInstruction(c, bytes(s), bytes(d)) for c, s, d in instructions),
        )


def decode_open_event(data: bytes | str) -> ResolvedOrder:
    """ResolvedCrossChainOrder from the raw ``data`` of an ``Open`` log (orderId is topic 1)."""
    return ResolvedOrder.from_abi(abi_decode([RESOLVED_ORDER_TYPE], HexBytes(data))[0])
