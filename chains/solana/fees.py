"""What a fill transaction costs on a Solana chain, in lamports.

A fill is one transaction of the solver: an SPL ``TransferChecked`` into the recipient's
associated token account (created first when it does not exist yet) plus a Memo with the
order id. Three parts, each what the cluster actually takes:

- the **base fee**: 5,000 lamports per signature (the solver signs alone: one);
- the **priority fee**: ``compute-unit price x compute-unit limit / 1e6``, rounded up as
  the runtime does. The price (micro-lamports per CU) is a percentile of what recent slots
  paid to write-lock the accounts the fill writes (``getRecentPrioritizationFees``): on a
  busy cluster the recipient's account is where a fill competes. The limit is the fill's
  configured compute-unit budget (a fill requests it with SetComputeUnitLimit, and the
  priority fee is charged on the limit, not on the units used). A node without the method
  (JSON-RPC "method not found") gives no price: the configured floor is used, and the
  answer says so. The floor is also the least price charged otherwise;
- the **rent** of the recipient's associated token account (165 bytes, rent-exempt) when
  it is not an initialised token account yet: the fill creates it and pays it. An address
  that already holds lamports but no token account (anyone can send SOL to it) is created
  too, and only the rest up to rent exemption is paid.

The pure parts (:func:`percentile`, :func:`priority_fee`, :func:`rent_due`) are tabled in
tests; :func:`fill_cost` reads the chain (real solana-local in tests).
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocol.accounts import SOLANA, parse_account
from protocol.solana import TOKEN_PROGRAM, associated_token_address
from runtime.config import opt

from .rpc import SolanaRpc

__all__ = ["LAMPORTS_PER_SIGNATURE", "TOKEN_ACCOUNT_SIZE", "FillCost", "SolanaFeeConfig",
           "fill_cost", "percentile", "priority_fee", "rent_due"]

LAMPORTS_PER_SIGNATURE = 5_000
TOKEN_ACCOUNT_SIZE = 165          # bytes of an SPL token account
_MAX_FEE_ACCOUNTS = 128           # getRecentPrioritizationFees accepts at most this many


@dataclass(frozen=True)
class SolanaFeeConfig:
    """How a fill on a Solana chain is priced (``quoter.solana_fees``)."""

    percentile: float = opt(75.0, min=0, max=100,
                            doc="percentile of the recent slots' prioritization fees paid")
    fill_compute_units: int = opt(60_000, min=1, max=1_400_000,
                                  doc="the compute-unit limit a fill requests")
    priority_fee_floor: int = opt(0, min=0, max=10**12,
                                  doc="micro-lamports per CU: the least price charged, and the "
                                      "price when the RPC lacks getRecentPrioritizationFees")
    signatures: int = opt(1, min=1, max=12, doc="signatures of a fill transaction")


@dataclass(frozen=True)
class FillCost:
    """The lamports a fill costs, part by part, and where the price came from."""

    chain: str
    recipient_token_account: str     # the recipient's associated token account
    base_fee: int                    # lamports
    compute_unit_price: int          # micro-lamports per CU
    compute_units: int
    priority_fee: int                # lamports
    rent: int                        # lamports; 0 when the token account exists
    price_source: str                # how compute_unit_price was found

    @property
    def lamports(self) -> int:
        return self.base_fee + self.priority_fee + self.rent


def percentile(values: Sequence[int], pct: float) -> int:
    """Nearest-rank percentile (the smallest value with at least ``pct``% of the values at
    or below it); 0 of nothing. Nearest-rank, not interpolated: the answer is a price some
    slot actually paid."""
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile must be within 0-100, got {pct}")
    if not values:
        return 0
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))     # ceil(n * pct / 100), at least 1
    return int(ordered[int(rank) - 1])


def priority_fee(price_micro_lamports: int, compute_units: int) -> int:
    """Lamports of a compute-unit price over a compute-unit limit, rounded up (the runtime
    charges ``ceil(price * limit / 1e6)``)."""
    if price_micro_lamports < 0 or compute_units < 0:
        raise ValueError("price and compute units must not be negative")
    return -(-price_micro_lamports * compute_units // 1_000_000)


def rent_due(account: dict[str, Any] | None, rent_exempt: int) -> int:
    """Lamports a fill pays to create the recipient's token account: none when ``account``
    (a ``getAccountInfo`` value) is already an SPL token account; else what is missing up to
    rent exemption (an address pre-funded with SOL only needs the rest)."""
    if account is None:
        return rent_exempt
    if account.get("owner") == TOKEN_PROGRAM and _size(account) == TOKEN_ACCOUNT_SIZE:
        return 0
    return max(0, rent_exempt - int(account.get("lamports") or 0))


def _size(account: dict[str, Any]) -> int:
    """Data length of a ``getAccountInfo`` value: ``space``, or (older nodes) the length of
    its base64 ``data``."""
    space = account.get("space")
    if isinstance(space, int):
        return space
    data = account.get("data")
    if isinstance(data, list) and data and isinstance(data[0], str):
        try:
            return len(base64.b64decode(data[0], validate=True))
        except ValueError:
            return -1
    return -1


def _pubkey(field: str, value: str) -> str:
    try:
        return parse_account(value[:100], SOLANA)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{field}: {exc}") from None


def fill_cost(rpc: SolanaRpc, chain: str, cfg: SolanaFeeConfig, *, mint: str, recipient: str,
              writes: Sequence[str] = ()) -> FillCost:
    """The cost of a fill of ``mint`` to wallet ``recipient`` on ``chain`` now.

    ``writes``: other accounts the fill write-locks (the solver's source token account,
    when known), priced with the recipient's token account. ``ValueError`` names the field
    of a bad address; RPC failures are the client's (:class:`RpcUnavailable`,
    :class:`RpcError`), nothing is cached here."""
    mint = _pubkey("mint", mint)
    recipient = _pubkey("recipient", recipient)
    extra = [_pubkey(f"writes[{i}]", w) for i, w in enumerate(writes)]
    ata = associated_token_address(recipient, mint)
    accounts = list(dict.fromkeys([ata, *extra]))
    if len(accounts) > _MAX_FEE_ACCOUNTS:
        raise ValueError(f"writes: at most {_MAX_FEE_ACCOUNTS - 1} accounts")
    fees = rpc.prioritization_fees(accounts)
    if fees is None:
        price = cfg.priority_fee_floor
        source = ("floor: the RPC has no getRecentPrioritizationFees "
                  f"({cfg.priority_fee_floor} micro-lamports/CU)")
    else:
        seen = percentile([fee for _, fee in fees], cfg.percentile)
        price = max(seen, cfg.priority_fee_floor)
        source = (f"getRecentPrioritizationFees: p{cfg.percentile:g} of {len(fees)} slots = {seen}"
                  + (f", raised to the floor {cfg.priority_fee_floor}" if price > seen else ""))
    rent_exempt, account = rpc.rent_and_account(TOKEN_ACCOUNT_SIZE, ata)
    return FillCost(chain, ata, LAMPORTS_PER_SIGNATURE * cfg.signatures, price,
                    cfg.fill_compute_units, priority_fee(price, cfg.fill_compute_units),
                    rent_due(account, rent_exempt), source)
