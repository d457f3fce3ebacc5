"""Checking what users send: strict parsing of EIP-712 typed data and strict signature recovery.

Why strict: the typed data a user signed is the order the book stores and a filler submits, so
anything the settler would reject (other domain, other types, a malleable signature) is refused
here first, with the offending field named so the API can return a BadRequest field violation.

Why one way to each answer, and that one fast: the intent service recovers a signer per
submission. The digests of the two Orbital types (:func:`order_digest`, :func:`cancel_digest`)
are hashed by hand from the *parsed* message (fixed types, cached domain separators: what the
settler itself hashes) and the signer is recovered with coincurve, ~20x faster than walking the
typed data with eth-account. eth-account stays the oracle, in the tests
(tests/protocol/test_fast_verify.py): same digests, same signers, same refusals.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eth_utils import keccak
from hexbytes import HexBytes

from protocol._fast import (address_word, keccak256, recover_address, to_checksum_address,
                            word)
from protocol.accounts import EVM, SOLANA, ChainKind, b58decode, bytes32_to_account
from protocol.erc7683 import (
    CANCEL_ORDER_TYPEHASH,
    CANCEL_TYPES,
    DOMAIN_NAME,
    DOMAIN_VERSION,
    GASLESS_ORDER32_TYPEHASH,
    GASLESS_ORDER_TYPEHASH,
    ORBITAL_ORDER32_TYPEHASH,
    ORBITAL_ORDER_TYPEHASH,
    ORDER_DATA_TYPES,
    ORDER_TYPES_BY_KIND,
    PERMIT2_ADDRESS,
    PERMIT2_DOMAIN_NAME,
    PERMIT2_TYPES_BY_KIND,
    PERMIT_WITNESS_TYPEHASHES,
    TOKEN_PERMISSIONS_TYPEHASH,
    GaslessOrder,
    OrbitalOrder,
)

__all__ = [
    "SECP256K1_HALF_ORDER",
    "CancelMessage",
    "SignatureError",
    "TypedDataError",
    "cancel_digest",
    "order_digest",
    "order_struct_hash",
    "parse_cancel_typed_data",
    "permit2_domain_separator",
    "parse_order_typed_data",
    "recover_cancel_signer",
    "recover_order_signer",
]

SECP256K1_HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0


class TypedDataError(ValueError):
    """Typed data that is malformed or not an Orbital message; ``field`` is the JSON path at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class SignatureError(ValueError):
    """A signature that is malformed, non-canonical, or not by the expected signer."""


@dataclass(frozen=True)
class CancelMessage:
    """An off-chain CancelOrder: the order's id and nonce, in the domain of its settler."""

    chain_id: int
    settler: str
    order_id: bytes
    nonce: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "settler", to_checksum_address(self.settler))
        object.__setattr__(self, "order_id", bytes(self.order_id))
        if len(self.order_id) != 32:
            raise ValueError(f"order_id must be 32 bytes, got {len(self.order_id)}")


def _load(typed: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(typed, (str, bytes)):
        try:
            typed = json.loads(typed)
        except ValueError as exc:
            raise TypedDataError("typed_data", f"not JSON: {exc}") from None
    if not isinstance(typed, Mapping):
        raise TypedDataError("typed_data", "must be a JSON object")
    return typed


_HEX_UINT = re.compile(r"0x[0-9a-fA-F]+")   # as eth-account reads it: no "0X", no "_"


def _uint(path: str, value: Any, bits: int) -> int:
    """Accept int, decimal string or 0x-hex string (all forms eth_signTypedData_v4 accepts)."""
    if isinstance(value, bool):
        raise TypedDataError(path, "must be an integer")
    try:
        if isinstance(value, int):
            number = value
        elif isinstance(value, str) and _HEX_UINT.fullmatch(value):
            number = int(value, 16)
        elif isinstance(value, str) and value.isdigit():
            number = int(value)
        else:
            raise ValueError
    except ValueError:
        raise TypedDataError(path, f"must be a uint{bits} (integer or decimal string), got {value!r}") from None
    if not 0 <= number < 2**bits:
        raise TypedDataError(path, f"out of range for uint{bits}")
    return number


_HEX_ADDRESS = re.compile("(0x)?[0-9a-f]{40}", re.IGNORECASE | re.ASCII)  # eth-utils is_address


def _address(path: str, value: Any) -> str:
    if not isinstance(value, str) or _HEX_ADDRESS.fullmatch(value) is None:
        raise TypedDataError(path, f"must be a 0x address, got {value!r}")
    return to_checksum_address(value)


_HEX_BYTES32 = re.compile(r"0x[0-9a-fA-F]{64}")


def _bytes32(path: str, value: Any) -> bytes:
    """Exactly 0x and 64 hex digits (not an odd-length text some decoders would pad)."""
    if not isinstance(value, str) or _HEX_BYTES32.fullmatch(value) is None:
        raise TypedDataError(path, "must be 0x followed by 64 hex digits")
    return bytes.fromhex(value[2:])


def _fields(path: str, message: Any, names: list[str]) -> Mapping[str, Any]:
    if not isinstance(message, Mapping):
        raise TypedDataError(path, "must be an object")
    missing = [n for n in names if n not in message]
    extra = sorted(set(message) - set(names))
    if missing:
        raise TypedDataError(f"{path}.{missing[0]}", "is required")
    if extra:
        raise TypedDataError(f"{path}.{extra[0]}", "is not a field of this type")
    return message


def _envelope(typed: Mapping[str, Any], types: dict, primary: str) -> tuple[int, str]:
    """Check types, primaryType and domain; return the domain's (chainId, verifyingContract)."""
    _types(typed, types, primary)
    dom = _fields("domain", typed.get("domain"), ["name", "version", "chainId", "verifyingContract"])
    if dom["name"] != DOMAIN_NAME or dom["version"] != DOMAIN_VERSION:
        raise TypedDataError("domain", f"must be name={DOMAIN_NAME!r} version={DOMAIN_VERSION!r}")
    return _uint("domain.chainId", dom["chainId"], 256), _address("domain.verifyingContract", dom["verifyingContract"])


def _types(typed: Mapping[str, Any], types: dict, primary: str) -> None:
    """primaryType and exactly these ``types``, field by field (names, types and order)."""
    if typed.get("primaryType") != primary:
        raise TypedDataError("primaryType", f"must be {primary!r}")
    got = typed.get("types")
    if not isinstance(got, Mapping) or set(got) != set(types):
        raise TypedDataError("types", f"must declare exactly {sorted(types)}")
    for name, fields in types.items():
        entries = got[name]
        if not isinstance(entries, list) or not all(isinstance(f, Mapping) for f in entries):
            raise TypedDataError(f"types.{name}", "must be a list of {name, type} objects")
        declared = [{"name": f.get("name"), "type": f.get("type")} for f in entries]
        if declared != fields:
            raise TypedDataError(f"types.{name}", "does not match the Orbital definition (docs/erc7683.md)")


def _order_kind(typed: Mapping[str, Any]) -> ChainKind:
    """Which orderData type the typed data declares: OrbitalOrder32 for a 32-byte-account
    (Solana) destination, else OrbitalOrder (then checked exactly by :func:`_envelope`)."""
    got = typed.get("types")
    if isinstance(got, Mapping) and "OrbitalOrder32" in got:
        return SOLANA
    return EVM


def _account32(path: str, value: Any, kind: ChainKind) -> str:
    """A bytes32 account of an OrbitalOrder32 (0x + 64 hex digits) in its chain's text form."""
    return bytes32_to_account(_bytes32(path, value), kind)


def parse_order_typed_data(typed: Mapping[str, Any] | str | bytes) -> GaslessOrder:
    """The GaslessOrder a user's typed data describes; raises TypedDataError naming the bad field.

    Either orderData type: ``types`` declaring OrbitalOrder (an EVM destination) or
    OrbitalOrder32 (a Solana destination, whose outputToken and recipient are bytes32 as 0x +
    64 hex digits, held by the parsed order in base58), exactly as docs/erc7683.md defines them.
    Also enforces what the settler enforces about the envelope: the domain's chainId and
    verifyingContract are the order's originChainId and originSettler, orderDataType is the
    typehash of the declared orderData type.
    """
    typed = _load(typed)
    if typed.get("primaryType") == "PermitWitnessTransferFrom":
        return _parse_permit2(typed)
    kind = _order_kind(typed)
    chain_id, settler = _envelope(typed, ORDER_TYPES_BY_KIND[kind], "GaslessCrossChainOrder")
    order = _order_message("message", typed.get("message"), kind)
    if order.origin_chain_id != chain_id:
        raise TypedDataError("domain.chainId", "must equal message.originChainId")
    if order.origin_settler != settler:
        raise TypedDataError("domain.verifyingContract", "must equal message.originSettler")
    return order


def _parse_permit2(typed: Mapping[str, Any]) -> GaslessOrder:
    """The Permit2 form (docs/erc7683.md section 3b): PermitWitnessTransferFrom in Permit2's
    domain, the order as ``message.witness``. The permit must be the one the settler builds
    from the order (it never passes Permit2 anything else, so any other permit could not be
    opened): token and amount the order's input, spender its settler, nonce its nonce,
    deadline its openDeadline. The types pin the witness type string exactly."""
    kind = _order_kind(typed)
    _types(typed, PERMIT2_TYPES_BY_KIND[kind], "PermitWitnessTransferFrom")
    dom = _fields("domain", typed.get("domain"), ["name", "chainId", "verifyingContract"])
    if dom["name"] != PERMIT2_DOMAIN_NAME:
        raise TypedDataError("domain.name", f"must be {PERMIT2_DOMAIN_NAME!r} (Permit2's domain has no version)")
    chain_id = _uint("domain.chainId", dom["chainId"], 256)
    if _address("domain.verifyingContract", dom["verifyingContract"]) != PERMIT2_ADDRESS:
        raise TypedDataError("domain.verifyingContract", f"must be Permit2 at {PERMIT2_ADDRESS}")
    msg = _fields("message", typed.get("message"), ["permitted", "spender", "nonce", "deadline", "witness"])
    permitted = _fields("message.permitted", msg["permitted"], ["token", "amount"])
    order = _order_message("message.witness", msg["witness"], kind, permit2=True)
    o = order.order
    if order.origin_chain_id != chain_id:
        raise TypedDataError("domain.chainId", "must equal message.witness.originChainId")
    if _address("message.spender", msg["spender"]) != order.origin_settler:
        raise TypedDataError("message.spender", f"must be the order's settler {order.origin_settler} "
                                                "(the contract that pulls the input through Permit2)")
    if _address("message.permitted.token", permitted["token"]) != o.input_token:
        raise TypedDataError("message.permitted.token", "must be message.witness.orderData.inputToken")
    if _uint("message.permitted.amount", permitted["amount"], 256) != o.input_amount:
        raise TypedDataError("message.permitted.amount", "must be message.witness.orderData.inputAmount")
    if _uint("message.nonce", msg["nonce"], 256) != order.nonce:
        raise TypedDataError("message.nonce", "must be message.witness.nonce (the Permit2 nonce is the order's)")
    if _uint("message.deadline", msg["deadline"], 256) != order.open_deadline:
        raise TypedDataError("message.deadline", "must be message.witness.openDeadline")
    return order


def _order_message(path: str, message: Any, kind: ChainKind, permit2: bool = False) -> GaslessOrder:
    """A GaslessCrossChainOrder message (the Orbital form's ``message`` or the Permit2 form's
    ``message.witness``), every field checked and named under ``path``."""
    types = ORDER_TYPES_BY_KIND[kind]
    type_name = "OrbitalOrder32" if kind != EVM else "OrbitalOrder"
    msg = _fields(path, message, [f["name"] for f in types["GaslessCrossChainOrder"]])
    data = _fields(f"{path}.orderData", msg["orderData"], [f["name"] for f in types[type_name]])
    if _bytes32(f"{path}.orderDataType", msg["orderDataType"]) != ORDER_DATA_TYPES[kind]:
        raise TypedDataError(f"{path}.orderDataType", f"must be keccak256 of the {type_name} type string")
    p = f"{path}.orderData."
    if kind == EVM:
        output_token = _address(p + "outputToken", data["outputToken"])
        recipient = _address(p + "recipient", data["recipient"])
    else:
        output_token = _account32(p + "outputToken", data["outputToken"], kind)
        recipient = _account32(p + "recipient", data["recipient"], kind)
    m = f"{path}."
    return GaslessOrder(
        origin_settler=_address(m + "originSettler", msg["originSettler"]),
        user=_address(m + "user", msg["user"]),
        nonce=_uint(m + "nonce", msg["nonce"], 256),
        origin_chain_id=_uint(m + "originChainId", msg["originChainId"], 256),
        open_deadline=_uint(m + "openDeadline", msg["openDeadline"], 32),
        fill_deadline=_uint(m + "fillDeadline", msg["fillDeadline"], 32),
        order=OrbitalOrder(
            input_token=_address(p + "inputToken", data["inputToken"]),
            input_amount=_uint(p + "inputAmount", data["inputAmount"], 256),
            output_token=output_token,
            output_amount=_uint(p + "outputAmount", data["outputAmount"], 256),
            recipient=recipient,
            destination_chain_id=_uint(p + "destinationChainId", data["destinationChainId"], 256),
            destination_kind=kind,
        ),
        permit2=permit2,
    )


def parse_cancel_typed_data(typed: Mapping[str, Any] | str | bytes) -> CancelMessage:
    """The CancelOrder a user's typed data describes; raises TypedDataError naming the bad field."""
    typed = _load(typed)
    chain_id, settler = _envelope(typed, CANCEL_TYPES, "CancelOrder")
    msg = _fields("message", typed.get("message"), ["orderId", "nonce"])
    return CancelMessage(chain_id, settler, _bytes32("message.orderId", msg["orderId"]),
                         _uint("message.nonce", msg["nonce"], 256))


_SIG_HEX = re.compile(r"0x[0-9a-fA-F]{130}")


def _signature(signature: bytes | str) -> bytes:
    """The 65 signature bytes, checked against the settler's rules: v in {27, 28}, low s."""
    if isinstance(signature, str) and _SIG_HEX.fullmatch(signature):
        sig = bytes.fromhex(signature[2:])
    else:
        try:
            sig = bytes(HexBytes(signature))
        except ValueError:
            raise SignatureError("signature is not hex") from None
    if len(sig) != 65:
        raise SignatureError(f"signature must be 65 bytes, got {len(sig)}")
    if int.from_bytes(sig[32:64], "big") > SECP256K1_HALF_ORDER:
        raise SignatureError("signature s is in the upper half of the curve order (malleable form)")
    if sig[64] not in (27, 28):
        raise SignatureError(f"signature v must be 27 or 28, got {sig[64]}")
    return sig


# ---- digests: the parsed message hashed by hand ---------------------------------------------
_DOMAIN_PREFIX = (keccak(text="EIP712Domain(string name,string version,uint256 chainId,"
                               "address verifyingContract)")
                  + keccak(text=DOMAIN_NAME) + keccak(text=DOMAIN_VERSION))
_SEPARATORS: dict[tuple[int, str], bytes] = {}


def _separator(chain_id: int, settler: str) -> bytes:
    key = (chain_id, settler)
    sep = _SEPARATORS.get(key)
    if sep is None:
        if len(_SEPARATORS) >= 1024:
            _SEPARATORS.clear()
        sep = _SEPARATORS[key] = keccak256(_DOMAIN_PREFIX + word(chain_id) + address_word(settler))
    return sep


_PERMIT2_DOMAIN_PREFIX = (keccak(text="EIP712Domain(string name,uint256 chainId,address verifyingContract)")
                          + keccak(text=PERMIT2_DOMAIN_NAME))


def order_digest(order: GaslessOrder) -> bytes:
    """The EIP-712 digest a wallet signs for :func:`order_typed_data`, for either orderData
    type and either signing form. Orbital form: keccak256(0x1901 || domainSeparator ||
    hashStruct(order)), the domain being the order's chain and settler (what the settler's
    ``gaslessOrderDigest`` gives). Permit2 form: the PermitWitnessTransferFrom digest in
    Permit2's domain, with hashStruct(order) as the witness (what Permit2 checks when the
    settler pulls the input)."""
    struct = order_struct_hash(order)
    if order.permit2:
        o = order.order
        permitted = keccak256(TOKEN_PERMISSIONS_TYPEHASH + address_word(o.input_token) + word(o.input_amount))
        data = keccak256(PERMIT_WITNESS_TYPEHASHES[o.destination_kind] + permitted
                         + address_word(order.origin_settler) + word(order.nonce)
                         + word(order.open_deadline) + struct)
        return keccak256(b"\x19\x01" + permit2_domain_separator(order.origin_chain_id) + data)
    return keccak256(b"\x19\x01" + _separator(order.origin_chain_id, order.origin_settler) + struct)


def permit2_domain_separator(chain_id: int) -> bytes:
    """Permit2's DOMAIN_SEPARATOR on ``chain_id`` (at its canonical address)."""
    return keccak256(_PERMIT2_DOMAIN_PREFIX + word(chain_id) + address_word(PERMIT2_ADDRESS))


def order_struct_hash(order: GaslessOrder) -> bytes:
    """hashStruct(GaslessCrossChainOrder) of a parsed order: the Orbital form's struct and the
    Permit2 form's witness (OrbitalTypes.hashGaslessOrder)."""
    o = order.order
    if o.destination_kind == EVM:
        order_type, gasless_type = ORBITAL_ORDER_TYPEHASH, GASLESS_ORDER_TYPEHASH
        token, recipient = address_word(o.output_token), address_word(o.recipient)
    else:   # OrbitalOrder32: the accounts are base58 public keys, hashed as their 32 bytes
        order_type, gasless_type = ORBITAL_ORDER32_TYPEHASH, GASLESS_ORDER32_TYPEHASH
        token, recipient = b58decode(o.output_token), b58decode(o.recipient)
    inner = keccak256(order_type + address_word(o.input_token) + word(o.input_amount)
                      + token + word(o.output_amount) + recipient + word(o.destination_chain_id))
    struct = keccak256(gasless_type + address_word(order.origin_settler)
                       + address_word(order.user) + word(order.nonce) + word(order.origin_chain_id)
                       + word(order.open_deadline) + word(order.fill_deadline)
                       + ORDER_DATA_TYPES[o.destination_kind] + inner)
    return struct


def cancel_digest(cancel: CancelMessage) -> bytes:
    """The EIP-712 digest of a cancellation: what a wallet signs for :func:`cancel_typed_data`
    (same domain as the order: its chain and settler)."""
    struct = keccak256(CANCEL_ORDER_TYPEHASH + cancel.order_id + word(cancel.nonce))
    return keccak256(b"\x19\x01" + _separator(cancel.chain_id, cancel.settler) + struct)


# ---- signers ----------------------------------------------------------------------------------
def _recover(digest: bytes, sig: bytes) -> str:
    try:
        return recover_address(digest, sig)
    except ValueError as exc:
        raise SignatureError(str(exc)) from None


def recover_order_signer(order: GaslessOrder, signature: bytes | str) -> str:
    """Who signed a parsed order (checksummed), with the settler's rules: 65 bytes, v in
    {27, 28}, low s; raises SignatureError naming the rule broken. The caller compares the
    result with ``order.user``."""
    sig = _signature(signature)
    return _recover(order_digest(order), sig)


def recover_cancel_signer(cancel: CancelMessage, signature: bytes | str) -> str:
    """Who signed a cancellation, with the same rules and errors as :func:`recover_order_signer`."""
    sig = _signature(signature)
    return _recover(cancel_digest(cancel), sig)
