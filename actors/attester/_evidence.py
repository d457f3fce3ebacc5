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

An intent to a Solana chain (an OrbitalOrder32) is filled by an SPL transfer tagged with the
order id by a memo (docs/solana.md); there is no settler on Solana to guard "one fill per
order", so :func:`prove_solana_fill` applies :func:`protocol.evidence.first_proving` to the
watcher's ``solana_transfer`` rows of the order id, each re-read at ``finalized`` first
(the watcher may index at ``confirmed``: a slot that can still be skipped pays nobody).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from typing import Any

from actors.book import IntentRow, intent_terms
from chains.evm.models import ChainEvent
from chains.solana import SolanaTransfer, transfers_of
from protocol.accounts import SOLANA
from protocol.evidence import Located, SplTransfer, first_proving, judge
from protocol.logs import Filled
from protocol.solana import MEMO_PROGRAM

__all__ = ["Proof", "fill_events", "prove_fill", "solana_transfers", "prove_solana_fill"]


@dataclass(frozen=True)
class Proof:
    ok: bool
    filler: str = ""        # repayment address of the proving fill (whom settle pays)
    fill_key: str = ""      # 0x hex: keccak256 of the escrow's originData
    amount: int = 0         # delivered
    shortfall: int = 0      # below the winning bid, when the fill fell short
    reason: str = ""        # why not, when not ok (or the shortfall, when ok)
    wait: bool = False      # not ok *yet* (evidence missing or chain moving): no FAILED
    fill_tx: str = ""       # the proving fill's transaction (hash, or Solana signature)


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
                         amount=v.amount, shortfall=v.shortfall, reason=v.why, fill_tx=ev.tx_hash)
        refusals.append(f"{ev.tx_hash}: {v.why}")
    if waits:
        return Proof(False, reason="; ".join(waits), wait=True)
    return Proof(False, reason="no fill of the escrow's originData: " + " | ".join(refusals))


def solana_transfers(intent: IntentRow) -> list[SolanaTransfer]:
    """The memo-tagged SPL transfers of the intent's order id on its (Solana) destination
    chain, in chain order as the book reads them: (slot, row id)."""
    return list(SolanaTransfer.select().where(
        (SolanaTransfer.chain == intent.destination_chain) &
        (SolanaTransfer.order_id == intent.id.lower()))
        .order_by(SolanaTransfer.slot, SolanaTransfer.id))


def prove_solana_fill(intent: IntentRow, rows: list[SolanaTransfer], *, dest_chain_id: int,
                      transactions: Callable[[Sequence[str]], list[dict[str, Any] | None]]
                      ) -> Proof:
    """The transfer among ``rows`` that fills ``intent`` (an order to a Solana chain), by
    :func:`~protocol.evidence.first_proving`. ``transactions(signatures)``: the node's
    ``getTransaction`` of each at ``finalized`` (None: not finalized yet), in order.

    Each row is re-read and re-decoded (:func:`chains.solana.transfers_of`, the same
    instruction) rather than trusted: what is judged is what the finalized chain says. A
    row not finalized yet is waited for, never FAILED; so is any proving transfer while an
    earlier row still waits (it might be the first fill). The filler is not here: the
    escrow pays the filler named at open, which the caller reads from the origin."""
    if not rows:
        return Proof(False, reason=f"no memo-tagged transfer indexed for {intent.id} on "
                                   f"{intent.destination_chain} (yet)", wait=True)
    terms = intent_terms(intent, MEMO_PROGRAM, SOLANA)
    order_id = intent.id.lower()
    seens: list[Located] = []
    waiting: list[tuple[tuple[int, int], str]] = []    # ((slot, row id), why)
    refusals: list[str] = []
    unique = list(dict.fromkeys(row.signature for row in rows))
    replies = dict(zip(unique, transactions(unique)))
    for row in rows:
        sig = row.signature
        reply = replies[sig]
        if reply is None:
            waiting.append(((int(row.slot), int(row.id)),
                            f"transfer {sig} (slot {row.slot}) is not finalized yet"))
            continue
        found = [t for t in transfers_of(sig, reply, {row.mint, terms.output_token})
                 if t.ix == row.ix]
        if not found:
            refusals.append(f"{sig}: no SPL transfer at instruction {row.ix} in the finalized "
                            "transaction (failed, or not what was indexed)")
            continue
        t = found[0]
        if t.order_id != order_id:
            refusals.append(f"{sig}: its memo {t.memo[:80]!r} is not the order id")
            continue
        if t.block_time is None:    # fillDeadline cannot be checked: never proof of a fill
            refusals.append(f"{sig}: the node gives no block time for slot {t.slot}, so it "
                            f"cannot be shown before fillDeadline {intent.fill_deadline}")
            continue
        event = SplTransfer(bytes.fromhex(t.order_id[2:]), t.mint, t.destination,
                            t.destination_owner, t.source_owner, t.amount, sig, t.slot,
                            t.block_time)
        seens.append(Located(dest_chain_id, MEMO_PROGRAM, event, block_number=t.slot,
                             tx_hash=sig, log_index=int(row.id), block_timestamp=t.block_time))
    awarded = int(intent.awarded_amount or 0)
    found_fill = first_proving(terms, seens, awarded=awarded)
    if found_fill is not None:
        seen, v = found_fill
        earlier = [why for key, why in waiting if key < (seen.block_number, seen.log_index)]
        if earlier:
            return Proof(False, reason=_some(earlier, "; "), wait=True)
        return Proof(True, fill_key="0x" + terms.fill_key.hex(), amount=v.amount,
                     shortfall=v.shortfall, reason=v.why, fill_tx=seen.tx_hash)
    refusals += [f"{s.tx_hash}: {judge(terms, s, awarded=awarded).why}" for s in seens]
    if waiting:
        return Proof(False, reason=_some([why for _, why in waiting], "; "), wait=True)
    return Proof(False, reason="no memo-tagged transfer fills the order: " +
                 _some(refusals, " | "))


def _some(reasons: list[str], sep: str, keep: int = 10) -> str:
    """The first ``keep`` reasons (anyone can tag transfers with an order id: a reason
    naming each of thousands would be no use to an operator)."""
    more = len(reasons) - keep
    return sep.join(reasons[:keep]) + (f"{sep}and {more} more" if more > 0 else "")
