"""Delivery over real loopback HTTP: ordering under faults, dead letters, deadline, rate limit.

The worker's real EventsClient talks to ``tests/servers/outbox_target.py``; time-dependent cases
use a fake clock so the 24 h deadline is tested without waiting.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import defaultdict
from typing import Any

import pytest

from pagerbridge.outbox import (
    DEAD,
    DELIVERED,
    IN_FLIGHT,
    PENDING,
    DeliveryWorker,
    Outbox,
    RateLimit,
    RetryPolicy,
    open_outbox,
)
from pagerbridge.outbox.policy import OFF
from servers.outbox_target import Fault, running_target

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
RK2 = "0123456789abcdef0123456789abcdef"
FAST = RetryPolicy(base=0.01, cap=0.05, rng=random.Random(7))


class FakeClock:
    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def event(n: int, dedup: str, rk: str = RK, action: str = "trigger") -> dict[str, Any]:
    return {
        "routing_key": rk,
        "event_action": action,
        "dedup_key": dedup,
        "payload": {
            "summary": f"event {n}",
            "source": "test",
            "severity": "error",
            "custom_details": {"n": n},
        },
    }


def n_of(a: Any) -> int:
    return int(a.event["payload"]["custom_details"]["n"])


@pytest.mark.parametrize("workers", [1, 2])
async def test_order_per_key_holds_under_429_5xx_timeouts_and_drops(
    database_url: str, workers: int
) -> None:
    outbox = open_outbox(database_url)
    keys = [(rk, f"key-{i}") for rk in (RK, RK2) for i in range(5)]
    expected: dict[tuple[str, str], list[int]] = defaultdict(list)
    for n in range(60):
        rk, dedup = keys[n % len(keys)]
        outbox.enqueue_event(event(n, dedup, rk))
        expected[(rk, dedup)].append(n)
    rng = random.Random(42)

    def chaos(ev: dict[str, Any], seen: int) -> Fault | None:
        roll = rng.random()
        if roll < 0.12:
            return Fault(429, headers={"Retry-After": "0"})
        if roll < 0.24:
            return Fault(503)
        if roll < 0.30:
            return Fault(delay=1.0)  # longer than the client's timeout
        if roll < 0.36:
            return Fault(drop=True)
        return None

    async with running_target() as target:
        target.faults.append(chaos)
        stores = [outbox] + [open_outbox(database_url) for _ in range(workers - 1)]
        results = await asyncio.gather(
            *(
                DeliveryWorker(
                    ob,
                    events_url=target.url,
                    policy=FAST,
                    rate_limit=OFF,
                    timeout=0.3,
                    poll_interval=0.05,
                ).drain(timeout=60)
                for ob in stores
            )
        )
    assert sum(r.delivered for r in results) == 60
    assert outbox.storage.pending_count() == 0
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for a in target.accepted():
        seen[(a.routing_key, a.dedup_key or "")].append(n_of(a))
    for key, order in expected.items():
        got = seen[key]
        assert got == sorted(got), f"{key} out of order: {got}"  # duplicates stay in place
        assert sorted(set(got)) == order  # every event arrived
    assert sum(r.retried for r in results) > 0  # the faults really happened
    assert outbox.stats().by_state == {DELIVERED: 60}
    for ob in stores:
        await ob.aclose()


async def test_400_is_dead_at_once_with_pagerduty_errors(sqlite_url: str) -> None:
    outbox = open_outbox(sqlite_url)
    bad = outbox.enqueue_event(event(0, "k"))
    good = outbox.enqueue_event(event(1, "k"))
    body = {
        "status": "invalid event",
        "message": "Event object is invalid",
        "errors": ["'payload.source' is missing or blank"],
    }

    def reject_first(ev: dict[str, Any], seen: int) -> Fault | None:
        return Fault(400, body=body) if ev["payload"]["custom_details"]["n"] == 0 else None

    async with running_target() as target:
        target.faults.append(reject_first)
        result = await DeliveryWorker(
            outbox, events_url=target.url, policy=FAST, rate_limit=OFF
        ).drain(timeout=10)
    assert (result.delivered, result.dead, result.remaining) == (1, 1, 0)
    dead = outbox.get(bad.id)
    assert dead is not None and dead.state == DEAD and dead.attempts == 1
    assert "HTTP 400" in (dead.last_error or "")
    assert "'payload.source' is missing or blank" in (dead.last_error or "")
    assert outbox.get(good.id).state == DELIVERED  # type: ignore[union-attr]
    assert len(target.arrivals) == 2  # no retry of the rejected event
    outbox.close()


async def test_deadline_dead_letters_after_24h_without_waiting(sqlite_url: str) -> None:
    clock = FakeClock()
    outbox = open_outbox(sqlite_url, clock=clock)
    row = outbox.enqueue_event(event(0, "k"))

    def always_down(ev: dict[str, Any], seen: int) -> Fault:
        return Fault(503, headers={"Retry-After": "3600"})

    async with running_target() as target:
        target.faults.append(always_down)
        worker = DeliveryWorker(outbox, events_url=target.url, rate_limit=OFF)
        first = await worker.drain(timeout=5)
        r = outbox.get(row.id)
        assert r is not None and r.state == PENDING and r.attempts == 1
        assert r.next_attempt_at >= clock() + 3600  # Retry-After honoured
        assert "503" in (r.last_error or "")
        assert (first.retried, first.remaining, first.timed_out) == (1, 1, False)
        for _ in range(23):  # every hour for 23 hours: retried, never dead before the deadline
            clock.advance(3600)
            await worker.drain(timeout=5)
            assert outbox.get(row.id).state == PENDING  # type: ignore[union-attr]
        clock.advance(3600)
        last = await worker.drain(timeout=5)
    r = outbox.get(row.id)
    assert r is not None and r.state == DEAD and last.dead == 1
    assert "gave up after 25 attempts: the next try would fall past the 24 h retry deadline" in (
        r.last_error or ""
    )
    assert "503" in (r.last_error or "")
    assert len(target.arrivals) == 25
    outbox.close()


async def test_rate_limit_per_routing_key_is_shared(sqlite_url: str) -> None:
    clock = FakeClock()
    outbox = open_outbox(sqlite_url, clock=clock)
    for n in range(5):
        outbox.enqueue_event(event(n, f"k{n}"))
    outbox.enqueue_event(event(9, "other", rk=RK2))
    limit = RateLimit(per_minute=60, burst=2)
    async with running_target() as target:
        w1 = DeliveryWorker(outbox, events_url=target.url, rate_limit=limit)
        w2 = DeliveryWorker(
            open_outbox(sqlite_url, clock=clock), events_url=target.url, rate_limit=limit
        )
        await w1.drain(timeout=0.5)
        await w2.drain(timeout=0.5)  # a second worker shares the bucket: nothing more for RK
        by_key = defaultdict(int)
        for a in target.accepted():
            by_key[a.routing_key] += 1
        assert by_key == {RK: 2, RK2: 1}
        deferred = outbox.list_rows(states=[PENDING])
        assert len(deferred) == 3 and all(r.attempts == 0 for r in deferred)
        clock.advance(1.0)  # one token per second
        await w2.drain(timeout=0.5)
        assert sum(1 for a in target.accepted() if a.routing_key == RK) == 3
        clock.advance(10.0)
        await w1.drain(timeout=0.5)
    assert outbox.stats().by_state == {DELIVERED: 6}
    await w2.outbox.aclose()
    outbox.close()


async def test_rows_of_a_dead_worker_come_back_after_the_lease(sqlite_url: str) -> None:
    clock = FakeClock()
    outbox = open_outbox(sqlite_url, clock=clock)
    row = outbox.enqueue_event(event(0, "k"))
    claimed = outbox.storage.claim(now=clock(), limit=10, lease_seconds=60, worker="crashed")
    assert [r.id for r in claimed] == [row.id]
    async with running_target() as target:
        worker = DeliveryWorker(outbox, events_url=target.url, rate_limit=OFF, lease_seconds=60)
        assert (await worker.drain(timeout=0.3)).delivered == 0
        assert outbox.get(row.id).state == IN_FLIGHT  # type: ignore[union-attr]
        clock.advance(61)
        assert (await worker.drain(timeout=5)).delivered == 1
    assert len(target.accepted()) == 1
    outbox.close()


async def test_pause_holds_a_routing_key_and_resume_releases_it(sqlite_url: str) -> None:
    outbox = open_outbox(sqlite_url)
    outbox.enqueue_event(event(0, "a"))
    outbox.enqueue_event(event(1, "b", rk=RK2))
    outbox.pause(RK)
    async with running_target() as target:
        worker = DeliveryWorker(outbox, events_url=target.url, rate_limit=OFF)
        result = await worker.drain(timeout=2)
        assert [a.routing_key for a in target.accepted()] == [RK2]
        assert result.remaining == 1 and result.timed_out is False  # returned early, not stuck
        assert outbox.resume(RK)
        await worker.drain(timeout=5)
    assert [a.routing_key for a in target.accepted()] == [RK2, RK]
    outbox.close()


async def test_run_delivers_async_enqueues_promptly_and_stops(database_url: str) -> None:
    outbox = open_outbox(database_url)
    async with running_target() as target:
        worker = DeliveryWorker(outbox, events_url=target.url, rate_limit=OFF, poll_interval=5)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.1)
        start = time.monotonic()
        rows = await asyncio.gather(
            *(outbox.enqueue_event_async(event(n, f"k{n}")) for n in range(20))
        )
        while len(target.accepted()) < 20 and time.monotonic() - start < 4:
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - start
        stop.set()
        await asyncio.wait_for(task, 5)
    assert len(target.accepted()) == 20
    assert elapsed < 4  # woken by the commit (or NOTIFY), not by the 5 s poll
    assert {outbox.get(r.id).state for r in rows} == {DELIVERED}  # type: ignore[union-attr]
    await outbox.aclose()


async def test_change_events_go_to_the_change_endpoint(sqlite_url: str) -> None:
    outbox = open_outbox(sqlite_url)
    outbox.enqueue_event(
        {"routing_key": RK, "payload": {"summary": "deployed v2", "source": "ci"}}, change=True
    )
    async with running_target() as target:
        await DeliveryWorker(outbox, events_url=target.url, rate_limit=OFF).drain(timeout=5)
    assert [a.change for a in target.accepted()] == [True]
    assert "timestamp" in target.accepted()[0].event["payload"]
    outbox.close()


async def test_delivered_rows_are_cleaned_after_retention(sqlite_url: str) -> None:
    clock = FakeClock()
    outbox: Outbox = open_outbox(sqlite_url, clock=clock)
    outbox.enqueue_event(event(0, "a"))
    async with running_target() as target:
        await DeliveryWorker(outbox, events_url=target.url, rate_limit=OFF).drain(timeout=5)
    assert outbox.clean_delivered(retention_seconds=3600) == 0
    clock.advance(3601)
    assert outbox.clean_delivered(retention_seconds=3600) == 1
    assert outbox.list_rows() == []
    outbox.close()


@pytest.mark.postgres
async def test_notify_wakes_a_worker_for_rows_from_another_process(postgres_url: str) -> None:
    outbox = open_outbox(postgres_url)
    other = open_outbox(postgres_url)  # stands for pd-send or another replica: no shared memory
    async with running_target() as target:
        worker = DeliveryWorker(outbox, events_url=target.url, rate_limit=OFF, poll_interval=10)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        await asyncio.sleep(0.3)  # the worker is idle, listening
        start = time.monotonic()
        await asyncio.to_thread(other.enqueue_event, event(0, "k"))
        while not target.accepted() and time.monotonic() - start < 5:
            await asyncio.sleep(0.01)
        elapsed = time.monotonic() - start
        stop.set()
        await asyncio.wait_for(task, 10)
    assert len(target.accepted()) == 1
    assert elapsed < 3  # NOTIFY woke it; the 10 s poll did not
    other.close()
    await outbox.aclose()


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def delivered(self, routing_key: str, latency: float) -> None:
        self.calls.append(("delivered", routing_key))

    def retried(self, routing_key: str, reason: str) -> None:
        self.calls.append(("retried", reason))

    def dead(self, routing_key: str, reason: str) -> None:
        self.calls.append(("dead", reason))

    def rate_limited(self, routing_key: str, wait: float) -> None:
        self.calls.append(("rate_limited", routing_key))


async def test_metrics_hooks_see_every_outcome(sqlite_url: str) -> None:
    outbox = open_outbox(sqlite_url)
    for n in range(3):
        outbox.enqueue_event(event(n, f"k{n}"))
    answers = {0: Fault(503), 1: Fault(400, body={"message": "bad", "errors": ["x"]})}
    tried: set[int] = set()

    def script(ev: dict[str, Any], seen: int) -> Fault | None:
        n = ev["payload"]["custom_details"]["n"]
        if n in tried:
            return None
        tried.add(n)
        return answers.get(n)

    recorder = Recorder()
    async with running_target() as target:
        target.faults.append(script)
        await DeliveryWorker(
            outbox, events_url=target.url, policy=FAST, rate_limit=OFF, metrics=recorder
        ).drain(timeout=10)
    kinds = sorted(kind for kind, _ in recorder.calls)
    assert kinds == ["dead", "delivered", "delivered", "retried"]
    assert any("503" in detail for kind, detail in recorder.calls if kind == "retried")
    outbox.close()


async def test_a_429_holds_the_whole_routing_key(sqlite_url: str) -> None:
    clock = FakeClock()
    outbox = open_outbox(sqlite_url, clock=clock)
    outbox.enqueue_event(event(0, "first"))
    async with running_target() as target:
        target.faults.append(
            lambda ev, seen: Fault(429, headers={"Retry-After": "30"}) if seen == 1 else None
        )
        worker = DeliveryWorker(outbox, events_url=target.url, concurrency=1)
        await worker.drain(timeout=0.5)
        for n in range(1, 4):  # other alerts of the same routing key, queued after the 429
            outbox.enqueue_event(event(n, f"other-{n}"))
        outbox.enqueue_event(event(9, "x", rk=RK2))
        await worker.drain(timeout=0.5)
        assert [a.routing_key for a in target.accepted()] == [RK2]  # RK waits out Retry-After
        clock.advance(31)  # the throttle is over; the bucket refills at 2 per second from here
        await worker.drain(timeout=0.5)
        assert 2 <= len(target.accepted()) < 5
        clock.advance(10)
        await worker.drain(timeout=5)
    assert len(target.accepted()) == 5
    assert outbox.stats().by_state == {DELIVERED: 5}
    outbox.close()


async def test_worker_rides_out_storage_errors(tmp_path: Any) -> None:
    from pagerbridge.errors import StorageError
    from pagerbridge.outbox.sqlite_backend import SqliteStorage

    class Flaky(SqliteStorage):
        failures = 3

        def claim(self, **kwargs: Any) -> Any:
            if self.failures:
                self.failures -= 1
                raise StorageError("database is locked (simulated)")
            return super().claim(**kwargs)

    outbox = Outbox(Flaky(tmp_path / "pb.db"))
    outbox.enqueue_event(event(0, "k"))
    async with running_target() as target:
        worker = DeliveryWorker(outbox, events_url=target.url, rate_limit=OFF, poll_interval=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        for _ in range(200):
            if target.accepted():
                break
            await asyncio.sleep(0.02)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert len(target.accepted()) == 1 and outbox.storage.failures == 0  # type: ignore[attr-defined]
    await outbox.aclose()
