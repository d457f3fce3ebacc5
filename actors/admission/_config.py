"""The ``admission:`` config section: whether orders are checked on chain, and what to do
when the origin chain cannot be read.

Defaults: on (an order the chain would refuse is never acknowledged), and a chain that
cannot be read refuses the submission with UNAVAILABLE (retryable), so nothing is accepted
that was not checked; ``on_unreachable: accept`` takes it and checks before each auction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from runtime.config import opt

__all__ = ["AdmissionConfig"]


@dataclass(frozen=True)
class AdmissionConfig:
    enabled: bool = opt(True, doc="check balance, allowance and nonce on the origin chain before "
                                  "acknowledging an order and before each auction round")
    on_unreachable: Literal["refuse", "accept"] = opt(
        "refuse", doc="origin chain unreachable at submission: refuse with UNAVAILABLE "
                      "(retryable), or accept and check before the auction")
    head_ttl: float = opt(0.5, min=0.0, max=60,
                          doc="seconds the chain head is reused before asking again; reads are "
                              "cached per block, so this bounds how stale a verdict can be")
    rpc_timeout: float = opt(3.0, min=0.05, max=60,
                             doc="seconds per chain read (capped by the chain's rpc_timeout)")
