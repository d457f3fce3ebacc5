"""What an indexed contract event means for an intent (pure: no store, no actor).

The chain watcher writes ``chain_event`` rows; the book reads them in id order and asks
:func:`decide` what each one does to the intent it names. Rules (docs/intents.md):

- ``Open`` on the origin settler: a known intent in PENDING/ASSIGNED (also CANCELLED or
  EXPIRED: the chain is the truth, the user's tokens are now escrowed) becomes OPENED; an
  unknown order id is an order opened on chain directly and becomes a new intent.
- ``Filled`` on a destination settler: OPENED -> FILLED, but only if the fill matches the
  order's terms (destination chain, token, recipient, amount >= the signed minimum, origin
  chain); fills are keyed by keccak(originData), so anyone may "fill" an order id with
  made-up terms, and such a fill proves nothing.
- ``Settled`` on the origin settler: FILLED (or OPENED) -> SETTLED.
- ``Refunded``: OPENED/FILLED -> REFUNDED.
- ``NonceInvalidated(user, nonce)``: a PENDING/ASSIGNED intent with that nonce -> CANCELLED.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from protocol.erc7683 import FillData, ResolvedOrder

from ._views import IntentView, Status

__all__ = ["Decision", "decide", "onchain_intent_fields"]

_OPENABLE = {Status.PENDING, Status.ASSIGNED, Status.CANCELLED, Status.EXPIRED}


@dataclass(frozen=True)
class Decision:
    status: Status | None = None          # None: no transition
    reason: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    ignored: str = ""                     # why the event changes nothing (logged)


def _args(row) -> dict[str, Any]:
    return json.loads(row.args)


def _tuple(value: Any) -> Any:
    """JSON args back to ABI values (decimal strings -> int, 0x hex -> bytes)."""
    if isinstance(value, list):
        return tuple(_tuple(v) for v in value)
    if isinstance(value, str) and value.startswith("0x") and len(value) != 42:
        return bytes.fromhex(value[2:])
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def resolved_order(row) -> ResolvedOrder:
    return ResolvedOrder.from_abi(_tuple(_args(row)["resolvedOrder"]))


def onchain_intent_fields(row, origin_chain: str, destination_chain: str) -> dict[str, Any]:
    """Row fields of an intent first seen as an ``Open`` event (orders opened on chain)."""
    ro = resolved_order(row)
    spent, fill = ro.max_spent[0], ro.fill_instructions[0].fill_data
    return {"user": ro.user, "nonce": None, "origin_chain": origin_chain,
            "origin_chain_id": ro.origin_chain_id, "destination_chain": destination_chain,
            "destination_chain_id": fill.destination_chain_id,
            "origin_settler": to_checksum_address(row.address),
            "input_token": spent.token_address, "input_amount": spent.amount,
            "output_token": fill.output_token, "min_output": fill.amount,
            "recipient": fill.recipient, "open_deadline": ro.open_deadline,
            "fill_deadline": ro.fill_deadline, "source": "onchain"}


def destination_of(row) -> int:
    return resolved_order(row).fill_instructions[0].destination_chain_id


def decide(row, view: IntentView, chain_id: int) -> Decision:
    """The transition ``row`` (an event of chain ``chain_id``) causes for ``view``."""
    name, status = row.name, view.status
    if name == "Open":
        if chain_id != view.origin_chain_id:
            return Decision(ignored=f"Open on chain {chain_id}, not the origin chain")
        if status in _OPENABLE:
            return Decision(Status.OPENED, "opened on the origin chain")
        return Decision(ignored=f"Open seen while {status.value}")
    if name == "Filled":
        a = _args(row)
        problems = []
        if chain_id != view.destination_chain_id:
            problems.append(f"filled on chain {chain_id}, not {view.destination_chain_id}")
        if int(a["originChainId"]) != view.origin_chain_id:
            problems.append("originChainId differs")
        if to_checksum_address(a["token"]) != view.output_token:
            problems.append(f"token {a['token']} is not {view.output_token}")
        if to_checksum_address(a["recipient"]) != view.recipient:
            problems.append(f"recipient {a['recipient']} is not {view.recipient}")
        if int(a["amount"]) < view.min_output:
            problems.append(f"amount {a['amount']} is below the minimum {view.min_output}")
        if problems:
            return Decision(ignored="fill does not match the order: " + "; ".join(problems))
        if status in (Status.OPENED,):
            return Decision(Status.FILLED, f"filled with {a['amount']}", {
                "filler": to_checksum_address(a["filler"]), "fill_tx": row.tx_hash,
                "fill_chain": row.chain, "fill_block": row.block_number})
        return Decision(ignored=f"Filled seen while {status.value}")
    if name == "Settled":
        if status in (Status.FILLED, Status.OPENED):
            return Decision(Status.SETTLED, "escrow released to the filler")
        return Decision(ignored=f"Settled seen while {status.value}")
    if name == "Refunded":
        if status in (Status.OPENED, Status.FILLED):
            return Decision(Status.REFUNDED, "fillDeadline passed; escrow returned to the user")
        return Decision(ignored=f"Refunded seen while {status.value}")
    if name == "NonceInvalidated":
        if status in (Status.PENDING, Status.ASSIGNED):
            return Decision(Status.CANCELLED, "nonce invalidated on chain by the user")
        return Decision(ignored=f"NonceInvalidated seen while {status.value}")
    return Decision(ignored=f"{name} does not concern intents")


__all__ += ["resolved_order", "destination_of", "FillData"]
