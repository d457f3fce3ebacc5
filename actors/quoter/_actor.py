"""The ``quoter`` actor: prices, gas, routes and quotes, with a short-TTL cache.

It holds one JSON-RPC client per chain it reads (created on first use, so a node whose
chains are down still starts), the pools' immutable metadata, and a cache of prices, gas
estimates and pool reserves for ``cache_ttl`` seconds (``0`` disables it). One message at
a time: a burst of quotes costs one round of chain reads per ``cache_ttl``.

A source that cannot be read is a *dropped source* (reported with the error), never a
crash; a chain that cannot answer EstimateGas is UNAVAILABLE (retryable).
"""

from __future__ import annotations

import json
import secrets
import uuid
from decimal import Decimal
from typing import Any

from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_utils import keccak

from chains.directory import Directory, UnknownName
from protocol.accounts import SOLANA
from chains.evm.rpc import RpcClient, RpcError, RpcUnavailable
from chains.solana import FillCost, SolanaChainConfig, SolanaRpc, fill_cost
from protocol import PERMIT2_ADDRESS, order_typed_data
from runtime import Actor, FailedPrecondition, InvalidArgument, OrbitalError, Unavailable

from ._config import QuoterConfig, QuoterSpec
from ._gas import (GasEstimate, estimate_from_history, fee_history_params, lamports_to_token,
                   wei_to_token)
from ._messages import (EstimateGas, EstimateSolanaFill, GetPrice, GetQuote, QuoteResult,
                        ReferenceOutput, ReferenceOutputs, SolanaFillEstimate)
from ._quote import build_order, parse_quote, resolve_chain
from ._solana import parse_solana_account, resolve_solana_token
from ._routes import Edge, Route, best_route, price_ratio_out
from ._sources import (D, Aggregate, PoolState, Reading, aggregate, pool_meta, read_feed,
                       read_pool)

__all__ = ["Quoter"]

_SOURCE_ERRORS = (RpcError, RpcUnavailable, ValueError, KeyError, TypeError, DecodingError,
                  UnknownName)

_CACHE_PRUNE_AT = 4096    # entries; then the expired ones are dropped
_ALLOWANCE = keccak(text="allowance(address,address)")[:4]
SIGNING_FORMS = ("", "orbital", "permit2")


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''}"


class Quoter(Actor):
    kind = "quoter"

    def setup(self) -> None:
        spec: QuoterSpec = self.config
        self.cfg: QuoterConfig = spec.quoter
        self.chains = spec.chains
        self.directory = Directory({**spec.chains, **dict(spec.solana_chains)})
        self.solana_chains: dict[str, SolanaChainConfig] = dict(spec.solana_chains)
        self._rpcs: dict[str, RpcClient] = {}
        self._solana_rpcs: dict[str, SolanaRpc] = {}
        self._cache: dict[Any, tuple[float, Any]] = {}
        self._meta: dict[str, tuple[str, str, int]] = {}
        self._feed_decimals: dict[tuple[str, str], int] = {}

    def handle(self, message: Any) -> Any:
        if isinstance(message, GetQuote):
            return self.quote(message)
        if isinstance(message, GetPrice):
            return self.get_price(message)
        if isinstance(message, ReferenceOutputs):
            out: list[int | OrbitalError] = []
            for q in message.quotes:
                try:
                    out.append(self.quote(q, served=False).output_amount)
                except OrbitalError as exc:   # this swap's answer; the others still count
                    out.append(exc)
            return out
        if isinstance(message, ReferenceOutput):
            return self.quote(message.quote, served=False).output_amount
        if isinstance(message, EstimateGas):
            chain = resolve_chain(self.directory, message.chain, "chain")
            return self.gas(chain.name)
        if isinstance(message, EstimateSolanaFill):
            return self.solana_fill(message)
        return super().handle(message)

    # ---- plumbing -------------------------------------------------------------------
    def _rpc(self, chain: str) -> RpcClient:
        rpc = self._rpcs.get(chain)
        if rpc is None:
            cfg = self.chains[chain]
            rpc = self.own(RpcClient(cfg.rpc, timeout=min(cfg.rpc_timeout, self.cfg.rpc_timeout),
                                     backoff_max=cfg.rpc_backoff_max, clock=self.ctx.clock.now))
            self._rpcs[chain] = rpc
        return rpc

    def _solana_rpc(self, chain: str) -> SolanaRpc:
        rpc = self._solana_rpcs.get(chain)
        if rpc is None:
            cfg = self.solana_chains[chain]
            rpc = self.own(SolanaRpc(cfg.rpc, timeout=min(cfg.rpc_timeout, self.cfg.rpc_timeout),
                                     backoff_max=cfg.rpc_backoff_max))
            self._solana_rpcs[chain] = rpc
        return rpc

    def _cached(self, key: Any, compute) -> Any:
        now = self.ctx.clock.now()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = compute()
        if self.cfg.cache_ttl > 0:
            if len(self._cache) >= _CACHE_PRUNE_AT:   # keys with a caller's recipient in them
                self._cache = {k: v for k, v in self._cache.items() if v[0] > now}
            self._cache[key] = (now + self.cfg.cache_ttl, value)
        return value

    # ---- prices ---------------------------------------------------------------------
    def get_price(self, msg: GetPrice) -> Aggregate:
        symbol = self._symbol(msg.token, msg.chain)
        agg = self.price(symbol)
        if agg.price is None:
            raise FailedPrecondition(agg.explain())
        return agg

    def _symbol(self, token: str, chain: str) -> str:
        if not token:
            raise InvalidArgument("token is required (a symbol, or an address with chain)",
                                  field="token")
        if chain:
            ref = resolve_chain(self.directory, chain, "chain")
            try:
                return self.directory.token(ref.name, token).symbol
            except UnknownName as exc:
                raise InvalidArgument(str(exc), field="token") from None
        if token.startswith("0x"):
            raise InvalidArgument("chain is required to price a token by address",
                                  field="chain")
        for ref in self.directory.chains:
            for t in ref.tokens:
                if t.symbol.upper() == token.upper():
                    return t.symbol
        if self.cfg.token_prices(token) is not None:
            return token
        raise InvalidArgument(f"unknown token {token[:50]!r}", field="token")

    def price(self, symbol: str, with_pools: bool = True) -> Aggregate:
        return self._cached(("price", symbol.upper(), with_pools),
                            lambda: self._price(symbol, with_pools))

    def _price(self, symbol: str, with_pools: bool) -> Aggregate:
        prices = self.cfg.token_prices(symbol)
        readings: list[Reading] = []
        heads: list[float] = []
        if prices is not None:
            if prices.static:
                readings.append(Reading("static", Decimal(prices.static)))
            for feed in prices.feeds:
                key = (feed.chain, feed.address.lower())
                try:
                    answer, updated, head, dec = read_feed(self._rpc(feed.chain), feed.address,
                                                           self._feed_decimals.get(key))
                except _SOURCE_ERRORS as exc:
                    readings.append(Reading(feed.label(), None, error=_short(exc)))
                    continue
                self._feed_decimals[key] = dec
                heads.append(head)
                readings.append(Reading(feed.label(), answer, updated))
            if with_pools:
                readings += [self._pool_reading(symbol, name) for name in prices.pools]
            if prices.fallback:
                readings.append(Reading("fallback", Decimal(prices.fallback), fallback=True))
        # Staleness is judged against the later of the node's clock and the chains' heads:
        # the head covers a node clock behind the chain, the clock a halted chain.
        now = max([self.ctx.clock.wall(), *heads])
        return aggregate(symbol, readings, now, self.cfg.max_staleness,
                         self.cfg.max_deviation_bps)

    def _pool_reading(self, symbol: str, name: str) -> Reading:
        """Spot price of ``symbol`` in the pool times the other token's (non-pool) price."""
        label = f"pool:{name}"
        pool = self.cfg.pools[name]
        try:
            state = self._pool_state(name)
            tokens = [self.directory.token(pool.chain, a) for a in (state.token0, state.token1)]
            mine = [t for t in tokens if t.symbol.upper() == symbol.upper()]
            if not mine:
                raise ValueError(f"pool does not hold {symbol}")
            other = next(t for t in tokens if t is not mine[0])
            r_mine, r_other = state.reserves_for(mine[0].address)
            if r_mine == 0 or r_other == 0:
                raise ValueError("pool has no liquidity")
            other_price = self.price(other.symbol, with_pools=False)
            if other_price.price is None:
                raise ValueError(f"no price for {other.symbol}, the pool's other token")
            spot = D.divide(Decimal(r_other).scaleb(-other.decimals, context=D),
                            Decimal(r_mine).scaleb(-mine[0].decimals, context=D))
            return Reading(label, D.multiply(spot, other_price.price))
        except _SOURCE_ERRORS as exc:
            return Reading(label, None, error=_short(exc))

    def _pool_state(self, name: str) -> PoolState:
        pool = self.cfg.pools[name]
        rpc = self._rpc(pool.chain)
        meta = self._meta.get(name)
        if meta is None:
            meta = self._meta[name] = pool_meta(rpc, pool.address)
        return self._cached(("pool", name), lambda: read_pool(rpc, pool.address, meta))

    # ---- gas ------------------------------------------------------------------------
    def gas(self, chain: str) -> GasEstimate:
        return self._cached(("gas", chain), lambda: self._gas(chain))

    def _gas(self, chain: str) -> GasEstimate:
        try:
            history = self._rpc(chain).call("eth_feeHistory", fee_history_params(self.cfg.gas))
            return estimate_from_history(chain, history, self.cfg.gas)
        except RpcUnavailable as exc:
            raise Unavailable(f"chain {chain}: {exc}") from None
        except (RpcError, ValueError, TypeError, KeyError) as exc:
            raise FailedPrecondition(f"chain {chain}: cannot estimate gas "
                                     f"(eth_feeHistory: {_short(exc)})") from None

    # ---- Solana fills ----------------------------------------------------------------
    def solana_fill(self, msg: EstimateSolanaFill) -> SolanaFillEstimate:
        """The cost of a fill on a Solana destination, in lamports and in the token filled:
        what a quote to that destination charges for the solver's transaction."""
        name, symbol, mint, decimals = resolve_solana_token(self.solana_chains, msg.chain,
                                                            msg.token)
        recipient = parse_solana_account(msg.recipient, "recipient")
        writes = tuple(parse_solana_account(w, f"writes[{i}]") for i, w in enumerate(msg.writes))
        cost: FillCost = self._cached(("solana-fill", name, mint, recipient, writes),
                                      lambda: self._solana_fill_cost(name, mint, recipient,
                                                                     writes))
        p_sol = self._need(self.price(self.cfg.solana_native_token))
        p_token = self._need(self.price(symbol))
        return SolanaFillEstimate(cost, symbol, mint, decimals,
                                  lamports_to_token(cost.lamports, p_sol, p_token, decimals),
                                  p_sol, p_token)

    def _solana_fill_cost(self, chain: str, mint: str, recipient: str,
                          writes: tuple[str, ...]) -> FillCost:
        try:
            return fill_cost(self._solana_rpc(chain), chain, self.cfg.solana_fees, mint=mint,
                             recipient=recipient, writes=writes)
        except RpcUnavailable as exc:
            raise Unavailable(f"chain {chain}: {exc}") from None
        except (RpcError, TypeError, KeyError) as exc:
            raise FailedPrecondition(f"chain {chain}: cannot price a fill "
                                     f"({_short(exc)})") from None
        except ValueError as exc:     # writes: more accounts than the RPC takes
            raise InvalidArgument(str(exc), field="writes") from None

    # ---- routes and quotes ----------------------------------------------------------
    def _edges(self, chains: set[str], decimals: dict[str, int]) -> list[Edge]:
        """Both directions of every route pool on ``chains``; a pool that cannot be read
        (or holds a token whose decimals differ from the route's) is left out."""
        edges: list[Edge] = []
        for name, pool in self.cfg.pools.items():
            if not pool.route or pool.chain not in chains:
                continue
            try:
                state = self._pool_state(name)
                t0, t1 = (self.directory.token(pool.chain, a) for a in (state.token0,
                                                                         state.token1))
            except _SOURCE_ERRORS:
                continue
            if any(decimals.setdefault(t.symbol, t.decimals) != t.decimals for t in (t0, t1)):
                continue
            label = f"pool:{name}"
            edges.append(Edge(label, t0.symbol, t1.symbol, state.reserve0, state.reserve1,
                              state.fee_bps))
            edges.append(Edge(label, t1.symbol, t0.symbol, state.reserve1, state.reserve0,
                              state.fee_bps))
        return edges

    def _need(self, agg: Aggregate) -> Decimal:
        if agg.price is None:
            raise FailedPrecondition(agg.explain())
        return agg.price

    def quote(self, msg: GetQuote, *, served: bool = True) -> QuoteResult:
        """The quote for ``msg``; ``served=False`` (a reference output for the book): only
        the amounts count, so the signing form is not decided (no allowance read)."""
        q = parse_quote(msg, self.directory, self.cfg)
        if msg.signing not in SIGNING_FORMS:
            raise InvalidArgument(f"signing must be one of {', '.join(f for f in SIGNING_FORMS if f)} "
                                  "(or unset: the quoter chooses)", field="signing")
        cfg = self.cfg
        p_in = self._need(self.price(q.token_in.symbol))
        p_native = self._need(self.price(cfg.native_token))
        gas_wei = (cfg.gas.open + cfg.gas.settle) * self.gas(q.origin.name).max_fee_wei
        if q.destination.kind == SOLANA:
            # the solver's fill is a Solana transaction: lamports (fees, the recipient's
            # token account if missing), priced in the input token through SOL
            fill = self._solana_fill_cost(q.destination.name, q.token_out.address,
                                          q.recipient, ())
            fill_cost = lamports_to_token(fill.lamports,
                                          self._need(self.price(cfg.solana_native_token)),
                                          p_in, q.token_in.decimals)
        else:
            gas_wei += cfg.gas.fill * self.gas(q.destination.name).max_fee_wei
            fill_cost = 0
        gas_cost = wei_to_token(gas_wei, p_native, p_in, q.token_in.decimals) + fill_cost
        protocol_fee = -(-q.amount * cfg.protocol_fee_bps // 10_000)
        fee = protocol_fee + gas_cost
        if fee >= q.amount:
            raise InvalidArgument(
                f"input_amount {q.amount} does not cover the fee {fee} {q.token_in.symbol} "
                f"(protocol fee {protocol_fee} + gas {gas_cost})", field="input_amount")
        net = q.amount - fee
        route = self._route(q, net)
        out = route.amount_out
        min_out = out * (10_000 - q.slippage_bps) // 10_000
        if min_out <= 0:
            raise InvalidArgument(f"input_amount {q.amount} is too small: the output after "
                                  "fees and slippage rounds to 0", field="input_amount")
        now = int(self.ctx.clock.wall())
        order = build_order(q, min_out, secrets.randbits(64), now, cfg,
                            permit2=served and self._permit2(msg.signing, q.origin.name,
                                                             q.token_in.address, q.user, q.amount))
        return QuoteResult(
            quote_id=uuid.uuid4().hex, output_amount=out, min_output_amount=min_out,
            fee_amount=fee, protocol_fee=protocol_fee, gas_cost=gas_cost,
            route=route.describe(q.origin.name, q.destination.name),
            expires_at=now + cfg.quote_ttl, typed_data=json.dumps(order_typed_data(order)),
            order_id="0x" + order.order_id.hex(), input_token=q.token_in.address,
            output_token=q.token_out.address, nonce=order.nonce,
            open_deadline=order.open_deadline, fill_deadline=order.fill_deadline,
            signing="permit2" if order.permit2 else "orbital")

    def _permit2(self, asked: str, chain: str, token: str, user: str, amount: int) -> bool:
        """Serve the Permit2 form? As asked; unasked, when the user's ERC-20 allowance to
        Permit2 covers the input (one eth_call, not cached: an approval just sent counts)."""
        if asked:
            return asked == "permit2"
        data = _ALLOWANCE + abi_encode(["address", "address"], [user, PERMIT2_ADDRESS])
        try:
            raw = self._rpc(chain).call("eth_call", [{"to": token, "data": "0x" + data.hex()}, "latest"])
            allowance = int(raw[2:66], 16)
        except RpcUnavailable as exc:
            raise Unavailable(f"chain {chain}: {exc}") from None
        except (RpcError, ValueError, TypeError) as exc:
            raise FailedPrecondition(f"chain {chain}: cannot read the allowance of {user} to "
                                     f"Permit2 ({_short(exc)}); ask for a signing form") from None
        return allowance >= amount

    def _route(self, q, net: int) -> Route:
        sym_in, sym_out = q.token_in.symbol, q.token_out.symbol
        decimals = {sym_in: q.token_in.decimals}
        if sym_in.upper() == sym_out.upper() and q.token_in.decimals == q.token_out.decimals:
            return Route("transfer", (sym_in, sym_out), (), net)
        if sym_out in decimals and decimals[sym_out] != q.token_out.decimals:
            edges = []
        else:
            decimals[sym_out] = q.token_out.decimals
            edges = self._edges({q.origin.name, q.destination.name}, decimals)
        route = best_route(edges, sym_in, sym_out, net, self.cfg.max_hops)
        if route is not None and route.amount_out > 0:
            return route
        p_out = self._need(self.price(sym_out))
        p_in = self._need(self.price(sym_in))
        out = price_ratio_out(net, q.token_in.decimals, p_in, q.token_out.decimals, p_out)
        return Route("price", (sym_in, sym_out), (), out)
