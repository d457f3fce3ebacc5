"""Before paying an escrow: find the one fill that proves the intent, by the evidence rule.

The book marks an intent FILLED when a ``Filled`` event proves it
(:func:`protocol.evidence.judge`); the attester pays real money on the strength of that,
so it applies the same rule again, to the ``chain_event`` rows of the intent's order id on
its destination chain, with what the book cannot know: the block's timestamp (before
fillDeadline) and that the block is still the chain's (hash checked against the header
the caller fetched). Only a fill of the escrow's exact originData proves anything (its
fill key is what ``settle`` must present, and the settler checks it against the escrow),
so a shadow fill of the same order id by an attacker is never what gets repaid: it is
told apart here, and refused on chain if it were not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from actors.book import IntentRow, intent_terms
from chains.evm.models import ChainEvent
from protocol.evidence import judge
from protocol.logs import Filled

__all__ = ["Proof", "fill_events", "prove_fill"]


@dataclass(frozen=True)
class Proof:
    ok: bool
    filler: str = ""        # repayment address of the proving fill (whom settle pays)
    fill_key: str = ""      # 0x hex: keccak256 of the escrow's originData
    amount: int = 0         # delivered
    shortfall: int = 0      # below the winning bid, when the fill fell short
    reason: str = ""        # why not, when not ok (or the shortfall, when ok)
    wait: bool = False      # not ok *yet* (evidence missing or chain moving): no FAILED


def fill_events(intent: IntentRow) -> list[ChainEvent]:
    """``Filled`` rows of the intent's order id on its destination chain, the book's
    ``fill_tx`` first."""
    rows = list(ChainEvent.select().where((ChainEvent.chain == intent.destination_chain) &
                                          (ChainEvent.name == "Filled") &
                                          (ChainEvent.order_id == intent.id.lower()))
                .order_by(ChainEvent.id))
    rows.sort(key=lambda e: e.tx_hash.lower() != (intent.fill_tx or "").lower())
    return rows


def prove_fill(intent: IntentRow, events: list[ChainEvent], *, dest_chain_id: int,
               dest_settler: str, header: Callable[[int], dict | None]) -> Proof:
    """The fill among ``events`` that proves ``intent`` (``header(n)``: the destination's
    block ``n`` as ``eth_getBlockByNumber`` returns it, None if unknown)."""
    if not events:
        return Proof(False, reason=f"no Filled event indexed for {intent.id} on "
                                   f"{intent.destination_chain} (yet)", wait=True)
    terms = intent_terms(intent, dest_settler)
    waits, refusals = [], []
    for ev in events:
        head = header(ev.block_number)
        if head is None or head.get("hash", "").lower() != ev.block_hash.lower():
            waits.append(f"block {ev.block_number} of the fill in {ev.tx_hash} is not on the "
                         "canonical chain (reorg?)")
            continue
        try:
            seen = ev.located(dest_chain_id, int(head["timestamp"], 16))
        except ValueError as exc:
            refusals.append(f"{ev.tx_hash}: {exc}")
            continue
        v = judge(terms, seen, awarded=int(intent.awarded_amount or 0))
        if v.proves:
            assert isinstance(seen.event, Filled), "only a Filled event proves a fill"
            return Proof(True, filler=seen.event.filler, fill_key="0x" + seen.event.fill_key.hex(),
                         amount=v.amount, shortfall=v.shortfall, reason=v.why)
        refusals.append(f"{ev.tx_hash}: {v.why}")
    if waits:
        return Proof(False, reason="; ".join(waits), wait=True)
    return Proof(False, reason="no fill of the escrow's originData: " + " | ".join(refusals))
