"""Token buckets keyed by caller (user, solver): the one rate limiter of the node.

Owned by one actor (or one loop), so no locking; time comes from the caller's clock so
tests use the FakeClock. Idle keys are forgotten once their bucket would be full again,
so memory follows the active callers, not every caller ever seen.
"""

from __future__ import annotations

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}   # key -> (tokens, at)
        self._last_sweep = 0.0

    def allow(self, key: str, now: float, cost: float = 1.0) -> bool:
        """Take ``cost`` tokens from ``key``'s bucket if it has them."""
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        ok = tokens >= cost
        self._buckets[key] = (tokens - cost if ok else tokens, now)
        if now - self._last_sweep > self.burst / self.rate:
            self._sweep(now)
        return ok

    def retry_after(self, key: str, now: float, cost: float = 1.0) -> float:
        tokens, at = self._buckets.get(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        return max(0.0, (cost - tokens) / self.rate)

    def _sweep(self, now: float) -> None:
        full = self.burst / self.rate
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}
        self._last_sweep = now
