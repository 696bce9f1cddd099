"""Outgoing v3 webhooks: the sandbox delivers incident changes like PagerDuty does.

Behaviour follows PagerDuty's webhooks/02-Behavior.md: one event per POST, signed with every
active secret (``X-PagerDuty-Signature: v1=...``), ``X-Webhook-Id`` repeated on each attempt;
2xx is done; 5xx, 429, timeouts and connection errors are retried with backoff for up to 48 hours;
other 4xx are dropped; webhooks for one subscription and resource wait for each other (one queue
per key, each drained by its own task, so different incidents go in parallel); after 3
consecutive drops the subscription is disabled for 24 hours and its queue dropped.

Subscriptions are read live from a callable returning PagerDuty-shaped ``webhook_subscription``
dicts (the sandbox's state), so a subscription created through the REST API takes effect at
once; disabling one writes ``active: false`` and ``delivery_method.temporarily_disabled: true``
back into that dict, where the REST API shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import ssl
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import aiohttp

from pagerbridge.pagerduty.webhooks import build_envelope
from pagerbridge.sandbox.webhooks_data import data_for, resource_id
from pagerbridge.sandbox.webhooks_policy import (
    WEBHOOK_MAX_BYTES,
    Attempt,
    Delivery,
    WebhookPolicy,
    classify_status,
    retry_after_seconds,
)
from pagerbridge.sandbox.webhooks_subs import Target, matches, subscription_secrets

log = logging.getLogger("pagerbridge.sandbox.webhooks")

Resource = dict[str, Any]
SubscriptionSource = Callable[[], Iterable[Resource]]
#: How many deliveries the record keeps (oldest forgotten first), so a long run stays bounded.
RECORD_LIMIT = 10_000
#: The ``reason`` of a webhook lost through the ``drop_webhook`` fault (never sent at all).
DROPPED_ON_PURPOSE = "dropped on purpose (fault injection: drop_webhook)"


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class WebhookDispatcher:
    """Delivers v3 webhook events to matching subscriptions, in order per incident."""

    def __init__(
        self,
        subscriptions: SubscriptionSource | None = None,
        *,
        policy: WebhookPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        drop_on_purpose: Callable[[str], bool] | None = None,
    ) -> None:
        self._registry: dict[str, Resource] = {}
        self._source = subscriptions or (lambda: self._registry.values())
        self.policy = policy or WebhookPolicy()
        self.clock = clock
        self.now = now
        self.sleep = sleep
        self.rng = rng
        self._session = session
        #: TLS trust for https receivers (None: the system's CAs, as PagerDuty verifies them).
        self.ssl_context = ssl_context
        self._own_session = session is None
        #: ``(event_type) -> bool``: True loses this webhook on purpose (fault injection).
        self.drop_on_purpose = drop_on_purpose
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queues: dict[tuple[str, str], deque[Delivery]] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._record: deque[Delivery] = deque(maxlen=RECORD_LIMIT)
        self._drops: dict[str, int] = {}
        self._disabled_until: dict[str, float] = {}
        self._subs_by_id: dict[str, Resource] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    # -- subscriptions -----------------------------------------------------------------------

    def add_subscription(self, subscription: Resource) -> None:
        """Register a subscription when no external source was given (tests, scripts)."""
        self._registry[str(subscription["id"])] = subscription

    def remove_subscription(self, subscription_id: str) -> None:
        self._registry.pop(subscription_id, None)

    def enable(self, subscription_id: str) -> None:
        """Re-enable a disabled subscription (``POST /webhook_subscriptions/{id}/enable``)."""
        self._drops.pop(subscription_id, None)
        self._disabled_until.pop(subscription_id, None)
        sub = self._find(subscription_id)
        if sub is not None:
            sub["active"] = True
            sub.setdefault("delivery_method", {})["temporarily_disabled"] = False

    def _find(self, subscription_id: str) -> Resource | None:
        for sub in self._source():
            if str(sub.get("id")) == subscription_id:
                return sub
        return self._subs_by_id.get(subscription_id)

    def _reenable_expired(self) -> None:
        now = self.clock()
        for sub_id, until in list(self._disabled_until.items()):
            if now >= until:
                self.enable(sub_id)

    # -- publishing --------------------------------------------------------------------------

    def publish(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        *,
        service_id: str,
        team_ids: list[str],
        agent: Mapping[str, Any] | None = None,
    ) -> None:
        """The sandbox's publisher hook: queue one webhook per matching subscription."""
        self.submit(event_type, resource, service_id=service_id, team_ids=team_ids, agent=agent)

    def submit(
        self,
        event_type: str,
        resource: Mapping[str, Any],
        *,
        service_id: str,
        team_ids: list[str],
        agent: Mapping[str, Any] | None = None,
    ) -> list[Delivery]:
        """Like :meth:`publish`, returning the queued webhooks (none if nothing matched).

        Synchronous, so the sandbox's state code can call it; safe from the event loop's thread
        (the usual case) and from another thread. The data is snapshotted now.
        """
        self._reenable_expired()
        targets = [
            Target.of(sub)
            for sub in self._source()
            if str(sub.get("id")) not in self._disabled_until
            and matches(sub, event_type, service_id=service_id, team_ids=team_ids)
        ]
        if not targets:
            return []
        for target in targets:
            self._subs_by_id[target.id] = target.subscription
        data = data_for(event_type, resource)
        deliveries = self._deliveries(event_type, data, targets, agent)
        self._hand_over(deliveries)
        return deliveries

    def ping(self, subscription_id: str) -> Delivery | None:
        """Send ``pagey.ping`` to one subscription, whatever its events and filter
        (``POST /webhook_subscriptions/{id}/ping``); None if there is no such subscription."""
        sub = next((s for s in self._source() if str(s.get("id")) == subscription_id), None)
        if sub is None:
            return None
        data = {"message": "Hello from your friend Pagey!", "type": "ping"}
        deliveries = self._deliveries("pagey.ping", data, [Target.of(sub)], None)
        self._hand_over(deliveries)
        return deliveries[0]

    def _deliveries(
        self,
        event_type: str,
        data: Mapping[str, Any],
        targets: list[Target],
        agent: Mapping[str, Any] | None,
    ) -> list[Delivery]:
        """One envelope (one event id, one body) and a webhook per target."""
        envelope = build_envelope(
            event_type,
            data,
            agent=dict(agent) if agent is not None else None,
            occurred_at=self.now(),
        )
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        deliveries = [
            Delivery(
                webhook_id=str(uuid.uuid4()),
                subscription_id=target.id,
                event_id=str(envelope["event"]["id"]),
                event_type=event_type,
                resource_id=resource_id(data) or event_type,
                url=target.url,
                body=body,
                headers={},
                created_at=self.clock(),
                created_time=_iso(self.now()),
            )
            for target in targets
        ]
        for target, delivery in zip(targets, deliveries, strict=True):
            delivery.headers = target.request_headers(body, delivery.webhook_id)
        return deliveries

    def _hand_over(self, deliveries: list[Delivery]) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is not None and running is not loop and not loop.is_closed():
            loop.call_soon_threadsafe(self._enqueue, deliveries)
        else:
            self._enqueue(deliveries)

    def _enqueue(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            self._record.append(delivery)
            if len(delivery.body) > WEBHOOK_MAX_BYTES:
                self._finish(delivery, "dropped", "webhook larger than 256 KB", count=False)
                continue
            if self.drop_on_purpose is not None and self.drop_on_purpose(delivery.event_type):
                self._finish(delivery, "dropped", DROPPED_ON_PURPOSE, count=False)
                continue
            key = (delivery.subscription_id, delivery.resource_id)
            self._queues.setdefault(key, deque()).append(delivery)
            self._idle.clear()
            self._spawn(key)

    def _spawn(self, key: tuple[str, str]) -> None:
        if self._loop is None or key in self._tasks:
            return
        self._tasks[key] = self._loop.create_task(self._drain(key), name=f"webhooks:{key}")

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session and start draining (call from the app's lifespan)."""
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True
        for key in list(self._queues):
            self._spawn(key)
        self._update_idle()

    async def stop(self) -> None:
        """Cancel the drain tasks (undelivered webhooks stay pending) and close the session."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None
        self._loop = None

    async def wait_idle(self) -> None:
        """Wait until every queued webhook was delivered or dropped (wrap in a timeout)."""
        await self._idle.wait()

    def deliveries(self) -> list[Delivery]:
        """Every recorded webhook, oldest first."""
        return list(self._record)

    def record(self) -> list[dict[str, Any]]:
        """The delivery record as JSON-ready dicts (for ``GET /_sandbox/webhooks``)."""
        return [d.as_dict() for d in self._record]

    def clear(self) -> None:
        """Forget the record, the queues and the drop counters (the sandbox's reset)."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._queues.clear()
        self._record.clear()
        self._drops.clear()
        self._disabled_until.clear()
        self._idle.set()

    # -- delivery ----------------------------------------------------------------------------

    async def _drain(self, key: tuple[str, str]) -> None:
        queue = self._queues[key]
        try:
            while queue:
                await self._deliver(queue[0])
                if queue and queue[0].status in {"delivered", "dropped"}:
                    queue.popleft()
        finally:
            if not queue:
                self._queues.pop(key, None)
            self._tasks.pop(key, None)
            self._update_idle()

    def _update_idle(self) -> None:
        if not self._queues:
            self._idle.set()

    async def _deliver(self, delivery: Delivery) -> None:
        policy = self.policy
        while True:
            if delivery.subscription_id in self._disabled_until:
                self._finish(delivery, "dropped", "subscription disabled", count=False)
                return
            if delivery.first_attempt_at is None:
                delivery.first_attempt_at = self.clock()
            wall = _iso(self.now())
            attempt = replace(await self._attempt(delivery), time=wall)
            delivery.attempts.append(attempt)
            if attempt.outcome == "delivered":
                self._drops.pop(delivery.subscription_id, None)
                self._finish(delivery, "delivered", None, count=False)
                return
            if attempt.outcome == "dropped":
                self._finish(delivery, "dropped", attempt.detail, count=True)
                return
            delay = policy.delay(len(delivery.attempts), attempt.retry_after, self.rng)
            if self.clock() + delay - delivery.first_attempt_at > policy.retry_window:
                self._finish(delivery, "dropped", f"retries exhausted: {attempt.detail}", True)
                return
            delivery.status = "retrying"
            delivery.next_attempt_in = delay
            await self.sleep(delay)

    async def _attempt(self, delivery: Delivery) -> Attempt:
        session = self._session
        assert session is not None, "WebhookDispatcher.start() was not called"
        started = self.clock()
        timeout = aiohttp.ClientTimeout(total=self.policy.timeout)
        try:
            async with session.post(
                delivery.url,
                data=delivery.body,
                headers=delivery.headers,
                timeout=timeout,
                allow_redirects=False,
                ssl=self.ssl_context if self.ssl_context is not None else True,
            ) as response:
                await response.read()
                status = response.status
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        except TimeoutError:
            return Attempt(started, None, "retry", f"no response within {self.policy.timeout}s")
        except aiohttp.ClientConnectorCertificateError as exc:
            expired = "expired" in str(exc).lower()
            return Attempt(started, None, "retry" if expired else "dropped", f"TLS: {exc}")
        except aiohttp.ClientSSLError as exc:
            return Attempt(started, None, "dropped", f"TLS: {exc}")
        except (aiohttp.ClientError, OSError) as exc:
            return Attempt(started, None, "retry", f"connection failed: {exc.__class__.__name__}")
        except ValueError as exc:  # a URL aiohttp cannot use
            return Attempt(started, None, "dropped", f"invalid URL: {exc}")
        outcome = classify_status(status)
        return Attempt(started, status, outcome, f"HTTP {status}", retry_after)

    def _finish(self, delivery: Delivery, status: str, reason: str | None, count: bool) -> None:
        delivery.status = status
        delivery.reason = reason
        delivery.next_attempt_in = None
        if status == "dropped":
            log.info(
                "webhook %s (%s) to subscription %s dropped: %s",
                delivery.webhook_id,
                delivery.event_type,
                delivery.subscription_id,
                reason,
            )
        if not count:
            return
        sub_id = delivery.subscription_id
        self._drops[sub_id] = self._drops.get(sub_id, 0) + 1
        if self._drops[sub_id] >= self.policy.disable_after:
            self._disable(sub_id)

    def _disable(self, sub_id: str) -> None:
        """Disable for ``policy.disabled_for`` and drop everything queued for it."""
        self._disabled_until[sub_id] = self.clock() + self.policy.disabled_for
        log.warning(
            "webhook subscription %s disabled for %gs after %d consecutive drops",
            sub_id,
            self.policy.disabled_for,
            self._drops.get(sub_id, 0),
        )
        sub = self._find(sub_id)
        if sub is not None:
            sub["active"] = False
            sub.setdefault("delivery_method", {})["temporarily_disabled"] = True
        for key, queue in self._queues.items():
            if key[0] != sub_id:
                continue
            # The head may be mid-attempt; its own loop drops it before the next attempt.
            for delivery in list(queue)[1:]:
                self._finish(delivery, "dropped", "subscription disabled", count=False)
                queue.remove(delivery)


__all__ = [
    "Attempt",
    "Delivery",
    "WebhookDispatcher",
    "WebhookPolicy",
    "matches",
    "subscription_secrets",
]
