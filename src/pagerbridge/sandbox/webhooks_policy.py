"""PagerDuty's webhook delivery rules as data: timeouts, retry window, backoff, disablement.

The documented figures (webhooks/02-Behavior.md) are the defaults: a 2xx within 5 seconds,
retries for up to 48 hours, 3 consecutive drops disable a subscription for 24 hours, 256 KB
maximum size. PagerDuty does not publish its backoff schedule; ours is exponential from 10 s
to 1 h with jitter. Every figure is a field, so tests shrink them to milliseconds.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

USER_AGENT = "PagerDuty-Webhook/V3.0"
#: PagerDuty expects a 2xx within this many seconds.
WEBHOOK_TIMEOUT = 5.0
#: Failing webhooks are retried for up to 48 hours, then dropped.
RETRY_WINDOW = 48 * 3600.0
#: Consecutive drops after which a subscription is disabled ...
DISABLE_AFTER_DROPS = 3
#: ... for this long.
DISABLED_FOR = 24 * 3600.0
#: Ordering and delivery are guaranteed up to 55 KB; bigger ones are best effort ...
WEBHOOK_GUARANTEED_BYTES = 56_320
#: ... and anything over 256 KB is always dropped.
WEBHOOK_MAX_BYTES = 256 * 1024


@dataclass(frozen=True)
class WebhookPolicy:
    """Delivery figures; the defaults are PagerDuty's documented ones."""

    timeout: float = WEBHOOK_TIMEOUT
    retry_window: float = RETRY_WINDOW
    first_delay: float = 10.0
    max_delay: float = 3600.0
    multiplier: float = 2.0
    #: Fraction of each delay that is randomised (0: exact delays, for tests).
    jitter: float = 0.5
    disable_after: int = DISABLE_AFTER_DROPS
    disabled_for: float = DISABLED_FOR

    def delay(self, attempts: int, retry_after: float | None, rng: Callable[[], float]) -> float:
        """Seconds to wait after ``attempts`` failed attempts; a Retry-After wins, capped."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        base = min(self.max_delay, self.first_delay * self.multiplier ** max(attempts - 1, 0))
        return base * (1.0 - self.jitter) + base * self.jitter * rng()


def classify_status(status: int) -> str:
    """``delivered`` for 2xx, ``retry`` for 429 and 5xx, ``dropped`` for anything else."""
    if 200 <= status < 300:
        return "delivered"
    if status == 429 or status >= 500:
        return "retry"
    return "dropped"


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """A Retry-After header in seconds (delta-seconds or an HTTP date), None if absent/bad."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(moment.timestamp() - current, 0.0)


@dataclass(frozen=True)
class Attempt:
    """One POST: when, what came back (None: no HTTP answer), and how it was classified."""

    at: float
    status: int | None
    outcome: str  # delivered | retry | dropped
    detail: str
    retry_after: float | None = None
    #: Wall-clock time of the attempt (ISO 8601), for people reading the record.
    time: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "status": self.status,
            "outcome": self.outcome,
            "detail": self.detail,
        }


@dataclass
class Delivery:
    """One webhook (one event to one subscription) and its attempts."""

    webhook_id: str
    subscription_id: str
    event_id: str
    event_type: str
    resource_id: str
    url: str
    body: bytes
    headers: dict[str, str]
    created_at: float
    created_time: str = ""
    status: str = "pending"  # pending | retrying | delivered | dropped
    reason: str | None = None
    first_attempt_at: float | None = None
    next_attempt_in: float | None = None
    attempts: list[Attempt] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for the admin endpoint. Custom header values are left out: PagerDuty
        redacts them in its API too (they often carry credentials)."""
        return {
            "webhook_id": self.webhook_id,
            "subscription_id": self.subscription_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "resource_id": self.resource_id,
            "created": self.created_time,
            "url": self.url,
            "status": self.status,
            "reason": self.reason,
            "attempts": [a.as_dict() for a in self.attempts],
            "next_attempt_in": self.next_attempt_in,
            "size": len(self.body),
        }
