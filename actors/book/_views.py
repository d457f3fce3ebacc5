"""Immutable snapshots of intents as the book hands them out (to services and sessions).

The book's state lives in its own thread and in the store; what crosses to other threads
(gRPC handlers, solver sessions, watch streams) is one of these frozen values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from chains.evm.models import ChainEvent

__all__ = ["Status", "TERMINAL", "PERMIT2_SOURCE", "TransitionView", "IntentView", "IntentUpdateView",
           "Change"]

PERMIT2_SOURCE = "permit2"
"""``IntentView.source`` of a gasless order signed in the Permit2 form (docs/erc7683.md 3b):
admission reads the allowance to Permit2 and its nonce bitmap for it."""


class Status(str, enum.Enum):
    PENDING = "PENDING"
    ASSIGNED = "ASSIGNED"
    OPENED = "OPENED"
    FILLED = "FILLED"
    SETTLED = "SETTLED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    REFUNDED = "REFUNDED"
    FAILED = "FAILED"


TERMINAL = frozenset({Status.SETTLED, Status.CANCELLED, Status.EXPIRED, Status.REFUNDED,
                      Status.FAILED})


@dataclass(frozen=True, slots=True)
class TransitionView:
    version: int
    from_status: Status | None       # None for the first (acceptance) transition
    status: Status
    at: float                        # unix seconds
    reason: str = ""
    solver: str = ""
    chain: str = ""                  # evidence, when seen on chain
    block_number: int = 0
    block_hash: str = ""
    tx_hash: str = ""
    log_index: int = 0
    finding: str = ""                # actors.book._chain.FINDINGS: what else the entry records


@dataclass(frozen=True, slots=True)
class IntentView:
    id: str                          # 0x + 64 hex, lowercase
    status: Status
    version: int
    user: str
    nonce: int | None                # None for orders opened on chain (the event omits it)
    origin_chain: str
    origin_chain_id: int
    destination_chain: str
    destination_chain_id: int
    origin_settler: str
    input_token: str
    input_amount: int
    output_token: str
    min_output: int
    recipient: str
    open_deadline: int
    fill_deadline: int
    source: str                      # "gasless" | "permit2" (gasless, Permit2 form) | "onchain"
    created_at: float
    updated_at: float
    solver: str = ""
    awarded_amount: int = 0
    exclusivity_deadline: float = 0.0  # unix seconds, 0 = none
    fill_amount: int = 0             # delivered by the fill that proves FILLED
    shortfall: int = 0               # awarded_amount - fill_amount when the fill fell short
    history: tuple[TransitionView, ...] = ()
    # A contract wallet's order (ERC-1271): the digest the wallet approved at submission and
    # the signature it approved, both 0x hex; "" for an order signed by its user's key.
    # Admission asks the wallet again before each round.
    wallet_digest: str = ""
    wallet_signature: str = ""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


@dataclass(frozen=True, slots=True)
class IntentUpdateView:
    intent: IntentView
    transition: TransitionView | None
    snapshot: bool = False


@dataclass(frozen=True, slots=True)
class Change:
    """One transition the book is about to commit (:meth:`Book._commit`), not yet a view.

    A change to the intent's own status is a history entry that records a ``finding``
    (a foreign fill, an escrow mismatch) and moves nothing.
    """

    view: IntentView                 # the intent as it is before the change
    status: Status                   # where it goes
    reason: str
    fields: dict[str, Any] = field(default_factory=dict)  # intent row fields to set
    solver: str = ""                 # the solver the entry is about
    event: ChainEvent | None = None  # the chain evidence, if any
    finding: str = ""
