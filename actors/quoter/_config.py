"""The ``quoter`` config section: fees, windows, cache, checks, gas units, Solana fill fees,
price sources, pools.

Validated once at load (``runtime.config``): shapes and bounds here, and in
:meth:`QuoterConfig.check_config` what needs the ``chains`` section too (every chain a
feed or pool names exists, every priced symbol is a token of some chain, every pool a
price refers to is declared). So a typo is refused with file and line before anything
starts, never found by the actor at quote time.
"""

from __future__ import annotations

from chains.evm.config import chains_of
from chains.solana import SolanaFeeConfig, solana_chains_of

from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from runtime.config import opt

__all__ = ["FeedConfig", "GasConfig", "PoolConfig", "QuoterConfig", "QuoterSpec",
           "TokenPrices", "check_decimal"]

_ADDR = r"0x[0-9a-fA-F]{40}"
_NAME = r"[A-Za-z0-9][A-Za-z0-9_.:/@\-]{0,99}"


def check_decimal(text: str) -> None:
    """A USD price written as a decimal string (e.g. '3000', '0.9998'); strings, not floats,
    so that what is configured is exactly what is quoted."""
    if text == "":
        return
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"expected a decimal number such as '3000.5', got {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"expected a positive decimal number, got {text!r}")


@dataclass(frozen=True)
class FeedConfig:
    """A Chainlink AggregatorV3-compatible feed (``latestRoundData``, ``decimals``)."""

    chain: str = opt(doc="a chain of the chains section")
    address: str = opt(pattern=_ADDR)
    name: str = opt("", doc="shown in GetPrice; default feed@<chain>:<address>")

    def label(self) -> str:
        return self.name or f"feed@{self.chain}:{self.address}"


@dataclass(frozen=True)
class PoolConfig:
    """A constant-product pool (``token0``, ``token1``, ``getReserves``, ``FEE_BPS``)."""

    chain: str = opt(doc="a chain of the chains section")
    address: str = opt(pattern=_ADDR)
    route: bool = opt(True, doc="false: a price source only, never used for routes")


@dataclass(frozen=True)
class TokenPrices:
    """The USD price sources of one token symbol (the same symbol on every chain)."""

    static: str = opt("", validate=check_decimal, doc="a source that votes like the others")
    fallback: str = opt("", validate=check_decimal,
                        doc="used only when no other source is usable (reported as such)")
    feeds: tuple[FeedConfig, ...] = opt(factory=tuple)
    pools: tuple[str, ...] = opt(factory=tuple,
                                 doc="names of quoter.pools: spot price against the pool's "
                                     "other token, priced by that token's non-pool sources")


@dataclass(frozen=True)
class GasConfig:
    open: int = opt(150_000, min=1, max=30_000_000, doc="gas of openFor on the origin chain")
    fill: int = opt(120_000, min=1, max=30_000_000, doc="gas of fill on the destination chain")
    settle: int = opt(100_000, min=1, max=30_000_000, doc="gas of settle on the origin chain")
    blocks: int = opt(10, min=1, max=1024, doc="eth_feeHistory block count")
    percentile: float = opt(50.0, min=0, max=100, doc="priority fee reward percentile")
    base_fee_multiplier: float = opt(2.0, min=1.0, max=10.0,
                                     doc="max_fee = base_fee * this + priority_fee")
    min_priority_fee_wei: int = opt(0, min=0)


@dataclass(frozen=True)
class QuoterConfig:
    enabled: bool = opt(True)
    protocol_fee_bps: int = opt(5, min=0, max=1000, doc="of the input amount")
    default_slippage_bps: int = opt(50, min=0, max=5000)
    max_slippage_bps: int = opt(5000, min=0, max=9999, doc="largest slippage_bps accepted")
    quote_ttl: float = opt(30.0, min=1, max=3600, doc="seconds; Quote.expires_at")
    open_window: int = opt(600, min=10, max=7 * 86400, doc="openDeadline = now + this")
    fill_window: int = opt(3600, min=10, max=30 * 86400, doc="fillDeadline = now + this")
    cache_ttl: float = opt(2.0, min=0, max=600, doc="seconds prices, gas, reserves are reused")
    max_staleness: float = opt(3600.0, min=1, max=30 * 86400, doc="seconds; older feeds drop")
    max_deviation_bps: int = opt(200, min=1, max=10_000,
                                 doc="a source further than this from the median of the "
                                     "others is an outlier and is dropped")
    max_hops: int = opt(3, min=1, max=4, doc="pools in one route at most")
    native_token: str = opt("WETH", doc="symbol whose price prices gas (ETH = WETH)")
    solana_native_token: str = opt("SOL", pattern=r"[A-Za-z0-9.\-_]{1,32}",
                                   doc="symbol whose price prices lamports on Solana chains "
                                       "(priced under prices: like any token)")
    solana_fees: SolanaFeeConfig = opt(factory=SolanaFeeConfig,
                                       doc="how a fill on a Solana chain is priced")
    rpc_timeout: float = opt(3.0, min=0.05, max=60)
    gas: GasConfig = opt(factory=GasConfig)
    prices: dict[str, TokenPrices] = opt(factory=dict, pattern=r"[A-Za-z0-9.\-_]{1,32}")
    pools: dict[str, PoolConfig] = opt(factory=dict, pattern=_NAME)

    def check(self) -> None:
        if self.fill_window < self.open_window:
            raise ValueError("fill_window must be >= open_window (fillDeadline >= openDeadline)")
        if self.default_slippage_bps > self.max_slippage_bps:
            raise ValueError("default_slippage_bps must be <= max_slippage_bps")
        for symbol, prices in self.prices.items():
            for pool in prices.pools:
                if pool not in self.pools:
                    raise ValueError(f"prices.{symbol}.pools: unknown pool {pool!r}; "
                                     f"declared: {', '.join(sorted(self.pools)) or 'none'}")

    def check_config(self, config: Any) -> None:
        """Cross-section: chains and token symbols named here exist in ``chains`` (a
        Solana chain's tokens count, and with a Solana chain its native coin, SOL)."""
        chains = chains_of(config)
        solana = solana_chains_of(config)
        symbols = {s.upper() for c in chains.values() for s in c.tokens}
        symbols |= {s.upper() for sc in solana.values() for s in sc.tokens}
        if solana:
            symbols.add(self.solana_native_token.upper())

        def need_chain(where: str, chain: str) -> None:
            if chain not in chains:
                raise ValueError(f"{where}: unknown chain {chain!r}; "
                                 f"configured: {', '.join(sorted(chains)) or 'none'}")
        for name, pool in self.pools.items():
            need_chain(f"pools.{name}.chain", pool.chain)
        for symbol, prices in self.prices.items():
            if symbol.upper() not in symbols:
                raise ValueError(f"prices.{symbol}: no chain has a token {symbol!r}")
            for i, feed in enumerate(prices.feeds):
                need_chain(f"prices.{symbol}.feeds[{i}].chain", feed.chain)

    def token_prices(self, symbol: str) -> TokenPrices | None:
        for name, prices in self.prices.items():
            if name.upper() == symbol.upper():
                return prices
        return None


@dataclass(frozen=True)
class QuoterSpec:
    """What the actor is started with: its section and the chains it reads.

    Both are part of the ChildSpec's config, so a reload that changes either restarts
    the quoter (and only it)."""

    quoter: QuoterConfig
    chains: dict[str, Any]
    solana_chains: dict[str, Any] = field(default_factory=dict)
