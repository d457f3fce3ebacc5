"""Gas per chain from ``eth_feeHistory``, and the gas part of a quote's fee (wei, or
lamports on a Solana chain, converted to a token).

Why feeHistory rather than ``eth_gasPrice``: it gives the base fee of the *next* block
(the last ``baseFeePerGas`` entry) and the priority fees recent blocks actually paid at a
chosen percentile, which is what an EIP-1559 sender (the solver opening, filling, settling)
will pay. ``max_fee = base_fee * base_fee_multiplier + priority_fee`` is what a sender
offers to stay included while the base fee rises; quotes charge gas at ``max_fee`` so the
fee covers the solver in the worst case it signs up for.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from statistics import median

from ._config import GasConfig
from ._sources import D

__all__ = ["GasEstimate", "estimate_from_history", "fee_history_params", "lamports_to_token",
           "wei_to_token"]


@dataclass(frozen=True)
class GasEstimate:
    chain: str
    base_fee_wei: int
    priority_fee_wei: int
    max_fee_wei: int
    open_gas: int
    fill_gas: int
    settle_gas: int

    @property
    def cost_wei(self) -> int:
        """open + fill + settle, all at this chain's max fee (EstimateGas.cost_wei)."""
        return (self.open_gas + self.fill_gas + self.settle_gas) * self.max_fee_wei


def fee_history_params(cfg: GasConfig) -> list:
    return [hex(cfg.blocks), "latest", [cfg.percentile]]


def _int(v) -> int:
    return int(v, 16) if isinstance(v, str) else int(v)


def estimate_from_history(chain: str, history: dict, cfg: GasConfig) -> GasEstimate:
    """``history`` is the JSON result of eth_feeHistory(blocks, latest, [percentile])."""
    base_fees = history.get("baseFeePerGas") or []
    if not base_fees:
        raise ValueError("eth_feeHistory returned no baseFeePerGas (not an EIP-1559 chain?)")
    base = _int(base_fees[-1])               # the next block's base fee
    rewards = [_int(r[0]) for r in (history.get("reward") or []) if r]
    priority = max(int(median(rewards)) if rewards else 0, cfg.min_priority_fee_wei)
    max_fee = int(D.multiply(Decimal(base), Decimal(str(cfg.base_fee_multiplier)))) + priority
    return GasEstimate(chain, base, priority, max_fee, cfg.open, cfg.fill, cfg.settle)


def _native_to_token(amount: int, native_decimals: int, native_usd: Decimal,
                     token_usd: Decimal, token_decimals: int) -> int:
    usd = D.multiply(Decimal(amount).scaleb(-native_decimals, context=D), native_usd)
    units = D.divide(usd, token_usd).scaleb(token_decimals, context=D)
    return int(units.to_integral_value(rounding="ROUND_CEILING"))


def wei_to_token(wei: int, native_usd: Decimal, token_usd: Decimal, token_decimals: int) -> int:
    """``wei`` of the native coin as base units of a token, rounded up (the fee covers it)."""
    return _native_to_token(wei, 18, native_usd, token_usd, token_decimals)


def lamports_to_token(lamports: int, sol_usd: Decimal, token_usd: Decimal,
                      token_decimals: int) -> int:
    """``lamports`` (1e-9 SOL) as base units of a token, rounded up (the fee covers it)."""
    return _native_to_token(lamports, 9, sol_usd, token_usd, token_decimals)
