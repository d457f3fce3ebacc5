"""Retry policy: exponential backoff with jitter, on UNAVAILABLE only.

Why only UNAVAILABLE: it is the one code the node uses for "nothing was done, try again"
(node restarting, book restarting, store down, connection refused). Every other code is an
answer (a refusal, a missing intent, a rate limit) and repeating the call would not change it.
SubmitIntent is safe to repeat: a replay of the same order is refused with ALREADY_EXISTS,
which the client turns back into the stored intent (see OrbitalClient.submit).

The clock and sleep are injectable so the policy is tested without waiting.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc

from ._errors import OrbitalRpcError, from_rpc_error

__all__ = ["NO_RETRY", "RETRYABLE", "RetryPolicy", "call_with_retry"]

T = TypeVar("T")
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


@dataclass(frozen=True)
class RetryPolicy:
    """``attempts`` in total (1 = no retry); the n-th wait is ``initial * multiplier**n``
    capped at ``maximum``, of which a random ``jitter`` fraction is taken off so that many
    clients knocked off by the same restart do not come back in lockstep."""

    attempts: int = 5
    initial: float = 0.1
    maximum: float = 3.0
    multiplier: float = 2.0
    jitter: float = 0.5
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")
        if self.initial < 0 or self.maximum < 0 or self.multiplier < 1:
            raise ValueError("initial/maximum must be >= 0 and multiplier >= 1")

    def delay(self, retry: int) -> float:
        """Wait before retry number ``retry`` (0 = the first retry)."""
        base = min(self.maximum, self.initial * self.multiplier ** retry)
        return base * (1 - self.jitter * self.rng.random())


NO_RETRY = RetryPolicy(attempts=1)


def call_with_retry(fn: Callable[[float | None, int], T], policy: RetryPolicy,
                    timeout: float | None, method: str = "") -> T:
    """Run ``fn(remaining_timeout, attempt)`` until it succeeds or fails with a code that is
    not retryable, the attempts are used up, or the call's overall deadline would pass
    during the next wait. grpc errors come out as :class:`OrbitalRpcError`."""
    deadline = None if timeout is None else policy.clock() + timeout
    attempt = 0
    while True:
        remaining = None if deadline is None else max(0.0, deadline - policy.clock())
        try:
            return fn(remaining, attempt)
        except grpc.RpcError as exc:
            error = from_rpc_error(exc, method)
        except OrbitalRpcError as exc:
            error = exc
        if error.code not in RETRYABLE or attempt + 1 >= policy.attempts:
            raise error
        wait = policy.delay(attempt)
        if deadline is not None and policy.clock() + wait >= deadline:
            raise error
        policy.sleep(wait)
        attempt += 1
