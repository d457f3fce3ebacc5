"""What a funding account actor is told and answers (``funding/<name>``)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Poll", "Status", "TopUpView", "FundingStatus", "ALERT_CAP", "ALERT_SOURCE",
           "ALERT_FAILED"]

ALERT_CAP = "funding_daily_cap_reached"
ALERT_SOURCE = "funding_source_low"
ALERT_FAILED = "funding_topup_failed"


@dataclass(frozen=True)
class Poll:
    """Ask: run one round now (reconcile, read balances, maybe top up); answers the
    :class:`FundingStatus` after it. Tests drive the actor with it on a FakeClock."""


@dataclass(frozen=True)
class Status:
    """Ask: the status as last seen (no RPC); ListFundingAccounts uses it."""


@dataclass(frozen=True)
class TopUpView:
    id: int
    amount: int
    tx_hash: str
    status: str
    created_at: float
    confirmed_at: float | None
    reason: str


@dataclass(frozen=True)
class FundingStatus:
    name: str
    chain: str
    address: str
    asset: str
    balance: int | None
    min_balance: int
    target_balance: int
    remaining_cap: int
    state: str          # ok | topping_up | cooldown | capped | source_low | error | starting
    last_error: str
    top_ups: tuple[TopUpView, ...]     # newest first
    source: str
    source_balance: int | None
