"""Bidding from inventory: how much the solver offers for an intent, or whether it passes.

Policy (why it is this simple): the reference solver holds the output token on the
destination chain and pays from it, so it bids the user's minimum plus ``improvement_bps``,
never more than it can actually deliver. What it can deliver is min(balance, allowance to the
destination settler) minus what it has already promised in open bids and unfinished awards,
so several concurrent auctions cannot over-commit the same tokens. On a Solana destination
what it can deliver is the SPL balance of its own associated token account for the mint
(exactly that mint: base58 is not case-folded), and nothing while its SOL is below the
chain's ``min_sol`` (no fee, no rent for a recipient's token account).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eth_utils import is_address, to_checksum_address

from protocol.accounts import is_solana_address

from ._chain import EvmChain
from ._config import SolverConfig
from ._solana import SolanaChain

__all__ = ["BidDecision", "Inventory"]

BID_HOLD_SECONDS = 60.0   # a bid with no award/loss heard after this is released


@dataclass(frozen=True)
class BidDecision:
    """``amount`` to bid, or None with the ``reason`` it passes."""

    amount: int | None
    reason: str = ""


@dataclass
class _Hold:
    chain_id: int
    token: str
    amount: int
    expires: float | None   # None: awarded, held until the execution ends


class Inventory:
    def __init__(self, config: SolverConfig, chains: Mapping[int, EvmChain],
                 clock: Callable[[], float] = time.monotonic,
                 solana: Mapping[int, SolanaChain] | None = None) -> None:
        self.config = config
        self.chains = dict(chains)
        self.solana = dict(solana or {})
        self.clock = clock
        self._lock = threading.Lock()
        self._holds: dict[str, _Hold] = {}

    def decide(self, intent_id: str, origin_chain_id: int, destination_chain_id: int,
               output_token: str, min_output: int) -> BidDecision:
        """The bid for an offered intent; a positive decision reserves its amount."""
        origin = self.chains.get(origin_chain_id)
        dest: EvmChain | SolanaChain | None = (self.chains.get(destination_chain_id)
                                               or self.solana.get(destination_chain_id))
        if origin is None or dest is None:
            return BidDecision(None, "chain not served")
        valid = (is_address(output_token) if isinstance(dest, EvmChain)
                 else is_solana_address(output_token))
        if not valid or not self.config.serves_token(dest.spec, output_token):
            return BidDecision(None, "output token not served")
        if min_output <= 0:
            return BidDecision(None, "no minimum output")
        token = _token(output_token)
        target = min_output + min_output * self.config.improvement_bps // 10_000
        spendable = dest.spendable(token)     # outside the lock: an RPC round trip
        with self._lock:
            self._expire()
            if intent_id in self._holds:
                return BidDecision(None, "already bid")
            available = spendable - self._held(destination_chain_id, token)
            if available < min_output:
                return BidDecision(None, f"inventory: {max(available, 0)} available, minimum {min_output}")
            amount = min(target, available)
            self._holds[intent_id] = _Hold(destination_chain_id, token, amount, self.clock() + BID_HOLD_SECONDS)
            return BidDecision(amount)

    def awarded(self, intent_id: str, chain_id: int, token: str, amount: int) -> None:
        """Hold ``amount`` until :meth:`release` (the fill moves it out of the balance)."""
        with self._lock:
            self._holds[intent_id] = _Hold(chain_id, _token(token), amount, None)

    def release(self, intent_id: str) -> None:
        with self._lock:
            self._holds.pop(intent_id, None)

    def held(self, chain_id: int, token: str) -> int:
        with self._lock:
            self._expire()
            return self._held(chain_id, _token(token))

    def _held(self, chain_id: int, token: str) -> int:
        return sum(h.amount for h in self._holds.values() if h.chain_id == chain_id and h.token == token)

    def _expire(self) -> None:
        now = self.clock()
        for key in [k for k, h in self._holds.items() if h.expires is not None and h.expires <= now]:
            del self._holds[key]


def _token(token: str) -> str:
    """A hold's token key: an EVM address checksummed, a Solana mint as it is (base58)."""
    return to_checksum_address(token) if is_address(token) else token
