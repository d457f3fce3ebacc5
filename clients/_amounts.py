"""Human amounts <-> base units.

The API speaks base units only (decimal strings of integers), as the chain does. The CLI
accepts either base units (``100000000``) or a decimal with ``--decimals`` (``100.5`` with
``--decimals 6`` is 100500000). Decimal arithmetic, never floats: 0.1 USDC must be exactly
100000 base units.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation, localcontext

from ._errors import ClientError

__all__ = ["parse_amount", "format_amount"]

UINT256_MAX = 2**256 - 1


def parse_amount(text: str | int, decimals: int | None = None) -> int:
    """Base units from ``text``: an integer, or a decimal when ``decimals`` is given.

    A decimal without ``decimals``, more fractional digits than ``decimals``, a negative
    amount, zero or more than 2**256-1 is an error (ClientError).
    """
    if isinstance(text, int):
        value = text
    else:
        raw = str(text).strip().replace("_", "")
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise ClientError(f"amount {text!r} is not a number") from None
        if not number.is_finite():
            raise ClientError(f"amount {text!r} is not a number")
        if decimals is None:
            if number != number.to_integral_value() or "." in raw or "e" in raw.lower():
                raise ClientError(f"amount {text!r} has a fraction: give base units, "
                                  "or the token's --decimals")
            value = int(number)
        else:
            if decimals < 0 or decimals > 77:
                raise ClientError(f"decimals must be within 0..77, got {decimals}")
            with localcontext() as ctx:
                ctx.prec = 200  # uint256 has 78 digits; the default 28 would round
                scaled = number.scaleb(decimals)
            if scaled != scaled.to_integral_value():
                raise ClientError(f"amount {text!r} has more than {decimals} decimals")
            value = int(scaled)
    if value <= 0:
        raise ClientError(f"amount must be > 0, got {text!r}")
    if value > UINT256_MAX:
        raise ClientError(f"amount {text!r} does not fit in uint256")
    return value


def format_amount(value: int, decimals: int | None = None) -> str:
    """``value`` base units as a decimal string (``decimals`` None: the integer as is)."""
    if not decimals:
        return str(value)
    sign = "-" if value < 0 else ""
    whole, frac = divmod(abs(value), 10**decimals)
    frac_text = str(frac).rjust(decimals, "0").rstrip("0")
    return f"{sign}{whole}.{frac_text}" if frac_text else f"{sign}{whole}"
