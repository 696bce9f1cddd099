"""The delivery worker: claim due rows, send them, record each outcome (at-least-once).

Concurrent across ordering keys, strictly ordered within one: storage hands out only the earliest
active row of a key, so a key's next row waits while an earlier one is in flight or retrying.
Outcomes are written back in batches (one transaction per loop turn), the same group-commit idea
as enqueueing. The wire layer only classifies (:mod:`pagerbridge.pagerduty.outcome`); backoff,
deadline and dead-lettering live here and in :mod:`pagerbridge.outbox.policy`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from pagerbridge.errors import StorageError
from pagerbridge.outbox.core import Clock, Outbox
from pagerbridge.outbox.metrics import MetricsHooks, NullMetrics
from pagerbridge.outbox.policy import REST_RATE_LIMIT, RateLimit, RetryPolicy
from pagerbridge.outbox.types import (
    DEAD,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_RETENTION_SECONDS,
    DELIVERED,
    EVENT_KINDS,
    PENDING,
    Completion,
    DrainResult,
    Held,
    OutboxRow,
)
from pagerbridge.pagerduty.durations import format_duration
from pagerbridge.pagerduty.outcome import Accepted, Outcome, Rejected, Retry, with_status

if TYPE_CHECKING:
    from pagerbridge.outbox.health import WorkerHealth
    from pagerbridge.pagerduty.events import EventsClient

log = logging.getLogger(__name__)

#: ``async sender(body, change, destination) -> Outcome``; by default ``EventsClient.send_raw``
#: to the worker's own events URL. ``destination`` is the row's (a forwarder passes it on).
Sender = Callable[[bytes, bool, str | None], Awaitable[Outcome]]

DEFAULT_CONCURRENCY = 64
CLEAN_INTERVAL_SECONDS = 300.0
#: How often a worker looks for rows held for another destination (to warn about them).
HELD_CHECK_SECONDS = 60.0


def describe_rejection(outcome: Rejected) -> str:
    """PagerDuty's words, kept on the dead row: the status once, the message, every error."""
    text = with_status(outcome.status, outcome.message)
    if outcome.errors:
        text += ": " + "; ".join(outcome.errors)
    return text


def describe_retry(outcome: Retry) -> str:
    """Why a try failed, kept on the row: the status once (``classify`` already names it)."""
    return with_status(outcome.status, outcome.reason)


def _log_dead(row: OutboxRow, why: str) -> None:
    """A dead letter is news for the operator: said at warning level, by row id and dedup key,
    never with the routing key (anyone holding it can page)."""
    alert = f" (dedup key {row.dedup_key})" if row.dedup_key else ""
    log.warning(
        "outbox row %d%s is a dead letter, %s; see: pd-queue show %d", row.id, alert, why, row.id
    )


class DeliveryWorker:
    """Delivers the outbox's rows to the Events API (or any ``sender``).

    ``events_url`` is a base URL (``https://events.pagerduty.com``) or one ending in
    ``/v2/enqueue``; ``clock`` (default: the outbox's) schedules retries and judges the deadline,
    so tests move time instead of waiting. Several workers, in one process or many, may share a
    database: claims are leased, the rate limit's token buckets live in the database.

    The worker delivers only rows meant for its ``destination`` (by default its events URL's
    base) or for none; others are *held* for a worker configured for theirs (logged once each).
    A worker with a ``sender`` and no ``destination`` (a forwarder) takes every row.

    It claims only rows of ``kinds``: Events API rows by default (the agent, update-watcher);
    the hub's REST worker passes ``kinds=(REST_KIND,)`` and its own ``sender``. The rate limit
    is a token bucket per row ``routing_key`` in the database: 120/min per routing key for
    Events API rows, and for a worker of REST rows only :data:`~policy.REST_RATE_LIMIT` (960
    requests per minute per credential, the bucket named by ``rest:<fingerprint>``), shared by
    every process on the database.
    """

    def __init__(
        self,
        outbox: Outbox,
        *,
        events_url: str | None = None,
        sender: Sender | None = None,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        rate_limit: RateLimit | None = None,
        concurrency: int = DEFAULT_CONCURRENCY,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        poll_interval: float = 1.0,
        retention: float = DEFAULT_RETENTION_SECONDS,
        metrics: MetricsHooks | None = None,
        health: WorkerHealth | None = None,
        proxy: str | None = None,
        timeout: float = 10.0,
        worker_id: str | None = None,
        destination: str | None = None,
        kinds: Sequence[str] = EVENT_KINDS,
    ) -> None:
        if sender is None and events_url is None:
            raise ValueError("DeliveryWorker needs events_url or sender")
        self.kinds = tuple(kinds)
        if not self.kinds:
            raise ValueError("DeliveryWorker needs at least one row kind to claim")
        #: Held rows are Events API rows meant for another Events API: a worker for a
        #: destination that claims some looks for them (and warns); REST rows are never held.
        self._held_kinds = tuple(k for k in self.kinds if k in EVENT_KINDS)
        if sender is None and not set(self.kinds) <= set(EVENT_KINDS):
            raise ValueError("only Events API rows go to an events URL: other kinds need a sender")
        from pagerbridge.pagerduty.event_rules import events_base

        self.outbox = outbox
        self.storage = outbox.storage
        self.events_url = events_url
        if destination is None and sender is None and events_url is not None:
            destination = events_base(events_url)
        self.destination = destination
        #: Rows held for other destinations at the last look (pd-queue shows them too).
        self.held: list[Held] = []
        self._warned: set[str] = set()
        self.clock: Clock = clock or outbox.clock
        self.policy = policy or RetryPolicy()
        if rate_limit is None:
            events = set(self.kinds) & set(EVENT_KINDS)
            rate_limit = RateLimit() if events else REST_RATE_LIMIT
        self.rate_limit = rate_limit
        self.concurrency = max(1, concurrency)
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.retention = retention
        self.metrics: MetricsHooks = metrics or NullMetrics()
        #: Told whether claiming and recording work (the agent's /health reads it).
        self.health = health
        self.proxy = proxy
        self.timeout = timeout
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._sender = sender
        self._client: EventsClient | None = None
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- public --------------------------------------------------------------------------------

    def wake(self) -> None:
        """Look for work now (new rows were committed). Safe from any thread."""
        loop, event = self._loop, self._wake
        if loop is None or event is None:
            return
        try:
            if asyncio.get_running_loop() is loop:
                event.set()
                return
        except RuntimeError:
            pass
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(event.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set; then finish the calls in flight and return."""
        self._bind()
        self.outbox.listeners.append(self.wake)
        notify_stop = threading.Event()
        listener = None
        if self.storage.supports_notify:
            listener = threading.Thread(
                target=self._listen, args=(notify_stop,), name="outbox-notify", daemon=True
            )
            listener.start()
        stopper = asyncio.ensure_future(self._relay(stop))
        try:
            await self._loop_until(lambda: stop.is_set(), drain_end=None)
        finally:
            stopper.cancel()
            notify_stop.set()
            with contextlib.suppress(ValueError):
                self.outbox.listeners.remove(self.wake)
            await self._close_client()

    async def drain(self, timeout: float) -> DrainResult:  # noqa: ASYNC109 - pinned API
        """Deliver what is pending now, for at most ``timeout`` seconds (wall time).

        Returns early when nothing is left, or when every remaining row's next try falls after
        the timeout (e.g. PagerDuty asked us to come back later).
        """
        self._bind()
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        try:
            counts = await self._loop_until(lambda: loop.time() >= end, drain_end=end)
        finally:
            await self._close_client()
        remaining = await asyncio.to_thread(lambda: self.storage.pending_count(kinds=self.kinds))
        return DrainResult(
            delivered=counts[DELIVERED],
            dead=counts[DEAD],
            retried=counts[PENDING],
            remaining=remaining,
            timed_out=remaining > 0 and loop.time() >= end,
        )

    # -- the loop ------------------------------------------------------------------------------

    def _bind(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()

    async def _relay(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self.wake()

    def _listen(self, stop: threading.Event) -> None:
        """PostgreSQL LISTEN in a thread: a notification is a hint, polling still runs."""
        while not stop.is_set():
            try:
                if self.storage.wait_notify(min(self.poll_interval, 1.0)):
                    self.wake()
            except Exception:  # a lost listener only costs latency; polling continues
                log.debug("outbox notification listener failed", exc_info=True)
                stop.wait(self.poll_interval)

    async def _loop_until(
        self, should_stop: Callable[[], bool], *, drain_end: float | None
    ) -> dict[str, int]:
        assert self._wake is not None
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[Completion]] = set()
        done: list[Completion] = []
        counts = {DELIVERED: 0, DEAD: 0, PENDING: 0}
        last_clean = loop.time()
        next_held_check = loop.time()
        try:
            while True:
                # Clear before looking for work: a wake-up that arrives while we claim is kept.
                self._wake.clear()
                stopping = should_stop()
                free = 0 if stopping else self.concurrency - len(tasks)
                claimed: list[OutboxRow] = []
                if done or free > 0:
                    batch, done = done, []
                    try:
                        claimed = await asyncio.to_thread(
                            self.storage.claim,
                            now=self.clock(),
                            limit=free,
                            lease_seconds=self.lease_seconds,
                            worker=self.worker_id,
                            completions=batch,
                            destination=self.destination,
                            kinds=self.kinds,
                        )
                    except StorageError as exc:
                        # The database is away (restart, disk full, locked): keep the outcomes,
                        # wait, try again. Nothing is lost; leases bound any double delivery.
                        log.warning("outbox storage failed, retrying: %s", exc)
                        if self.health is not None:
                            self.health.failed(self.clock(), "claim", str(exc))
                        done = batch + done
                        if stopping:
                            break
                        await self._wait(set(), self.poll_interval)
                        continue
                    if self.health is not None:
                        self.health.succeeded(self.clock())
                    for c in batch:
                        if c.count_attempt:
                            counts[c.state] = counts.get(c.state, 0) + 1
                    for row in claimed:
                        tasks.add(loop.create_task(self._deliver(row)))
                if stopping:
                    break
                if drain_end is None and loop.time() - last_clean > CLEAN_INTERVAL_SECONDS:
                    last_clean = loop.time()
                    await asyncio.to_thread(self.outbox.clean_delivered, self.retention)
                held_check = self.destination is not None and self._held_kinds
                if held_check and loop.time() >= next_held_check:
                    next_held_check = loop.time() + HELD_CHECK_SECONDS
                    await self._look_for_held()
                if claimed and len(tasks) < self.concurrency:
                    continue  # there may be more due rows
                wait = self.poll_interval
                if not tasks and drain_end is not None:
                    nxt = await asyncio.to_thread(
                        lambda: self.storage.next_due(
                            destination=self.destination, kinds=self.kinds
                        )
                    )
                    if nxt is None:
                        break
                    until_due = nxt - self.clock()
                    if until_due > drain_end - loop.time():
                        break
                    wait = max(0.0, min(wait, until_due))
                if drain_end is not None:
                    wait = max(0.0, min(wait, drain_end - loop.time()))
                finished = await self._wait(tasks, wait)
                for task in finished:
                    tasks.discard(task)
                    done.append(task.result())
        finally:
            if tasks:
                # Finish the calls in flight and record them; a row whose record is lost comes
                # back when its lease expires (at-least-once).
                results = await asyncio.gather(*tasks, return_exceptions=True)
                final = done + [r for r in results if isinstance(r, Completion)]
                try:
                    await asyncio.to_thread(self.storage.complete, final, now=self.clock())
                except Exception as exc:  # a record lost here comes back when its lease expires
                    if self.health is not None:
                        self.health.failed(self.clock(), "record", str(exc))
                else:
                    if self.health is not None:
                        self.health.succeeded(self.clock())
                for c in final:
                    if c.count_attempt:
                        counts[c.state] = counts.get(c.state, 0) + 1
            elif done:
                await asyncio.to_thread(self.storage.complete, done, now=self.clock())
        return counts

    async def _look_for_held(self) -> None:
        """Warn once per destination about rows this worker holds (they wait for another)."""
        try:
            self.held = await asyncio.to_thread(
                lambda: self.storage.held(destination=self.destination, kinds=self._held_kinds)
            )
        except StorageError:
            return  # the claim path reports storage trouble
        for held in self.held:
            if held.destination in self._warned:
                continue
            self._warned.add(held.destination)
            log.warning(
                "holding %d outbox row(s) meant for %s (first: row %d): this worker delivers "
                "to %s only. A worker configured for %s delivers them, or re-address them "
                "with: pd-queue retry --held --to URL",
                held.rows,
                held.destination,
                held.first_id,
                self.destination,
                held.destination,
            )

    async def _wait(
        self, tasks: set[asyncio.Task[Completion]], delay: float
    ) -> set[asyncio.Task[Completion]]:
        """Until a delivery finishes, someone wakes us, or ``delay`` passes."""
        assert self._wake is not None
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait([*tasks, waker], timeout=delay, return_when="FIRST_COMPLETED")
        finally:
            waker.cancel()
        if tasks:
            await asyncio.sleep(0)  # let siblings finishing in the same instant join the batch
        return {t for t in tasks if t.done()}

    # -- one row -------------------------------------------------------------------------------

    async def _deliver(self, row: OutboxRow) -> Completion:
        if self.rate_limit.enabled:
            try:
                wait = await asyncio.to_thread(
                    self.storage.take_token,
                    row.routing_key,
                    rate=self.rate_limit.rate,
                    burst=self.rate_limit.capacity,
                    now=self.clock(),
                )
            except StorageError as exc:  # no budget known: do not send blind, try again soon
                log.warning("rate-limit bucket unavailable: %s", exc)
                wait = self.poll_interval
            if wait > 0:
                self.metrics.rate_limited(row.routing_key, wait)
                return Completion(
                    row.id, PENDING, self.clock() + wait, row.last_error, count_attempt=False
                )
        try:
            outcome = await self._send(row.payload.encode(), row.change, row.destination)
        except Exception as exc:  # a sender must not raise; if it does, retry rather than lose
            log.warning("sender failed for outbox row %s: %r", row.id, exc)
            outcome = Retry(reason=f"{type(exc).__name__}: {exc}")
        if (
            isinstance(outcome, Retry)
            and outcome.status == 429
            and outcome.delay
            and self.rate_limit.enabled
        ):
            # PagerDuty said "slow down" for this routing key: hold all of its events, in every
            # worker sharing the database, not just this one.
            with contextlib.suppress(StorageError):
                await asyncio.to_thread(
                    self.storage.throttle, row.routing_key, until=self.clock() + outcome.delay
                )
        return self._judge(row, outcome)

    def _judge(self, row: OutboxRow, outcome: Outcome) -> Completion:
        now = self.clock()
        if isinstance(outcome, Accepted):
            self.metrics.delivered(row.routing_key, max(0.0, now - row.created_at))
            return Completion(row.id, DELIVERED)
        if isinstance(outcome, Rejected):
            reason = describe_rejection(outcome)
            self.metrics.dead(row.routing_key, reason)
            _log_dead(row, f"rejected by PagerDuty: {reason}")
            return Completion(row.id, DEAD, last_error=reason)
        reason = describe_retry(outcome)
        attempts = row.attempts + 1
        at = self.policy.next_attempt(
            attempts=attempts, now=now, window_start=row.deadline_from, retry_after=outcome.delay
        )
        if at is None:
            final = (
                f"gave up after {attempts} attempts: the next try would fall past the "
                f"{format_duration(self.policy.deadline)} retry deadline; last: {reason}"
            )
            self.metrics.dead(row.routing_key, final)
            _log_dead(row, final)
            return Completion(row.id, DEAD, last_error=final)
        self.metrics.retried(row.routing_key, reason)
        return Completion(row.id, PENDING, next_attempt_at=at, last_error=reason)

    async def _send(self, body: bytes, change: bool, destination: str | None) -> Outcome:
        if self._sender is not None:
            return await self._sender(body, change, destination)
        if self._client is None:
            from pagerbridge.pagerduty.events import EventsClient

            self._client = EventsClient(self.events_url, proxy=self.proxy, timeout=self.timeout)
        return await self._client.send_raw(body, change=change)

    async def _close_client(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()
