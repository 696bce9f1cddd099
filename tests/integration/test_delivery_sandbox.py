"""Delivery to the sandbox (helper C's local PagerDuty) over real HTTP, with its fault injection."""

from __future__ import annotations

import random
import time
from collections import defaultdict
from typing import Any

import pytest

from pagerbridge.outbox import DEAD, DELIVERED, PENDING, DeliveryWorker, RetryPolicy, open_outbox
from pagerbridge.outbox.policy import OFF
from pagerbridge.sandbox.testing import running_sandbox

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
RK2 = "feedfacefeedfacefeedfacefeedface"
FAST = RetryPolicy(base=0.02, cap=0.2, rng=random.Random(3))


def event(n: int, dedup: str, rk: str = RK) -> dict[str, Any]:
    return {
        "routing_key": rk,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": f"event {n}", "source": "test", "severity": "warning"},
    }


async def test_every_event_arrives_in_order_despite_sandbox_faults(database_url: str) -> None:
    outbox = open_outbox(database_url)
    expected: dict[tuple[str, str], list[int]] = defaultdict(list)
    for n in range(60):
        rk = (RK, RK2)[n % 2]
        dedup = f"alert-{n % 5}"
        outbox.enqueue_event(event(n, dedup, rk))
        expected[(rk, dedup)].append(n)
    faults = {"error_rate": 0.2, "error_status": 502, "drop_rate": 0.1, "burst_429": 5}
    with running_sandbox(any_routing_key=True, faults=faults) as sandbox:
        worker = DeliveryWorker(
            outbox,
            events_url=sandbox.url,
            policy=FAST,
            rate_limit=OFF,
            timeout=2,
            poll_interval=0.05,
        )
        result = await worker.drain(timeout=60)
        arrivals = sandbox.arrivals()
    assert result.remaining == 0 and result.dead == 0
    assert result.retried > 0  # the faults were real
    seen: dict[tuple[str, str], list[int]] = defaultdict(list)
    for a in arrivals:
        seen[(a["routing_key"], a["dedup_key"])].append(int(a["summary"].split()[1]))
    for key, order in expected.items():
        assert seen[key] == sorted(seen[key]), f"{key}: {seen[key]}"
        assert sorted(set(seen[key])) == order
    await outbox.aclose()


async def test_unknown_routing_key_is_dead_lettered_with_the_sandbox_errors(
    sqlite_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = open_outbox(sqlite_url)
    bad = outbox.enqueue_event(event(0, "a", rk="0" * 32))
    good = outbox.enqueue_event(event(1, "b"))
    with running_sandbox() as sandbox:
        await DeliveryWorker(outbox, events_url=sandbox.events_url, rate_limit=OFF).drain(
            timeout=10
        )
        assert [a["summary"] for a in sandbox.arrivals()] == ["event 1"]
    dead = outbox.get(bad.id)
    assert dead is not None and dead.state == DEAD
    assert "HTTP 400" in (dead.last_error or "") and "no service integration" in (
        dead.last_error or ""
    )
    assert outbox.get(good.id).state == DELIVERED  # type: ignore[union-attr]
    outbox.close()
    # At the default log level the operator hears of it, with PagerDuty's words, never the key.
    (warning,) = [r for r in caplog.records if "dead letter" in r.getMessage()]
    assert warning.levelname == "WARNING"
    assert f"outbox row {bad.id}" in warning.getMessage()
    assert "no service integration" in warning.getMessage()
    assert "0" * 32 not in warning.getMessage()


async def test_outage_then_recovery_delivers_everything_and_kills_nothing(sqlite_url: str) -> None:
    outbox = open_outbox(sqlite_url)
    for n in range(10):
        outbox.enqueue_event(event(n, f"k{n % 3}"))
    with running_sandbox() as sandbox:
        sandbox.set_faults(outage_seconds=1.0)  # the outage starts now, not when the sandbox did
        started = time.monotonic()
        worker = DeliveryWorker(
            outbox, events_url=sandbox.url, policy=FAST, rate_limit=OFF, poll_interval=0.05
        )
        result = await worker.drain(timeout=30)
        assert time.monotonic() - started >= 0.9  # it really waited out the outage
        assert len(sandbox.arrivals()) >= 10
    assert result.dead == 0 and result.remaining == 0 and result.retried > 0
    assert outbox.stats().by_state == {DELIVERED: 10}
    outbox.close()


async def test_sandbox_429_is_retried_after_its_retry_after_never_dead(sqlite_url: str) -> None:
    class Clock:
        t = time.time()

        def __call__(self) -> float:
            return self.t

    clock = Clock()
    outbox = open_outbox(sqlite_url, clock=clock)
    rows = [outbox.enqueue_event(event(n, f"k{n}")) for n in range(6)]
    with running_sandbox(events_per_minute=4) as sandbox:
        worker = DeliveryWorker(outbox, events_url=sandbox.url, rate_limit=OFF)
        await worker.drain(timeout=1)  # the fake clock stands still: the retries stay due later
        assert len(sandbox.arrivals()) == 4
    throttled = [outbox.get(r.id) for r in rows if outbox.get(r.id).state == PENDING]  # type: ignore[union-attr]
    assert len(throttled) == 2
    for r in throttled:
        assert r is not None and r.attempts == 1 and "429" in (r.last_error or "")
        assert r.next_attempt_at > clock()  # waits as PagerDuty asked, instead of hammering
    outbox.close()
