"""Pure planning: weights now, the band, and which move (if any) brings a strategy back.

No I/O, no clock: the actor feeds balances in base units and gets a :class:`Decision`.
Exact arithmetic (``Fraction``) so that rounding happens in exactly one place: the amount
is floored to a whole base unit (a move never sends more than the surplus it corrects).

The rule, one move at a time:

- in band when every chain's ``|weight - target| <= tolerance`` (an empty inventory is in
  band: there is nothing to spread);
- otherwise the *giver* is the chain with the largest surplus over its target amount and
  the *receiver* the one with the largest deficit (ties broken by chain name, so a plan is
  deterministic); the amount is ``min(surplus, deficit)`` floored, capped at
  ``max_units``; below ``min_units`` (or zero) nothing moves and the reason says why.

With more than two chains the remaining imbalance is handled by the next moves, each
planned from fresh balances once the previous one completed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

__all__ = ["Decision", "Move", "weights", "deviations", "in_band", "plan", "as_fraction"]


def as_fraction(x: float | str | Fraction) -> Fraction:
    """A config weight/tolerance as the decimal the operator wrote (0.1 is 1/10, not the
    binary float nearest to it)."""
    if isinstance(x, Fraction):
        return x
    return Fraction(Decimal(str(x)))


@dataclass(frozen=True)
class Move:
    from_chain: str
    to_chain: str
    amount: int               # base units, > 0


@dataclass(frozen=True)
class Decision:
    in_band: bool
    move: Move | None
    reason: str               # human readable: why this move, or why none
    weights: dict[str, float]


def weights(balances: Mapping[str, int]) -> dict[str, float]:
    total = sum(balances.values())
    return {c: (float(Fraction(b, total)) if total else 0.0) for c, b in balances.items()}


def deviations(balances: Mapping[str, int], targets: Mapping[str, float | Fraction]
               ) -> dict[str, Fraction]:
    """Base units each chain holds above (+) or below (-) its target share of the total."""
    total = sum(balances.values())
    return {c: balances.get(c, 0) - as_fraction(targets[c]) * total for c in targets}


def in_band(balances: Mapping[str, int], targets: Mapping[str, float | Fraction],
            tolerance: float | Fraction) -> bool:
    total = sum(balances.values())
    if total == 0:
        return True
    tol = as_fraction(tolerance)
    return all(abs(Fraction(balances.get(c, 0), total) - as_fraction(t)) <= tol
               for c, t in targets.items())


def plan(balances: Mapping[str, int], targets: Mapping[str, float | Fraction],
         tolerance: float | Fraction, *, min_units: int = 0,
         max_units: int | None = None) -> Decision:
    missing = set(targets) - set(balances)
    if missing:
        raise ValueError(f"no balance for {sorted(missing)}")
    now = weights({c: balances[c] for c in targets})
    if in_band(balances, targets, tolerance):
        return Decision(True, None, "in band", now)
    dev = deviations(balances, targets)
    order = sorted(dev)
    giver = max(order, key=lambda c: (dev[c], -order.index(c)))
    receiver = min(order, key=lambda c: (dev[c], order.index(c)))
    need = min(dev[giver], -dev[receiver])
    amount = int(need)                       # floor: Fraction -> int truncates, need >= 0
    capped = max_units is not None and amount > max_units
    if max_units is not None and amount > max_units:
        amount = max_units
    if amount <= 0:
        return Decision(False, None, "out of band but the needed move rounds to 0", now)
    if amount < min_units:
        return Decision(False, None, f"out of band but the needed move ({amount}) is below "
                                     f"min_transfer ({min_units})", now)
    why = (f"{giver} {now[giver]:.4f} vs target {float(as_fraction(targets[giver])):.4f}, "
           f"{receiver} {now[receiver]:.4f} vs {float(as_fraction(targets[receiver])):.4f}"
           + (f"; capped at max_transfer ({max_units})" if capped else ""))
    return Decision(False, Move(giver, receiver, amount), why, now)
