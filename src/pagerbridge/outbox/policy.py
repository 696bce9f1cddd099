"""Retry policy and rate limit: the queue owns backoff, the wire layer only classifies.

Exponential backoff with full jitter (``uniform(0, min(cap, base * 2**(attempt-1)))``), never
shorter than PagerDuty's ``Retry-After``, bounded by a deadline measured from when the row was
accepted (or last retried by hand), not by an attempt count.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pagerbridge.pagerduty.limits import REST_REQUESTS_PER_MINUTE

#: PagerDuty's documented Events API budget per routing key.
EVENTS_PER_MINUTE_PER_ROUTING_KEY = 120
#: The burst a REST worker keeps of PagerDuty's REST budget per credential
#: (``REST_REQUESTS_PER_MINUTE``; see :data:`REST_RATE_LIMIT`).
REST_BURST = 16
DEFAULT_DEADLINE_SECONDS = 24 * 3600.0
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_CAP = 300.0


@dataclass(frozen=True)
class RetryPolicy:
    """When to try again, and when to give up (dead-letter)."""

    deadline: float = DEFAULT_DEADLINE_SECONDS
    base: float = DEFAULT_BACKOFF_BASE
    cap: float = DEFAULT_BACKOFF_CAP
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds to wait after the ``attempts``-th failed try (full jitter, >= Retry-After)."""
        exp = min(self.cap, self.base * (2 ** max(0, min(attempts - 1, 30))))
        delay = self.rng.uniform(0, exp)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return delay

    def next_attempt(
        self, *, attempts: int, now: float, window_start: float, retry_after: float | None = None
    ) -> float | None:
        """When to try next, or None when the next try would fall past the deadline."""
        at = now + self.backoff(attempts, retry_after)
        if at > window_start + self.deadline:
            return None
        return at


@dataclass(frozen=True)
class RateLimit:
    """A token bucket per routing key, kept in the database so every worker shares it.

    ``per_minute=None`` turns client-side limiting off (benchmarks, the sandbox's sink mode).
    """

    per_minute: float | None = EVENTS_PER_MINUTE_PER_ROUTING_KEY
    burst: float | None = None

    @property
    def enabled(self) -> bool:
        return self.per_minute is not None and self.per_minute > 0

    @property
    def rate(self) -> float:
        """Tokens per second."""
        return (self.per_minute or 0.0) / 60.0

    @property
    def capacity(self) -> float:
        if self.burst is not None:
            return self.burst
        return max(1.0, (self.per_minute or 0.0) / 60.0 * 10)


OFF = RateLimit(per_minute=None)
#: The REST API budget of one credential, as a REST worker's bucket: PagerDuty counts 960
#: requests per minute, and a bucket of ``burst`` tokens refilled at ``per_minute`` lets through
#: up to burst + per_minute in any minute, so the two add up to 960 (16 at once, then 944/min).
#: A REST row's ``routing_key`` (``rest:<credential fingerprint>``) names the bucket, kept in the
#: database, so every process sending with that credential shares the one budget.
REST_RATE_LIMIT = RateLimit(per_minute=REST_REQUESTS_PER_MINUTE - REST_BURST, burst=REST_BURST)
