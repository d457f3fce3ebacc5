"""Routes: which pools turn the input token into the output token, and how much comes out.

The rule (docs/quoter.md):

- same symbol on both sides (USDC on devnet-a -> USDC on devnet-b): a *direct transfer*;
  the output is the input after fees, no pool;
- otherwise every simple path of at most ``max_hops`` route pools (on the origin or the
  destination chain; tokens are matched by symbol, as a solver holds inventory on both)
  from the input symbol to the output symbol is evaluated with constant-product math at
  current reserves, each pool with its own fee, and the path with the largest output wins
  (on a tie, fewer hops). So a multi-hop path is chosen when it gives more than the direct
  pool, or when there is no direct pool;
- no path at all: the output is the USD price ratio of the two tokens (``price`` route).

Everything here is pure (reserves come in as :class:`Edge` values), so route choice is
unit-tested without a chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from ._sources import D

__all__ = ["Edge", "Route", "amount_out", "best_route", "price_ratio_out"]

BPS = 10_000


def amount_out(amount_in: int, reserve_in: int, reserve_out: int, fee_bps: int) -> int:
    """Uniswap v2 / ConstantProductPool.getAmountOut, in integers exactly as the contract."""
    if amount_in <= 0 or reserve_in <= 0 or reserve_out <= 0:
        return 0
    in_with_fee = amount_in * (BPS - fee_bps)
    return (in_with_fee * reserve_out) // (reserve_in * BPS + in_with_fee)


@dataclass(frozen=True)
class Edge:
    """One direction of one pool: ``symbol_in`` -> ``symbol_out`` with its reserves.

    Amounts on both sides are in base units; decimals of one symbol are the same on every
    chain the route may use (checked by the caller, which converts otherwise)."""

    pool: str
    symbol_in: str
    symbol_out: str
    reserve_in: int
    reserve_out: int
    fee_bps: int


@dataclass(frozen=True)
class Route:
    kind: str                      # "transfer" | "pools" | "price"
    symbols: tuple[str, ...]
    pools: tuple[str, ...]
    amount_out: int

    def describe(self, origin: str = "", destination: str = "") -> str:
        path = "->".join(self.symbols)
        if self.kind == "transfer":
            return f"{self.symbols[0]}({origin})->{self.symbols[-1]}({destination}) direct transfer"
        if self.kind == "price":
            return f"{path} at USD price ratio (no pool route)"
        return f"{path} via {', '.join(self.pools)}"


def _paths(edges: list[Edge], start: str, goal: str, max_hops: int):
    """Every simple path (no symbol or pool twice) from ``start`` to ``goal``."""
    out: list[list[Edge]] = []

    def walk(symbol: str, path: list[Edge], seen: set[str]) -> None:
        if symbol == goal and path:
            out.append(list(path))
            return
        if len(path) >= max_hops:
            return
        for e in edges:
            if e.symbol_in == symbol and e.symbol_out not in seen \
                    and all(p.pool != e.pool for p in path):
                path.append(e)
                seen.add(e.symbol_out)
                walk(e.symbol_out, path, seen)
                path.pop()
                seen.discard(e.symbol_out)
    walk(start, [], {start})
    return out


def best_route(edges: list[Edge], symbol_in: str, symbol_out: str, amount_in: int,
               max_hops: int) -> Route | None:
    """The pool path giving the most output (ties: fewer hops, then config order), or None."""
    if symbol_in == symbol_out:
        return Route("transfer", (symbol_in, symbol_out), (), amount_in)
    best: Route | None = None
    for path in _paths(edges, symbol_in, symbol_out, max_hops):
        amount = amount_in
        for e in path:
            amount = amount_out(amount, e.reserve_in, e.reserve_out, e.fee_bps)
        route = Route("pools", (symbol_in, *(e.symbol_out for e in path)),
                      tuple(e.pool for e in path), amount)
        if best is None or (route.amount_out, -len(route.pools)) > (best.amount_out,
                                                                   -len(best.pools)):
            best = route
    return best


def price_ratio_out(amount_in: int, decimals_in: int, price_in: Decimal,
                    decimals_out: int, price_out: Decimal) -> int:
    """Output at the USD price ratio, rounded down."""
    usd = D.multiply(Decimal(amount_in).scaleb(-decimals_in, context=D), price_in)
    return int(D.divide(usd, price_out).scaleb(decimals_out, context=D).to_integral_value(rounding="ROUND_FLOOR"))
