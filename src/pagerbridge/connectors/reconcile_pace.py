"""Reconcile's share of the REST budget: at most half of PagerDuty's 960 requests a minute.

The outbound sender owns the other half (and any the reconciler leaves unused); a reconcile of
thousands of incidents therefore never starves the changes users make. Each request takes a
token from reconcile's own bucket (``reconcile:<connector id>``, half the budget) and one from
the connector's whole budget (``rest:<connector id>``, which the sender also draws on), so the
two together stay under PagerDuty's 960. Both are the outbox's token buckets, kept in the
database, so they hold across processes too; without an outbox (a bare ``Reconciler`` in a
script) a bucket in memory keeps the half for the one process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

from pagerbridge.outbox.policy import RateLimit
from pagerbridge.outbox.sql_base import token_bucket
from pagerbridge.pagerduty.limits import REST_REQUESTS_PER_MINUTE

#: A bucket of ``burst`` refilled at ``per_minute`` lets burst + per_minute through in any
#: minute: 40 + 440 = 480, half of the 960 a credential may send.
RECONCILE_BURST: Final = 40
RECONCILE_BUDGET: Final = RateLimit(
    per_minute=REST_REQUESTS_PER_MINUTE // 2 - RECONCILE_BURST, burst=RECONCILE_BURST
)


class TakeToken(Protocol):
    """The outbox storage's ``take_token``: 0 when a token was taken, else seconds to wait."""

    def __call__(self, routing_key: str, *, rate: float, burst: float, now: float) -> float: ...


def bucket_key(connector_id: int) -> str:
    return f"reconcile:{connector_id}"


class Pacer:
    """``await pacer()`` before each request: returns when the budget allows one more."""

    def __init__(
        self,
        key: str,
        *,
        take: TakeToken | None = None,
        limit: RateLimit = RECONCILE_BUDGET,
        shared: tuple[str, RateLimit] | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.key = key
        self.limit = limit
        #: The bucket shared with the sender (with ``take`` only): (key, its limit).
        self.shared = shared
        self.clock = clock
        self.sleep = sleep
        self._take = take
        self._local: tuple[float, float] | None = None
        #: Requests allowed so far, and the seconds spent waiting for the budget.
        self.requests = 0
        self.waited = 0.0

    async def __call__(self) -> None:
        await self._until(self.key, self.limit)
        if self.shared is not None and self._take is not None:
            await self._until(*self.shared)
        self.requests += 1

    async def _until(self, key: str, limit: RateLimit) -> None:
        """Return once a token of ``key``'s bucket is taken."""
        while (wait := await self._wait(key, limit)) > 0:
            self.waited += wait
            await self.sleep(wait)

    async def _wait(self, key: str, limit: RateLimit) -> float:
        if not limit.enabled:
            return 0.0
        rate, burst = limit.rate, limit.capacity
        if self._take is not None:
            take = self._take
            return await asyncio.to_thread(
                lambda: take(key, rate=rate, burst=burst, now=self.clock())
            )
        tokens, stamp, wait = token_bucket(self._local, rate=rate, burst=burst, now=self.clock())
        self._local = (tokens, stamp)
        return wait
