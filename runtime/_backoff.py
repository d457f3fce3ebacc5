"""Restart backoff: exponential, capped, with full jitter, reset after a stable period."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

__all__ = ["Backoff"]


@dataclass(frozen=True)
class Backoff:
    """Delay before the n-th consecutive restart of one child.

    ``initial`` 0 turns backoff off (restart at once). Jitter spreads restarts of many
    children failing together (a shared RPC going down) so they do not retry in lockstep:
    the delay is drawn uniformly from ``[base * (1 - jitter), base]``.
    """

    initial: float = 0.1
    maximum: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    reset_after: float = 60.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before restart number ``attempt`` (1-based) of an unstable child."""
        base = self._base(attempt)
        if base <= 0 or self.jitter <= 0:
            return base
        r = (rng or random).random()
        return base * (1.0 - self.jitter * r)

    def bounds(self, attempt: int) -> tuple[float, float]:
        """The interval :meth:`delay` draws from (for tests and docs)."""
        base = self._base(attempt)
        return (base * (1.0 - max(0.0, self.jitter)), base) if base > 0 else (0.0, 0.0)

    def _base(self, attempt: int) -> float:
        if self.initial <= 0 or attempt <= 0:
            return 0.0
        # A child failing for hours counts thousands of attempts: ``multiplier ** n``
        # would overflow a float long after the cap is reached, so stop growing there.
        exponent = attempt - 1
        if self.multiplier > 1 and self.maximum > self.initial:
            exponent = min(exponent, 1 + math.ceil(math.log(self.maximum / self.initial,
                                                            self.multiplier)))
        return min(self.maximum, self.initial * self.multiplier ** exponent)
