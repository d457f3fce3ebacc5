"""SPL token transfers read out of a ``getTransaction`` reply (``json`` encoding).

Only the node's own reply is used, nothing fetched on the side: the instructions give the
amount and the token accounts; the meta's ``preTokenBalances``/``postTokenBalances`` give
each token account's mint and owner. That matters for a plain ``Transfer`` (instruction 3):
unlike ``TransferChecked`` (12) it does not name the mint, so a transfer is matched to a
configured mint by its destination token account's mint in the meta.

The memo is the text of the transaction's SPL Memo instruction (v1 or v2; several are
joined with a newline); ``order_id`` is the memo when it is an order id (``0x`` + 64 hex,
lower-cased), else empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from collections.abc import Collection

from protocol.accounts import b58decode

__all__ = ["TOKEN_PROGRAM", "MEMO_PROGRAMS", "Transfer", "transfers_of"]

TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
MEMO_PROGRAMS = frozenset({"MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
                           "Memo1UhkJRfHyvLMcVucJwxXeuD728EqVVDMvbFu1fbR"})
_ORDER_ID = re.compile(r"0x[0-9a-fA-F]{64}")
_TRANSFER, _TRANSFER_CHECKED = 3, 12


@dataclass(frozen=True)
class Transfer:
    signature: str
    ix: int
    slot: int
    mint: str
    source: str
    destination: str
    source_owner: str
    destination_owner: str
    amount: int
    memo: str
    order_id: str
    block_time: int | None


def _instructions(tx: dict[str, Any], meta: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """Outer instructions (index i) then inner ones (1000*(outer+1) + j): a token transfer
    made by another program (a CPI) is indexed too."""
    out = list(enumerate(tx["message"]["instructions"]))
    for inner in meta.get("innerInstructions") or []:
        for j, ix in enumerate(inner.get("instructions") or []):
            out.append((1000 * (int(inner["index"]) + 1) + j, ix))
    return out


def transfers_of(signature: str, reply: dict[str, Any], mints: Collection[str]) -> list[Transfer]:
    """The SPL transfers of one transaction into token accounts of ``mints`` (none when the
    transaction failed). ``reply`` is ``getTransaction``'s result in ``json`` encoding."""
    meta = reply.get("meta") or {}
    if meta.get("err") is not None:
        return []
    tx = reply["transaction"]
    keys = list(tx["message"]["accountKeys"])
    loaded = meta.get("loadedAddresses") or {}
    keys += list(loaded.get("writable") or []) + list(loaded.get("readonly") or [])
    accounts: dict[str, tuple[str, str]] = {}      # token account -> (mint, owner)
    for bal in list(meta.get("preTokenBalances") or []) + list(meta.get("postTokenBalances") or []):
        accounts[keys[int(bal["accountIndex"])]] = (str(bal["mint"]), str(bal.get("owner") or ""))
    ixs = _instructions(tx, meta)
    memos = [b58decode(ix["data"]).decode("utf-8", "replace") for _, ix in ixs
             if keys[ix["programIdIndex"]] in MEMO_PROGRAMS]
    memo = "\n".join(memos)
    order_id = memo.lower() if _ORDER_ID.fullmatch(memo) else ""
    out = []
    for index, ix in ixs:
        if keys[ix["programIdIndex"]] != TOKEN_PROGRAM:
            continue
        data, acc = b58decode(ix["data"]), [keys[a] for a in ix["accounts"]]
        if data[:1] == bytes([_TRANSFER]) and len(data) >= 9 and len(acc) >= 3:
            source, destination = acc[0], acc[1]
        elif data[:1] == bytes([_TRANSFER_CHECKED]) and len(data) >= 10 and len(acc) >= 4:
            source, destination = acc[0], acc[2]
        else:
            continue
        mint, dest_owner = accounts.get(destination, ("", ""))
        if mint not in mints:
            continue
        out.append(Transfer(signature, index, int(reply["slot"]), mint, source, destination,
                            accounts.get(source, ("", ""))[1], dest_owner,
                            int.from_bytes(data[1:9], "little"), memo, order_id,
                            reply.get("blockTime")))
    return out

