"""Messages of ``intents/attester``: what it tells the book, and what it answers.

:class:`SettlementFailed` is THE contract with ``intents/book``: the attester gave up on
settling an intent (bad fill evidence, or ``max_retries`` reverted settlements); the book
persists the FILLED -> FAILED transition with ``reason``. It may arrive more than once for
one intent (re-told after a restart until the book's row leaves FILLED): the book ignores
it when the intent is no longer FILLED. SETTLED is never told: it comes from the chain
watcher seeing the ``Settled`` event.
"""

from __future__ import annotations

from dataclasses import dataclass

# ONE class shared with the book (which dispatches on the type): defined next to the book's
# handler, re-exported here as the attester's outgoing message. Fields: intent_id, reason.
from actors.book import SettlementFailed

__all__ = ["SettlementFailed", "Poll", "RefundDue", "AttesterStatus", "DecideShortfall"]


@dataclass(frozen=True)
class Poll:
    """Ask: run one settlement round now; the reply is a summary dict per origin chain."""


@dataclass(frozen=True)
class RefundDue:
    """Ask (keeper task ``refund_expired``): send ``refund`` for OPENED intents whose
    fillDeadline has passed on their origin chain; the reply is how many were sent."""


@dataclass(frozen=True)
class AttesterStatus:
    """Ask: the attester's live view (address, chains, transactions in flight)."""




@dataclass(frozen=True)
class DecideShortfall:
    """Ask (AdminService/DecideShortfall): an operator's decision on a settlement held for a
    shortfall. ``repay``: settle it to the filler at the next round; else withhold it (never
    settled; the keeper's refund returns the escrow to the user after fillDeadline). The
    reply is the order's ``AttesterOrder`` row after the decision."""

    intent_id: str
    repay: bool
    note: str = ""
