"""How long a key waits before it is retried: client-go's default controller rate limiter.

Two limits, and a key waits for the longer of them: each key backs off exponentially on
its own failures (5 ms, 10 ms, ... up to 1000 s), so one broken object is retried ever
more slowly without slowing the others; and one token bucket (10 per second, burst 100)
over all retries, so a wave of failures cannot hammer the API server. Time is an argument
(the clock is injected), so the arithmetic is tested without sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class ItemBackoff(Generic[K]):
    """Per-key exponential backoff: ``base * 2**failures``, capped at ``cap``."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        self.base = base
        self.cap = cap
        self._failures: dict[K, int] = {}
        self._lock = threading.Lock()

    def when(self, key: K) -> float:
        """The delay before the next retry of ``key``, counting this failure."""
        with self._lock:
            failures = self._failures.get(key, 0)
            self._failures[key] = failures + 1
        if failures > 60:  # 2**61 * base is far past any cap; avoids float overflow
            return self.cap
        return min(self.base * float(2**failures), self.cap)

    def forget(self, key: K) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def retries(self, key: K) -> int:
        with self._lock:
            return self._failures.get(key, 0)


class TokenBucket:
    """An overall limit: ``qps`` tokens a second, at most ``burst`` saved up.

    Each retry reserves a token; when none is left the reservation is made on credit
    and the caller waits until the token would have arrived (as Go's ``rate.Limiter``
    ``Reserve().Delay()``).
    """

    def __init__(self, qps: float, burst: int, clock: Callable[[], float]) -> None:
        self.qps = qps
        self.burst = float(burst)
        self.clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one token; returns how long to wait before using it (0 if there was one)."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.qps)
            self._at = now
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.qps

    def take(self) -> bool:
        """Take one token if there is one (no credit): whether the caller may go on."""
        with self._lock:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.qps)
            self._at = now
            if self._tokens < 1.0:
                return False
            self._tokens -= 1.0
            return True


class RateLimiter(Generic[K]):
    """The longer of a per-key backoff and the overall bucket (client-go's MaxOf)."""

    def __init__(
        self,
        clock: Callable[[], float],
        base: float = 0.005,
        cap: float = 1000.0,
        qps: float = 10.0,
        burst: int = 100,
    ) -> None:
        self.backoff: ItemBackoff[K] = ItemBackoff(base, cap)
        self.bucket = TokenBucket(qps, burst, clock)

    def when(self, key: K) -> float:
        return max(self.backoff.when(key), self.bucket.reserve())

    def forget(self, key: K) -> None:
        self.backoff.forget(key)

    def retries(self, key: K) -> int:
        return self.backoff.retries(key)
