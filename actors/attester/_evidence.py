"""Defence in depth before paying an escrow: re-check the ``Filled`` row the book relied on.

The book marks an intent FILLED when the destination's ``Filled`` event matches the
order's fill instruction. The attester pays real money on the strength of that, so it
checks the evidence again from ``chain_event`` (docs/erc7683.md section 6: fills are keyed
by keccak(originData), so a ``Filled`` for the right order id with bogus terms can exist):
the event must come from the destination settler on the intent's destination chain, pay
the order's ``recipient`` in the order's ``token`` at least ``min_output``, name the
order's origin chain, and sit in a block whose timestamp is <= ``fillDeadline`` and whose
hash is still the chain's (checked against the header the caller fetched).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from actors.book._models import IntentRow
from actors.evm.models import ChainEvent

__all__ = ["Verdict", "filled_events", "judge"]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    filler: str = ""        # repayment address of the fill (whom settle pays)
    reason: str = ""        # why not, when not ok
    wait: bool = False      # not ok *yet* (evidence missing or chain moving): no FAILED


def filled_events(intent: IntentRow) -> list[ChainEvent]:
    """``Filled`` rows of the intent on its fill chain, the book's ``fill_tx`` first."""
    rows = list(ChainEvent.select().where((ChainEvent.chain == intent.fill_chain) &
                                          (ChainEvent.name == "Filled") &
                                          (ChainEvent.order_id == intent.id.lower()))
                .order_by(ChainEvent.id))
    rows.sort(key=lambda e: e.tx_hash.lower() != (intent.fill_tx or "").lower())
    return rows


def _eq(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def judge(intent: IntentRow, event: ChainEvent | None, *, dest_chain_id: int,
          dest_settler: str, header: dict | None) -> Verdict:
    """``header``: the destination block ``eth_getBlockByNumber(event.block_number)``."""
    if event is None:
        return Verdict(False, reason=f"no Filled event indexed for {intent.id} on "
                                     f"{intent.fill_chain or '?'} (yet)", wait=True)
    if header is None or header.get("hash", "").lower() != event.block_hash.lower():
        return Verdict(False, reason=f"block {event.block_number} of the fill is not on the "
                                     f"canonical chain (reorg?)", wait=True)
    args = json.loads(event.args)
    problems = []
    if dest_chain_id != intent.destination_chain_id:
        problems.append(f"fill chain id {dest_chain_id} != order destination "
                        f"{intent.destination_chain_id}")
    if not _eq(event.address, dest_settler):
        problems.append(f"event from {event.address}, not the destination settler")
    if not _eq(args["recipient"], intent.recipient):
        problems.append(f"recipient {args['recipient']} != order recipient {intent.recipient}")
    if not _eq(args["token"], intent.output_token):
        problems.append(f"token {args['token']} != order output token {intent.output_token}")
    if int(args["amount"]) < int(intent.min_output):
        problems.append(f"amount {args['amount']} < min output {intent.min_output}")
    if int(args["originChainId"]) != intent.origin_chain_id:
        problems.append(f"originChainId {args['originChainId']} != {intent.origin_chain_id}")
    if int(header["timestamp"], 16) > intent.fill_deadline:
        problems.append(f"filled at {int(header['timestamp'], 16)}, after fillDeadline "
                        f"{intent.fill_deadline}")
    if intent.filler and not _eq(args["filler"], intent.filler):
        problems.append(f"filler {args['filler']} != the book's {intent.filler}")
    if problems:
        return Verdict(False, reason="fill evidence does not match the order: "
                                     + "; ".join(problems))
    return Verdict(True, filler=args["filler"])
