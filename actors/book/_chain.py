"""What an indexed contract event does to an intent (pure: no store, no actor).

Whether an event is evidence for an intent at all is not decided here: that is
:func:`protocol.evidence.judge`, the one rule the attester and the solvers apply too. This
module turns its verdict into the book's transition (docs/intents.md, "Chain evidence"):

- ``Open`` that proves the signed order: PENDING/ASSIGNED (also CANCELLED or EXPIRED: the
  chain is the truth, the user's tokens are now escrowed) -> OPENED.
- ``Open`` of the intent's id with other terms (a **conflicting open**: the user signed
  another order with the same nonce and it was opened instead): the intent follows the
  order the chain holds - OPENED with the on-chain terms, the award void, the reason
  listing every difference; the book tells the awarded solver at once (it must not fill).
- ``Filled`` of the escrow's exact originData -> FILLED, with the fill's amount and, below
  the winning bid, a **shortfall**. A ``Filled`` of the intent's id with other originData
  is a **foreign fill**: a history entry (status unchanged), never settled.
- ``Settled`` -> SETTLED; ``Refunded`` -> REFUNDED; ``NonceInvalidated`` of the user's
  nonce (either signing form), or Permit2's ``UnorderedNonceInvalidation`` covering the
  nonce of an order signed in the Permit2 form: PENDING/ASSIGNED -> CANCELLED.

An unknown order id's ``Open`` is an order opened on chain directly: it becomes a new
intent with the terms of its own event (:func:`onchain_intent_fields`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocol.accounts import EVM, ChainKind
from protocol.evidence import Finding, Located, SplTransfer, Step, Terms, judge
from protocol.logs import Filled, Settled, UnorderedNonceInvalidation

from ._views import PERMIT2_SOURCE, IntentView, Status

__all__ = ["Decision", "decide", "intent_terms", "onchain_intent_fields", "FINDINGS",
           "CONFLICTING_OPEN", "FOREIGN_FILL", "SHORTFALL", "ESCROW_MISMATCH", "NOT_EXECUTABLE",
           "NO_SESSION", "NO_BIDS"]

_OPENABLE = {Status.PENDING, Status.ASSIGNED, Status.CANCELLED, Status.EXPIRED}

# What a history entry records beyond its status (IntentTransition.finding).
CONFLICTING_OPEN = "conflicting_open"
FOREIGN_FILL = "foreign_fill"
SHORTFALL = "shortfall"
ESCROW_MISMATCH = "escrow_mismatch"
# Not from the evidence rule: the check before an auction round found that the origin chain
# would refuse openFor now (balance, allowance, nonce); the round is not held.
NOT_EXECUTABLE = "not_executable"
# Not from the evidence rule either: why an intent nobody won expired (the EXPIRED entry),
# from what the book saw while it led (BookState.offered_to / covered_by): no connected
# session covered its route, or it was offered and no one bid.
NO_SESSION = "no_session"
NO_BIDS = "no_bids"
FINDINGS = (CONFLICTING_OPEN, FOREIGN_FILL, SHORTFALL, ESCROW_MISMATCH, NOT_EXECUTABLE,
            NO_SESSION, NO_BIDS)


@dataclass(frozen=True)
class Decision:
    status: Status | None = None          # None: nothing to record
    reason: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    ignored: str = ""                     # why the event changes nothing (logged)
    finding: str = ""                     # one of FINDINGS, or ""
    solver: str = ""                      # the solver the entry concerns


def intent_terms(intent: Any, destination_settler: str,
                 destination_kind: ChainKind = EVM) -> Terms:
    """The :class:`~protocol.evidence.Terms` of a book intent (an ``IntentView`` or an
    ``IntentRow``: same field names), filled at ``destination_settler`` on a chain of
    ``destination_kind`` (Solana: the Memo program; output token and recipient in base58).
    ``permit2``: its source is ``permit2`` (signed in the Permit2 form)."""
    return Terms(bytes.fromhex(intent.id[2:]), intent.user, intent.nonce,
                 intent.origin_chain_id, intent.origin_settler, intent.destination_chain_id,
                 destination_settler, intent.input_token, int(intent.input_amount),
                 intent.output_token, int(intent.min_output), intent.recipient,
                 int(intent.open_deadline), int(intent.fill_deadline), destination_kind,
                 intent.source == PERMIT2_SOURCE)


def onchain_intent_fields(seen: Located, origin_chain: str, destination_chain: str) -> dict[str, Any]:
    """Row fields of an intent first seen as an ``Open`` event (orders opened on chain), or
    of the order a conflicting open put on chain. ``ValueError`` if it is not Orbital's."""
    t = Terms.from_open(seen)
    return {"user": t.user, "origin_chain": origin_chain, "origin_chain_id": t.origin_chain_id,
            "destination_chain": destination_chain,
            "destination_chain_id": t.destination_chain_id, "origin_settler": t.origin_settler,
            "input_token": t.input_token, "input_amount": t.input_amount,
            "output_token": t.output_token, "min_output": t.min_output,
            "recipient": t.recipient, "open_deadline": t.open_deadline,
            "fill_deadline": t.fill_deadline}


def decide(view: IntentView, terms: Terms, seen: Located, tx_hash: str, chain: str,
           destination_chain: str | None = None) -> Decision:
    """The history entry ``seen`` (an event indexed on ``chain``, in ``tx_hash``) makes for
    ``view``. ``destination_chain``: the config name of an Open's destination chain (for a
    conflicting open's terms; None when it is not configured)."""
    verdict = judge(terms, seen, awarded=view.awarded_amount)
    status = view.status
    if verdict.finding is Finding.UNRELATED:
        return Decision(ignored=verdict.why)
    step = verdict.step
    if step is Step.OPEN:
        if status not in _OPENABLE:
            return Decision(ignored=f"Open seen while {status.value}")
        if verdict.proves:
            return Decision(Status.OPENED, "opened on the origin chain")
        if destination_chain is None:
            return Decision(Status.FAILED, "opened on chain with other terms than the signed "
                            f"order ({verdict.why}), to a destination this node does not "
                            "serve", finding=CONFLICTING_OPEN, solver=view.solver)
        fields = onchain_intent_fields(seen, view.origin_chain, destination_chain)
        fields |= {"solver": "", "awarded_amount": 0, "exclusivity_deadline": 0.0}
        void = f"; the award to {view.solver} is void" if view.solver else ""
        return Decision(Status.OPENED, "opened on chain with other terms than the signed order "
                        f"(same user and nonce): {verdict.why}; the intent now follows the "
                        f"order opened on chain{void}", fields, finding=CONFLICTING_OPEN,
                        solver=view.solver)
    if step is Step.FILL:
        ev = seen.event
        assert isinstance(ev, (Filled, SplTransfer)), "a Fill step is a Filled or an SplTransfer"
        # An SPL transfer names no EVM repayment address (the escrow pays the filler named
        # at open): no filler, and no solver is blamed for a foreign one.
        filler = ev.filler if isinstance(ev, Filled) else ""
        by = ev.filler if isinstance(ev, Filled) else f"{ev.source_owner} (Solana)"
        if not verdict.proves:
            if status not in (Status.OPENED, Status.FILLED):   # before the Open: judged then
                return Decision(ignored=f"foreign fill seen while {status.value}")
            return Decision(status, f"foreign fill by {by} in {tx_hash} on {chain}: "
                            f"{verdict.why}; not this intent's fill, never settled",
                            finding=FOREIGN_FILL, solver=filler)
        if status is not Status.OPENED:
            # one fill per order: a later proving transfer (Solana has no settler to refuse
            # it) is a gift, not a second fill
            return Decision(ignored=f"a fill seen while {status.value}")
        fields = {"filler": filler, "fill_tx": tx_hash, "fill_chain": chain,
                  "fill_block": seen.block_number, "fill_amount": ev.amount,
                  "shortfall": verdict.shortfall}
        if verdict.shortfall:
            return Decision(Status.FILLED, f"filled with {ev.amount}: {verdict.why} "
                            "(shortfall)", fields, finding=SHORTFALL, solver=view.solver)
        return Decision(Status.FILLED, f"filled with {ev.amount}", fields)
    if step is Step.SETTLE:
        if not verdict.proves:
            return Decision(ignored=f"Settled does not match the escrow: {verdict.why}")
        if status in (Status.FILLED, Status.OPENED):
            assert isinstance(seen.event, Settled), "a Settle step is a Settled event"
            return Decision(Status.SETTLED, f"escrow released to the filler {seen.event.filler}")
        return Decision(ignored=f"Settled seen while {status.value}")
    if step is Step.REFUND:
        if not verdict.proves:
            return Decision(ignored=f"Refunded does not match the escrow: {verdict.why}")
        if status in (Status.OPENED, Status.FILLED):
            return Decision(Status.REFUNDED, "fillDeadline passed; escrow returned to the user")
        return Decision(ignored=f"Refunded seen while {status.value}")
    if step is Step.NONCE_INVALIDATED:
        ev = seen.event
        name = type(ev).__name__
        if status in (Status.PENDING, Status.ASSIGNED):
            if isinstance(ev, UnorderedNonceInvalidation):
                return Decision(Status.CANCELLED, "nonce invalidated on chain by the user on "
                                f"Permit2 (word {ev.word}, mask {ev.mask:#x})")
            return Decision(Status.CANCELLED, "nonce invalidated on chain by the user")
        return Decision(ignored=f"{name} seen while {status.value}")
    return Decision(ignored=verdict.why or "not an intent event")
