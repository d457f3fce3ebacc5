"""``quoter``: USD prices, gas per chain, routes and the quote a user signs.

- Prices per token symbol from on-chain Chainlink-compatible feeds, constant-product pools
  (spot against the pool's other token) and static config, aggregated by median with
  staleness and deviation checks (:mod:`._sources`);
- gas per chain from ``eth_feeHistory`` percentiles (:mod:`._gas`);
- the cost of a fill on a Solana chain (lamports: base fee, priority fee from
  ``getRecentPrioritizationFees``, rent of a missing token account; ``chains.solana.fees``)
  in the token filled, for quotes to Solana destinations (EstimateSolanaFill);
- routes over configured pools, direct or multi-hop, best output wins (:mod:`._routes`);
- GetQuote: validation (:mod:`._quote`), fee (protocol fee + gas of open, fill, settle in
  the input token), output, and the EIP-712 order to sign.

Layout: ``_config`` the section, ``_messages`` the actor's messages (the contract with
``_service``, the servicer), ``_actor`` the :class:`Quoter`. ``install`` is the kind's
entry point (``node.build_app``). See docs/quoter.md.
"""

from __future__ import annotations

from chains.evm.config import chains_of
from chains.solana import solana_chains_of

from runtime import ChildSpec
from runtime.config import App

from ._actor import Quoter
from ._config import FeedConfig, GasConfig, PoolConfig, QuoterConfig, QuoterSpec, TokenPrices
from ._gas import GasEstimate, estimate_from_history, lamports_to_token, wei_to_token
from ._messages import (EstimateGas, EstimateSolanaFill, GetPrice, GetQuote, QuoteResult,
                        ReferenceOutput, ReferenceOutputs, SolanaFillEstimate)
from ._service import QuoterServicer, quoter_service
from ._routes import Edge, Route, amount_out, best_route, price_ratio_out
from ._sources import Aggregate, Reading, SourceReport, aggregate, fmt_decimal

__all__ = ["install", "QUOTER_PATH", "Quoter", "QuoterConfig", "QuoterSpec", "FeedConfig",
           "GasConfig", "PoolConfig", "TokenPrices", "GetQuote", "GetPrice", "EstimateGas",
           "ReferenceOutput", "ReferenceOutputs", "QuoterServicer", "quoter_service",
           "QuoteResult", "GasEstimate", "Aggregate", "Reading", "SourceReport", "Edge",
           "Route", "aggregate", "amount_out", "best_route", "price_ratio_out",
           "estimate_from_history", "wei_to_token", "fmt_decimal", "EstimateSolanaFill",
           "SolanaFillEstimate", "lamports_to_token"]

from actors import QUOTER_PATH  # noqa: E402 - re-exported


def install(app: App) -> None:
    app.section("quoter", QuoterConfig)

    @app.provide("root")
    def quoter(config) -> list[ChildSpec]:
        section = config.section("quoter", QuoterConfig)
        if not section.enabled:
            return []
        chains = chains_of(config)
        return [ChildSpec(QUOTER_PATH, Quoter,
                          QuoterSpec(section, chains, solana_chains_of(config)))]

    app.service(quoter_service)
