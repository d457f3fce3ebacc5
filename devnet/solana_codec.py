"""Encodings solana-local's RPC needs: base58 (no third-party package) and the "json" form of a
transaction (UiTransaction with a raw message), as getTransaction returns it."""

from __future__ import annotations

from typing import Any

from solders.transaction import VersionedTransaction

__all__ = ["b58decode", "b58encode", "ui_transaction"]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def b58decode(text: str) -> bytes:
    if not isinstance(text, str):
        raise TypeError("base58 input must be a string")
    n = 0
    for ch in text:
        index = _B58.find(ch)
        if index < 0:
            raise ValueError(f"invalid base58 character {ch!r}")
        n = n * 58 + index
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * (len(text) - len(text.lstrip("1"))) + body


def ui_transaction(tx: VersionedTransaction) -> dict[str, Any]:
    """The "json" encoding of a transaction (UiTransaction with a raw message)."""
    msg = tx.message
    header = msg.header
    message: dict[str, Any] = {
        "accountKeys": [str(k) for k in msg.account_keys],
        "header": {"numRequiredSignatures": header.num_required_signatures,
                   "numReadonlySignedAccounts": header.num_readonly_signed_accounts,
                   "numReadonlyUnsignedAccounts": header.num_readonly_unsigned_accounts},
        "recentBlockhash": str(msg.recent_blockhash),
        "instructions": [{"programIdIndex": ix.program_id_index, "accounts": list(bytes(ix.accounts)),
                          "data": b58encode(bytes(ix.data)), "stackHeight": None}
                         for ix in msg.instructions],
    }
    lookups = getattr(msg, "address_table_lookups", None)
    if lookups is not None:
        message["addressTableLookups"] = [{"accountKey": str(lu.account_key), "writableIndexes": list(bytes(lu.writable_indexes)),
                                           "readonlyIndexes": list(bytes(lu.readonly_indexes))} for lu in lookups]
    return {"signatures": [str(s) for s in tx.signatures], "message": message}
