"""The settler calls the attester makes: calldata of ``settle`` / ``refund`` /
``escrows`` and the decoding of what comes back (escrow status, custom-error reverts).

Sending them (nonces, fees, record-then-send, replacement) is not here: it is
:class:`chains.evm.txsend.TxSender`'s job, shared with every other sender of the node.
"""

from __future__ import annotations

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak, to_checksum_address

from chains.evm import RpcError
from protocol import abi
from protocol.evidence import Escrow

__all__ = ["settle_calldata", "refund_calldata", "escrow_calldata", "attester_calldata",
           "decode_escrow", "decode_escrow_status", "revert_reason", "ESCROW_STATUS"]

_SETTLE = keccak(text="settle(bytes32[],address[],bytes32[])")[:4]
_ESCROWS = keccak(text="escrows(bytes32)")[:4]
_REFUND = keccak(text="refund(bytes32)")[:4]
_ATTESTER = keccak(text="attester()")[:4]
ESCROW_STATUS = {0: "None", 1: "Opened", 2: "Settled", 3: "Refunded"}

# custom errors of the settler and of the tokens it passes reverts through from
_ERRORS = {"0x" + keccak(text=f"{e['name']}({','.join(i['type'] for i in e['inputs'])})")[:4].hex():
           e["name"] for c in ("OrbitalSettler", "TestToken") for e in abi(c)
           if e["type"] == "error"}


def settle_calldata(order_ids: list[str], fillers: list[str], fill_keys: list[str]) -> str:
    """``settle(orderIds, fillers, fillKeys)``: each fill key (0x hex) is the one of the
    ``Filled`` event relied on, which the settler checks against the escrow's."""
    ids = [bytes.fromhex(i[2:]) for i in order_ids]
    keys = [bytes.fromhex(k[2:]) for k in fill_keys]
    return "0x" + (_SETTLE + abi_encode(["bytes32[]", "address[]", "bytes32[]"],
                                        [ids, fillers, keys])).hex()


def refund_calldata(order_id: str) -> str:
    return "0x" + (_REFUND + bytes.fromhex(order_id[2:])).hex()


def escrow_calldata(order_id: str) -> str:
    return "0x" + (_ESCROWS + bytes.fromhex(order_id[2:])).hex()


def attester_calldata() -> str:
    return "0x" + _ATTESTER.hex()


def decode_escrow_status(result: str) -> int:
    """``escrows(id)`` returns (user, fillDeadline, status, inputToken, filler, amount,
    fillKey)."""
    data = bytes.fromhex(result[2:])
    if len(data) < 96:
        raise ValueError(f"escrows(): short reply ({len(data)} bytes)")
    return int.from_bytes(data[64:96], "big")


_ESCROW_TYPES = ["address", "uint32", "uint8", "address", "address", "uint256", "bytes32"]


def decode_escrow(result: str) -> Escrow:
    """``escrows(id)`` in full, as the evidence rule's :class:`~protocol.evidence.Escrow`:
    the filler named at open is whom ``settle`` must pay for an order to a Solana chain
    (the settler refuses any other for an OrbitalOrder32 escrow), so it is read from the
    chain, never from what an indexer wrote. ``ValueError`` on a reply of another shape."""
    data = bytes.fromhex(result[2:]) if result.startswith("0x") else b""
    if len(data) != 32 * len(_ESCROW_TYPES):
        raise ValueError(f"escrows(): expected {32 * len(_ESCROW_TYPES)} bytes, got {len(data)}")
    try:
        user, deadline, status, token, filler, amount, key = abi_decode(_ESCROW_TYPES, data)
    except DecodingError as exc:
        raise ValueError(f"escrows(): {exc}") from None
    return Escrow(int(status), to_checksum_address(user), int(deadline),
                  to_checksum_address(token), int(amount), to_checksum_address(filler), bytes(key))


def revert_reason(exc: RpcError) -> str:
    """The custom error's name when the revert data carries a known selector."""
    data = exc.data if isinstance(exc.data, str) else ""
    name = _ERRORS.get(data[:10]) if data.startswith("0x") else None
    return f"{name} ({exc.message})" if name else exc.message
