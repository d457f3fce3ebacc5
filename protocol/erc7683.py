"""Orbital's ERC-7683 orders in Python: types, EIP-712 typed data, codecs and order ids.

Every constant and encoding here mirrors contracts/src/OrbitalTypes.sol and OriginSettler.sol bit
for bit (tests/contracts checks parity against the deployed settler). docs/erc7683.md is the
prose version. Conventions: addresses are checksummed strings, bytes32 values are ``bytes``,
amounts and chain ids are ``int``.

Two orderData types, one per kind of destination (ERC-7683 tells order formats apart by
``orderDataType``): ``OrbitalOrder`` for EVM destinations (output token and recipient are
addresses) and ``OrbitalOrder32`` for destinations whose accounts are 32 bytes (Solana: mint
and wallet public keys). :class:`OrbitalOrder` carries either, chosen by its
``destination_kind``; its output token and recipient are held in the destination chain's
canonical text form (checksummed ``0x`` address, or base58) and become bytes32 words only when
encoded or hashed (:func:`protocol.accounts.account_to_bytes32`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hexbytes import HexBytes

from protocol._fast import address_word, keccak256, to_checksum_address, word
from protocol.accounts import (EVM, SOLANA, ChainKind, account_to_bytes32, bytes32_to_account,
                               parse_account)
from protocol.events import (
    BRIDGE_DEPOSIT_TOPIC,
    BRIDGE_RELEASE_TOPIC,
    FILLED_TOPIC,
    NONCE_INVALIDATED_TOPIC,
    OPEN_TOPIC,
    REFUNDED_TOPIC,
    RESOLVED_ORDER_TYPE,
    SETTLED_TOPIC,
    UNORDERED_NONCE_INVALIDATION_TOPIC,
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
    "GASLESS_ORDER32_TYPE",
    "GASLESS_ORDER32_TYPEHASH",
    "GASLESS_ORDER_TYPE",
    "GASLESS_ORDER_TYPEHASH",
    "NONCE_INVALIDATED_TOPIC",
    "OPEN_TOPIC",
    "PERMIT2_ADDRESS",
    "PERMIT2_DOMAIN_NAME",
    "PERMIT2_SIGNATURE_TAG",
    "PERMIT2_TYPES_BY_KIND",
    "PERMIT_TRANSFER_FROM_TYPE",
    "PERMIT_TRANSFER_FROM_TYPEHASH",
    "PERMIT_WITNESS_STUB",
    "PERMIT_WITNESS_TYPEHASHES",
    "TOKEN_PERMISSIONS_TYPE",
    "TOKEN_PERMISSIONS_TYPEHASH",
    "WITNESS_TYPE_STRINGS",
    "ORBITAL_ORDER32_TYPE",
    "ORBITAL_ORDER32_TYPEHASH",
    "ORBITAL_ORDER_TYPE",
    "ORBITAL_ORDER_TYPEHASH",
    "ORDER32_DATA_TYPE",
    "ORDER32_TYPES",
    "ORDER_DATA_TYPE",
    "ORDER_DATA_TYPES",
    "ORDER_TYPES",
    "ORDER_TYPES_BY_KIND",
    "REFUNDED_TOPIC",
    "SETTLED_TOPIC",
    "UNORDERED_NONCE_INVALIDATION_TOPIC",
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
    "permit2_domain",
]

DOMAIN_NAME = "Orbital"
DOMAIN_VERSION = "1"

ORBITAL_ORDER_TYPE = (
    "OrbitalOrder(address inputToken,uint256 inputAmount,address outputToken,uint256 outputAmount,"
    "address recipient,uint256 destinationChainId)"
)
ORBITAL_ORDER_TYPEHASH = keccak(text=ORBITAL_ORDER_TYPE)
ORDER_DATA_TYPE = ORBITAL_ORDER_TYPEHASH
"""ERC-7683 ``orderDataType`` of Orbital orders to EVM destinations."""

ORBITAL_ORDER32_TYPE = (
    "OrbitalOrder32(address inputToken,uint256 inputAmount,bytes32 outputToken,"
    "uint256 outputAmount,bytes32 recipient,uint256 destinationChainId)"
)
ORBITAL_ORDER32_TYPEHASH = keccak(text=ORBITAL_ORDER32_TYPE)
ORDER32_DATA_TYPE = ORBITAL_ORDER32_TYPEHASH
"""ERC-7683 ``orderDataType`` of Orbital orders to 32-byte-account (Solana) destinations."""

ORDER_DATA_TYPES: dict[ChainKind, bytes] = {EVM: ORDER_DATA_TYPE, SOLANA: ORDER32_DATA_TYPE}
"""The orderDataType an order to a destination of each chain kind carries."""

GASLESS_ORDER_TYPE = (
    "GaslessCrossChainOrder(address originSettler,address user,uint256 nonce,uint256 originChainId,"
    "uint32 openDeadline,uint32 fillDeadline,bytes32 orderDataType,OrbitalOrder orderData)"
    + ORBITAL_ORDER_TYPE
)
GASLESS_ORDER_TYPEHASH = keccak(text=GASLESS_ORDER_TYPE)
GASLESS_ORDER32_TYPE = (
    "GaslessCrossChainOrder(address originSettler,address user,uint256 nonce,uint256 originChainId,"
    "uint32 openDeadline,uint32 fillDeadline,bytes32 orderDataType,OrbitalOrder32 orderData)"
    + ORBITAL_ORDER32_TYPE
)
GASLESS_ORDER32_TYPEHASH = keccak(text=GASLESS_ORDER32_TYPE)
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
ORDER32_TYPES = {
    "EIP712Domain": EIP712_DOMAIN_FIELDS,
    "GaslessCrossChainOrder": [dict(f, type="OrbitalOrder32") if f["name"] == "orderData" else f
                               for f in ORDER_TYPES["GaslessCrossChainOrder"]],
    "OrbitalOrder32": [dict(f, type="bytes32") if f["name"] in ("outputToken", "recipient") else f
                       for f in ORDER_TYPES["OrbitalOrder"]],
}
ORDER_TYPES_BY_KIND: dict[ChainKind, dict[str, list[dict[str, str]]]] = {
    EVM: ORDER_TYPES, SOLANA: ORDER32_TYPES}
"""EIP-712 ``types`` of a gasless order to a destination of each chain kind."""
CANCEL_TYPES = {
    "EIP712Domain": EIP712_DOMAIN_FIELDS,
    "CancelOrder": [{"name": "orderId", "type": "bytes32"}, {"name": "nonce", "type": "uint256"}],
}

# ---- Permit2 signing form (docs/erc7683.md section 3b) ----------------------------------------
# The user signs Permit2's PermitWitnessTransferFrom with the GaslessCrossChainOrder as witness;
# the settler pulls the input through Permit2. Mirrors contracts/src/permit2/ (Permit2.sol, the
# canonical strings; Permit2Witness.sol, the witness type strings and the signature tag).
PERMIT2_ADDRESS = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
"""Permit2's canonical address, the same on every chain (the devnet sets its code there)."""
PERMIT2_DOMAIN_NAME = "Permit2"
TOKEN_PERMISSIONS_TYPE = "TokenPermissions(address token,uint256 amount)"
TOKEN_PERMISSIONS_TYPEHASH = keccak(text=TOKEN_PERMISSIONS_TYPE)
PERMIT_TRANSFER_FROM_TYPE = ("PermitTransferFrom(TokenPermissions permitted,address spender,"
                             "uint256 nonce,uint256 deadline)" + TOKEN_PERMISSIONS_TYPE)
PERMIT_TRANSFER_FROM_TYPEHASH = keccak(text=PERMIT_TRANSFER_FROM_TYPE)
PERMIT_WITNESS_STUB = ("PermitWitnessTransferFrom(TokenPermissions permitted,address spender,"
                       "uint256 nonce,uint256 deadline,")
"""Permit2 appends the witness type string to this stub to make the primary type's encodeType."""
WITNESS_TYPE_STRINGS: dict[ChainKind, str] = {
    EVM: "GaslessCrossChainOrder witness)" + GASLESS_ORDER_TYPE + TOKEN_PERMISSIONS_TYPE,
    SOLANA: "GaslessCrossChainOrder witness)" + GASLESS_ORDER32_TYPE + TOKEN_PERMISSIONS_TYPE,
}
"""The witness type string the settler passes to Permit2, by destination kind: the witness
member, then the referenced types in EIP-712 order (GaslessCrossChainOrder, OrbitalOrder[32],
TokenPermissions), so it is exactly what eth_signTypedData_v4 hashes for the typed data."""
PERMIT_WITNESS_TYPEHASHES: dict[ChainKind, bytes] = {
    kind: keccak(text=PERMIT_WITNESS_STUB + w) for kind, w in WITNESS_TYPE_STRINGS.items()}
PERMIT2_SIGNATURE_TAG = keccak(text="Orbital.Permit2Witness")
"""What openFor's signature starts with in the Permit2 form: tag (32 bytes) + the user's
signature. Without it, the signature is of the Orbital form."""

_PERMIT2_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def _permit2_types(order_types: dict[str, list[dict[str, str]]]) -> dict[str, list[dict[str, str]]]:
    return {
        "EIP712Domain": _PERMIT2_DOMAIN_FIELDS,
        "PermitWitnessTransferFrom": [
            {"name": "permitted", "type": "TokenPermissions"},
            {"name": "spender", "type": "address"},
            {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"},
            {"name": "witness", "type": "GaslessCrossChainOrder"},
        ],
        "TokenPermissions": [{"name": "token", "type": "address"}, {"name": "amount", "type": "uint256"}],
        **{k: v for k, v in order_types.items() if k != "EIP712Domain"},
    }


PERMIT2_TYPES_BY_KIND: dict[ChainKind, dict[str, list[dict[str, str]]]] = {
    kind: _permit2_types(types) for kind, types in ORDER_TYPES_BY_KIND.items()}
"""EIP-712 ``types`` of a Permit2-form order to a destination of each chain kind."""


def permit2_domain(chain_id: int) -> dict[str, Any]:
    """Permit2's EIP-712 domain on ``chain_id``: name, chainId, verifyingContract, no version."""
    return {"name": PERMIT2_DOMAIN_NAME, "chainId": int(chain_id), "verifyingContract": PERMIT2_ADDRESS}


_ORDER_ABI = ["address", "uint256", "address", "uint256", "address", "uint256"]
_ORDER32_ABI = ["address", "uint256", "bytes32", "uint256", "bytes32", "uint256"]
_FILL_ABI = ["bytes32", "uint256", "uint256", "bytes32", "uint256", "bytes32", "uint32"]


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
    """The swap inside ``orderData``; ``output_amount`` is the user's minimum.

    ``destination_kind`` is the kind of the destination chain and picks the orderData type:
    ``"evm"`` an OrbitalOrder (``output_token`` and ``recipient`` checksummed addresses),
    ``"solana"`` an OrbitalOrder32 (``output_token`` the mint and ``recipient`` the wallet,
    base58; a 0x address there is refused). ``input_token`` is always an origin (EVM) address.
    """

    input_token: str
    input_amount: int
    output_token: str
    output_amount: int
    recipient: str
    destination_chain_id: int
    destination_kind: ChainKind = EVM

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_token", to_checksum_address(self.input_token))
        if self.destination_kind == EVM:
            for name in ("output_token", "recipient"):
                object.__setattr__(self, name, to_checksum_address(getattr(self, name)))
        elif self.destination_kind == SOLANA:
            for name in ("output_token", "recipient"):
                value = getattr(self, name)
                try:
                    object.__setattr__(self, name, parse_account(value, SOLANA))
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{name}: {exc}") from None
        else:
            raise ValueError(f"unknown destination kind {self.destination_kind!r}")

    @property
    def wide(self) -> bool:
        """True for an OrbitalOrder32 (accounts of the destination are 32 bytes)."""
        return self.destination_kind != EVM

    @property
    def type_name(self) -> str:
        """The EIP-712 struct name: ``OrbitalOrder`` or ``OrbitalOrder32``."""
        return "OrbitalOrder32" if self.wide else "OrbitalOrder"

    @property
    def order_data_type(self) -> bytes:
        """The ERC-7683 ``orderDataType`` (typehash of :attr:`type_name`)."""
        return ORDER_DATA_TYPES[self.destination_kind]

    @property
    def output_token_word(self) -> bytes:
        """``output_token`` as its bytes32 word (what Outputs and FillData carry)."""
        return account_to_bytes32(self.output_token)

    @property
    def recipient_word(self) -> bytes:
        return account_to_bytes32(self.recipient)

    def encode(self) -> bytes:
        """``orderData`` bytes: abi.encode(OrbitalOrder) or abi.encode(OrbitalOrder32)."""
        if self.wide:
            return abi_encode(_ORDER32_ABI, [self.input_token, self.input_amount,
                                             self.output_token_word, self.output_amount,
                                             self.recipient_word, self.destination_chain_id])
        return abi_encode(_ORDER_ABI, [self.input_token, self.input_amount, self.output_token,
                                       self.output_amount, self.recipient, self.destination_chain_id])

    @classmethod
    def decode(cls, data: bytes | str, destination_kind: ChainKind = EVM) -> OrbitalOrder:
        """From ``orderData`` of the type of ``destination_kind`` (its orderDataType says which)."""
        data = HexBytes(data)
        if len(data) != 32 * len(_ORDER_ABI):
            raise ValueError(f"orderData must be {32 * len(_ORDER_ABI)} bytes, got {len(data)}")
        if destination_kind == EVM:
            return cls(*abi_decode(_ORDER_ABI, data, strict=True))
        token_in, amount_in, token_out, amount_out, recipient, dest = abi_decode(
            _ORDER32_ABI, data, strict=True)
        return cls(token_in, amount_in, bytes32_to_account(token_out, destination_kind), amount_out,
                   bytes32_to_account(recipient, destination_kind), dest, destination_kind)

    def to_eip712(self) -> dict[str, Any]:
        """EIP-712 message value; uint256 as decimal strings so JSON/JavaScript keep precision,
        bytes32 accounts (OrbitalOrder32) as 0x + 64 hex digits."""
        if self.wide:
            token: str = "0x" + self.output_token_word.hex()
            recipient: str = "0x" + self.recipient_word.hex()
        else:
            token, recipient = self.output_token, self.recipient
        return {"inputToken": self.input_token, "inputAmount": str(self.input_amount),
                "outputToken": token, "outputAmount": str(self.output_amount),
                "recipient": recipient, "destinationChainId": str(self.destination_chain_id)}


@dataclass(frozen=True)
class GaslessOrder:
    """An ERC-7683 GaslessCrossChainOrder whose orderData is an OrbitalOrder or, for a 32-byte
    destination, an OrbitalOrder32 (``order.destination_kind`` decides). The order id does not
    depend on the type."""

    origin_settler: str
    user: str
    nonce: int
    origin_chain_id: int
    open_deadline: int
    fill_deadline: int
    order: OrbitalOrder
    # The signing form: False, the Orbital domain's GaslessCrossChainOrder; True, Permit2's
    # PermitWitnessTransferFrom with this order as the witness (the input is pulled through
    # Permit2; permit nonce = nonce, deadline = openDeadline, spender = originSettler).
    permit2: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "origin_settler", to_checksum_address(self.origin_settler))
        object.__setattr__(self, "user", to_checksum_address(self.user))

    @property
    def order_id(self) -> bytes:
        return order_id(self.origin_chain_id, self.origin_settler, self.user, self.nonce)

    @property
    def destination_kind(self) -> ChainKind:
        return self.order.destination_kind

    @property
    def order_data_type(self) -> bytes:
        return self.order.order_data_type

    @property
    def order_data(self) -> bytes:
        return self.order.encode()

    def to_abi(self) -> tuple:
        """The Solidity struct as a tuple, ready for web3 ``openFor``/``resolveFor`` calls."""
        return (self.origin_settler, self.user, self.nonce, self.origin_chain_id, self.open_deadline,
                self.fill_deadline, self.order_data_type, self.order_data)

    def typed_data(self) -> dict[str, Any]:
        return order_typed_data(self)

    def open_signature(self, signature: bytes) -> bytes:
        """What ``openFor`` takes as the signature of this order: the user's signature, behind
        :data:`PERMIT2_SIGNATURE_TAG` when the order is of the Permit2 form."""
        return PERMIT2_SIGNATURE_TAG + bytes(signature) if self.permit2 else bytes(signature)


def order_typed_data(order: GaslessOrder) -> dict[str, Any]:
    """Full EIP-712 JSON for ``eth_signTypedData_v4`` / ``Account.sign_typed_data(full_message=...)``.

    The message nests OrbitalOrder or OrbitalOrder32 (the contract hashes the decoded orderData
    the same way), so wallets show the swap instead of an opaque byte string.
    """
    message = {
        "originSettler": order.origin_settler,
        "user": order.user,
        "nonce": str(order.nonce),
        "originChainId": str(order.origin_chain_id),
        "openDeadline": int(order.open_deadline),
        "fillDeadline": int(order.fill_deadline),
        "orderDataType": "0x" + order.order_data_type.hex(),
        "orderData": order.order.to_eip712(),
    }
    if order.permit2:
        return _permit2_typed_data(order, message)
    types = ORDER_TYPES_BY_KIND[order.destination_kind]
    return {
        "types": {name: [dict(f) for f in fields] for name, fields in types.items()},
        "primaryType": "GaslessCrossChainOrder",
        "domain": domain(order.origin_chain_id, order.origin_settler),
        "message": message,
    }


def _permit2_typed_data(order: GaslessOrder, witness: dict[str, Any]) -> dict[str, Any]:
    """The Permit2 form: PermitWitnessTransferFrom in Permit2's domain, the permit made from
    the order (token and amount = the input, spender = the settler, nonce = the order's,
    deadline = openDeadline) and the order itself as the witness."""
    types = PERMIT2_TYPES_BY_KIND[order.destination_kind]
    return {
        "types": {name: [dict(f) for f in fields] for name, fields in types.items()},
        "primaryType": "PermitWitnessTransferFrom",
        "domain": permit2_domain(order.origin_chain_id),
        "message": {
            "permitted": {"token": order.order.input_token, "amount": str(order.order.input_amount)},
            "spender": order.origin_settler,
            "nonce": str(order.nonce),
            "deadline": str(order.open_deadline),
            "witness": witness,
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
    """What a FillInstruction's ``originData`` carries: abi.encode of these seven words.

    ``output_token`` and ``recipient`` are accounts of the destination chain in their text form
    (checksummed address or base58) and travel as bytes32 words; an EVM address's word is what
    ``abi.encode(address)`` writes, so EVM originData (and its fill key) is byte-identical to
    the address layout. Decoding needs the destination's kind (:meth:`decode`)."""

    order_id: bytes
    origin_chain_id: int
    destination_chain_id: int
    output_token: str
    amount: int
    recipient: str
    fill_deadline: int

    def encode(self) -> bytes:
        return abi_encode(_FILL_ABI, [self.order_id, self.origin_chain_id, self.destination_chain_id,
                                      account_to_bytes32(self.output_token), self.amount,
                                      account_to_bytes32(self.recipient), self.fill_deadline])

    @classmethod
    def decode(cls, data: bytes | str, destination_kind: ChainKind = EVM) -> FillData:
        """From originData whose accounts belong to a ``destination_kind`` chain (EVM: the
        words must be left-padded addresses, else ``ValueError``)."""
        data = HexBytes(data)
        if len(data) != 32 * len(_FILL_ABI):
            raise ValueError(f"originData must be {32 * len(_FILL_ABI)} bytes, got {len(data)}")
        oid, ocid, dcid, token, amount, recipient, deadline = abi_decode(_FILL_ABI, data, strict=True)
        return cls(oid, ocid, dcid, bytes32_to_account(token, destination_kind), amount,
                   bytes32_to_account(recipient, destination_kind), deadline)

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

    def token_account(self, kind: ChainKind) -> str:
        """``token`` as an account of a ``kind`` chain (the Output's ``chain_id`` is of that
        kind): checksummed address or base58; ``ValueError`` if the word cannot be one."""
        return bytes32_to_account(self.token, kind)

    def recipient_account(self, kind: ChainKind) -> str:
        return bytes32_to_account(self.recipient, kind)


@dataclass(frozen=True)
class FillInstruction:
    destination_chain_id: int
    destination_settler: bytes
    origin_data: bytes

    @property
    def fill_data(self) -> FillData:
        """The originData of an EVM destination (see :meth:`decode_fill_data` for others)."""
        return FillData.decode(self.origin_data)

    def decode_fill_data(self, destination_kind: ChainKind) -> FillData:
        return FillData.decode(self.origin_data, destination_kind)


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
