"""Price sources: reading them (feed, pool) and aggregating them (median, staleness, outliers).

Aggregation rule (:func:`aggregate`), applied to one token's readings:

1. a reading with an error, a non-positive price, or (when it has a time) ``updatedAt``
   older than ``max_staleness`` is dropped, with the reason;
2. among the rest, the reading furthest from the *median of the others* is an outlier
   and is dropped if that distance exceeds ``max_deviation_bps``; this repeats, one
   source at a time, until every remaining one is within bounds (one at a time, so a wild
   source cannot push good ones out: with 3000, 3001 and 4000, only 4000 goes). With two
   sources left that disagree, both are dropped: nothing says which one is right;
3. the price is the median of what is left; if nothing is left, the ``fallback`` readings
   (static config marked as fallback) are used, else there is no price.

Every reading comes back as a :class:`SourceReport` (used or not, and why), which is what
GetPrice shows and what a FAILED_PRECONDITION names.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal
from statistics import median

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

__all__ = ["Aggregate", "PoolState", "Reading", "SourceReport", "aggregate", "fmt_decimal",
           "read_feed", "read_pool", "pool_meta", "D"]

D = Context(prec=60)   # every price computation: enough digits for uint256 amounts


def fmt_decimal(value: Decimal, places: int = 18) -> str:
    """Plain decimal notation (no exponent), at most ``places`` decimals, no trailing zeros."""
    q = value.quantize(Decimal(1).scaleb(-places), context=D)
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True)
class Reading:
    name: str
    price: Decimal | None
    updated_at: float | None = None     # unix seconds; None: timeless (static config)
    error: str = ""
    fallback: bool = False


@dataclass(frozen=True)
class SourceReport:
    name: str
    price: Decimal | None
    updated_at: float | None
    used: bool
    reason: str


@dataclass(frozen=True)
class Aggregate:
    symbol: str
    price: Decimal | None
    sources: tuple[SourceReport, ...]
    updated_at: float | None

    def explain(self) -> str:
        """Why there is no price: every source and its reason (for FAILED_PRECONDITION)."""
        if not self.sources:
            return f"no price source configured for {self.symbol}"
        parts = [f"{s.name}: {s.reason or 'unused'}" for s in self.sources]
        return f"no usable price for {self.symbol} ({'; '.join(parts)})"


def _median(values: list[Decimal]) -> Decimal:
    return Decimal(median(values))


def _deviation_bps(value: Decimal, ref: Decimal) -> Decimal:
    return D.divide(abs(value - ref) * 10_000, ref)


def aggregate(symbol: str, readings: list[Reading], now: float, max_staleness: float,
              max_deviation_bps: int) -> Aggregate:
    reasons: dict[int, str] = {}
    prices: dict[int, Decimal] = {}      # the readings that vote, by index
    for i, r in enumerate(readings):
        if r.fallback:
            continue
        if r.error:
            reasons[i] = f"error: {r.error}"
        elif r.price is None or r.price <= 0:
            reasons[i] = "invalid: non-positive price"
        elif r.updated_at is not None and now - r.updated_at > max_staleness:
            reasons[i] = (f"stale: updated {now - r.updated_at:.0f}s ago "
                          f"(max_staleness {max_staleness:g}s)")
        else:
            prices[i] = r.price
    used = list(prices)
    while len(used) >= 2:
        # The worst source against the median of the others goes first, one at a time, so
        # one wild source cannot make the good ones look like outliers.
        devs = []
        for i in used:
            ref = _median([prices[j] for j in used if j != i])
            devs.append((_deviation_bps(prices[i], ref), i, ref))
        dev, worst, ref = max(devs, key=lambda d: (d[0], -d[1]))
        if dev <= max_deviation_bps:
            break
        if len(used) == 2:   # two that disagree: nothing says which one is right
            for d, i, other in devs:
                reasons[i] = (f"outlier: {d:.0f} bps from {fmt_decimal(other)}, the only other "
                              f"source (max_deviation_bps {max_deviation_bps})")
            used = []
            break
        reasons[worst] = (f"outlier: {dev:.0f} bps from {fmt_decimal(ref)}, the median of "
                          f"the others (max_deviation_bps {max_deviation_bps})")
        used.remove(worst)
    fallbacks = [i for i, r in enumerate(readings) if r.fallback]
    for i in fallbacks:
        fallback = readings[i].price
        if used:
            reasons[i] = "fallback: not needed"
        elif readings[i].error or fallback is None or fallback <= 0:
            reasons[i] = f"error: {readings[i].error or 'non-positive price'}"
        else:
            prices[i] = fallback
    if not used:
        used = [i for i in fallbacks if i not in reasons]
    price = _median([prices[i] for i in used]) if used else None
    times = [t for t in (readings[i].updated_at for i in used) if t is not None]
    reports = tuple(SourceReport(r.name, r.price, r.updated_at, i in used,
                                 "" if i in used else reasons.get(i, "unused"))
                    for i, r in enumerate(readings))
    return Aggregate(symbol, price, reports, min(times) if times else (now if used else None))


# ---- on-chain reads (``rpc`` is an chains.evm.rpc.RpcClient) --------------------------
def _selector(sig: str) -> str:
    return "0x" + keccak(text=sig)[:4].hex()


_LATEST_ROUND = _selector("latestRoundData()")
_DECIMALS = _selector("decimals()")
_RESERVES = _selector("getReserves()")
_TOKEN0 = _selector("token0()")
_TOKEN1 = _selector("token1()")
_FEE_BPS = _selector("FEE_BPS()")


def _call(address: str, data: str) -> tuple[str, list]:
    return "eth_call", [{"to": address, "data": data}, "latest"]


def _bytes(result) -> bytes:
    if not isinstance(result, str) or not result.startswith("0x") or len(result) < 4:
        raise ValueError(f"empty call result {result!r} (no contract at the address?)")
    return bytes.fromhex(result[2:])


def read_feed(rpc, address: str, decimals: int | None) -> tuple[Decimal, float, float, int]:
    """(answer in USD, updatedAt, chain head timestamp, decimals): one batch."""
    calls = [_call(address, _LATEST_ROUND), ("eth_getBlockByNumber", ["latest", False])]
    if decimals is None:
        calls.append(_call(address, _DECIMALS))
    out = rpc.batch(calls)
    if decimals is None:
        decimals = abi_decode(["uint8"], _bytes(out[2]))[0]
    _, answer, _, updated_at, _ = abi_decode(["uint80", "int256", "uint256", "uint256", "uint80"],
                                             _bytes(out[0]))
    head_ts = int(out[1]["timestamp"], 16)
    return Decimal(answer).scaleb(-decimals, context=D), float(updated_at), float(head_ts), decimals


@dataclass(frozen=True)
class PoolState:
    token0: str
    token1: str
    fee_bps: int
    reserve0: int
    reserve1: int
    timestamp: float           # head block time the reserves were read at

    def reserves_for(self, token_in: str) -> tuple[int, int]:
        if token_in.lower() == self.token0.lower():
            return self.reserve0, self.reserve1
        if token_in.lower() == self.token1.lower():
            return self.reserve1, self.reserve0
        raise ValueError(f"{token_in} is not a token of the pool")


def pool_meta(rpc, address: str) -> tuple[str, str, int]:
    """(token0, token1, fee_bps): immutable, read once per pool."""
    t0, t1, fee = rpc.batch([_call(address, _TOKEN0), _call(address, _TOKEN1),
                             _call(address, _FEE_BPS)])
    return (to_checksum_address(abi_decode(["address"], _bytes(t0))[0]),
            to_checksum_address(abi_decode(["address"], _bytes(t1))[0]),
            abi_decode(["uint256"], _bytes(fee))[0])


def read_pool(rpc, address: str, meta: tuple[str, str, int]) -> PoolState:
    res, block = rpc.batch([_call(address, _RESERVES), ("eth_getBlockByNumber", ["latest", False])])
    r0, r1 = abi_decode(["uint256", "uint256"], _bytes(res))
    return PoolState(meta[0], meta[1], meta[2], r0, r1, float(int(block["timestamp"], 16)))
