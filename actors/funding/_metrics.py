"""Funding balances against their thresholds on the node's /metrics.

Three gauges per configured account (the label set is the funding section's account names,
bounded by the config): the balance the last round read, and the account's min_balance and
target_balance. All in whole units of the asset (base units / 10**decimals): a gauge is a
float, and one scale for the three lets a dashboard draw them on one axis and an alert
compare them (``balance < min_balance``). Set by the node that holds the account's lease,
at each round that read the balance; exact amounts are in ``orbital funding``.
"""

from __future__ import annotations

from typing import Any

from ._config import AccountSpec

__all__ = ["FundingMetrics"]

_LABELS = ("account", "chain", "asset")


class FundingMetrics:
    def __init__(self, metrics: Any) -> None:
        self.balance = metrics.gauge(
            "orbital_funding_balance_tokens",
            "Balance of a funded account as its last round read it, in whole units of the "
            "asset", _LABELS)
        self.min_balance = metrics.gauge(
            "orbital_funding_min_balance_tokens",
            "The account's min_balance (a top-up starts below it), in whole units of the asset",
            _LABELS)
        self.target = metrics.gauge(
            "orbital_funding_target_balance_tokens",
            "The account's target_balance (a top-up aims at it), in whole units of the asset",
            _LABELS)

    def read(self, spec: AccountSpec, balance: int) -> None:
        labels = (spec.name, spec.chain_name, spec.asset)
        scale = 10 ** spec.decimals
        self.balance.labels(*labels).set(balance / scale)
        self.min_balance.labels(*labels).set(spec.min_balance / scale)
        self.target.labels(*labels).set(spec.target_balance / scale)
