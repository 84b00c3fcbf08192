"""How often we may send and when to try again: pure, time passed in.

A token bucket per Provider bounds the rate (a burst of failures across a fleet must
not flood a chat channel); a failed send is retried with exponential backoff and
jitter left out (so tests can reason about it), a bounded number of times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_ATTEMPTS = 5


@dataclass
class Bucket:
    """``rate`` tokens a minute, at most ``rate`` at once."""

    rate: int
    tokens: float = -1.0
    at: float = 0.0

    def take(self, now: float) -> bool:
        """Spend a token if one is there."""
        if self.tokens < 0:
            self.tokens, self.at = float(self.rate), now
        self.tokens = min(float(self.rate), self.tokens + (now - self.at) * self.rate / 60.0)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class RateLimits:
    """One bucket per provider (namespace/name); a changed rate starts a new bucket."""

    buckets: dict[str, Bucket] = field(default_factory=dict)

    def allow(self, provider: str, rate: int, now: float) -> bool:
        bucket = self.buckets.get(provider)
        if bucket is None or bucket.rate != rate:
            bucket = self.buckets[provider] = Bucket(rate)
        return bucket.take(now)


def retry_delay(attempt: int, base: float = 0.5, cap: float = 30.0) -> float | None:
    """Seconds before attempt ``attempt + 1`` after ``attempt`` failed ones; None: give up."""
    if attempt >= MAX_ATTEMPTS:
        return None
    return min(cap, base * float(2 ** (attempt - 1)))


def retryable(status: int | None) -> bool:
    """A connection error (None), 408, 429 and 5xx are worth another try; other 4xx not."""
    return status is None or status in (408, 429) or status >= 500
