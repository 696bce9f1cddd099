"""The health checks on an injected clock: worker failing, storage probe, backlog."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from pagerbridge.errors import StorageError
from pagerbridge.outbox import Outbox
from pagerbridge.outbox.health import (
    HealthMonitor,
    Probe,
    WorkerHealth,
    backlog_check,
    storage_check,
    worker_check,
)
from pagerbridge.outbox.sqlite_backend import SqliteStorage
from pagerbridge.outbox.worker import DeliveryWorker
from pagerbridge.pagerduty.outcome import Accepted, Outcome
from servers.flaky_storage import FlakyStorage

NOW = 1_800_000_000.0
RK = "deadbeefdeadbeefdeadbeefdeadbeef"


def test_worker_fails_only_after_the_threshold_and_recovers_at_once() -> None:
    health = WorkerHealth()
    assert worker_check(health, state="running", now=NOW, failing_after=30).ok
    health.failed(NOW, "claim", "disk I/O error")
    health.failed(NOW + 29, "claim", "disk I/O error")
    early = worker_check(health, state="running", now=NOW + 29, failing_after=30)
    assert early.ok and early.details["failing_for"] == 29
    late = worker_check(health, state="running", now=NOW + 42, failing_after=30)
    assert not late.ok
    assert late.reason == "claim failing for 42 s: disk I/O error"
    health.succeeded(NOW + 43)
    assert worker_check(health, state="running", now=NOW + 43, failing_after=30).ok
    # A failure after a success starts a new run: the old one does not count.
    health.failed(NOW + 44, "record", "gone")
    assert worker_check(health, state="running", now=NOW + 50, failing_after=30).ok


def test_a_worker_task_that_is_down_fails_the_check() -> None:
    check = worker_check(WorkerHealth(), state="failed", now=NOW, failing_after=30)
    assert not check.ok and check.reason == (
        "the delivery worker crashed; it is restarted in a few seconds"
    )
    for state in ("starting", "running", "stopping"):
        assert worker_check(WorkerHealth(), state=state, now=NOW, failing_after=30).ok


def test_storage_and_backlog_checks() -> None:
    assert storage_check(Probe(NOW)).ok
    failed = storage_check(Probe(NOW, error="connection refused"))
    assert not failed.ok and "connection refused" in (failed.reason or "")
    assert backlog_check(Probe(NOW), now=NOW, threshold=900).ok  # nothing due
    young = backlog_check(Probe(NOW, oldest_due=NOW - 899), now=NOW, threshold=900)
    assert young.ok and young.details["oldest_due_age"] == 899
    old = backlog_check(Probe(NOW, oldest_due=NOW - 960), now=NOW, threshold=900)
    assert not old.ok
    assert old.reason == (
        "the oldest event waiting to be sent was accepted 16 min ago (threshold 15 min)"
    )
    # Unknown (the probe failed): the storage check speaks instead.
    assert backlog_check(Probe(NOW, error="x"), now=NOW, threshold=900).details["known"] is False


class FakeStorage:
    """``oldest_due`` that answers, raises or hangs, as the test says."""

    def __init__(self) -> None:
        self.oldest: float | None = None
        self.error: Exception | None = None
        self.gate = threading.Event()
        self.gate.set()
        self.calls: list[dict[str, Any]] = []

    def oldest_due(
        self, *, now: float, destination: str | None = None, kinds: Any = None
    ) -> float | None:
        self.calls.append({"now": now, "destination": destination, "kinds": kinds})
        self.gate.wait(10)
        if self.error is not None:
            raise self.error
        return self.oldest


async def test_monitor_reports_each_check_and_caches_its_probe() -> None:
    storage = FakeStorage()
    clock = [NOW]
    worker = WorkerHealth()
    monitor = HealthMonitor(
        lambda: storage,  # type: ignore[arg-type,return-value]
        worker,
        clock=lambda: clock[0],
        destination=lambda: "https://events.pagerduty.com",
        worker_failing_after=30,
        oldest_due_threshold=900,
        probe_timeout=0.2,
        probe_interval=0.0,
    )
    report = await monitor.report(worker_state="running")
    assert report.ok and set(report.checks) == {"worker", "storage", "backlog"}
    # Due for the grace period (10 s) at least: a row due a moment ago is about to be claimed.
    assert storage.calls[-1] == {
        "now": NOW - 10,
        "destination": "https://events.pagerduty.com",
        "kinds": ("event", "change_event"),  # a REST row waiting for the hub is not backlog
    }

    storage.oldest = NOW
    clock[0] += 901  # the clock moves; the row has waited too long
    report = await monitor.report(worker_state="running")
    assert not report.ok and not report.checks["backlog"].ok and report.checks["worker"].ok
    assert report.reasons == [
        "backlog: the oldest event waiting to be sent was accepted 15 min ago (threshold 15 min)"
    ]

    storage.oldest, storage.error = None, StorageError("disk I/O error")
    report = await monitor.report(worker_state="running")
    assert not report.checks["storage"].ok and "disk I/O error" in str(report.reasons)

    storage.error = None
    storage.gate.clear()  # a database that does not answer
    report = await monitor.report(worker_state="running")
    assert not report.checks["storage"].ok
    assert "no answer within" in (report.checks["storage"].reason or "")
    calls = len(storage.calls)
    await monitor.report(worker_state="running")  # the hung query is not started twice
    assert len(storage.calls) == calls
    storage.gate.set()
    for _ in range(100):
        report = await monitor.report(worker_state="running")
        if report.ok:
            break
        await asyncio.sleep(0.01)
    assert report.ok

    monitor.probe_interval = 60.0
    await monitor.report(worker_state="running")
    calls = len(storage.calls)
    for _ in range(5):
        await monitor.report(worker_state="running")
    assert len(storage.calls) == calls  # cached: a busy load balancer costs no queries


async def test_the_worker_tells_its_health_about_claims(tmp_path: Path) -> None:
    flaky = FlakyStorage(SqliteStorage(tmp_path / "o.db"))
    outbox = Outbox(flaky)
    health = WorkerHealth()

    async def accept(body: bytes, change: bool, *destination: str | None) -> Outcome:
        return Accepted(None, 202, "ok")

    worker = DeliveryWorker(outbox, sender=accept, health=health, poll_interval=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        await until(lambda: health.last_success is not None)
        flaky.broken.set()
        await until(lambda: health.failures >= 2)
        assert health.failing_since is not None and health.operation == "claim"
        assert "disk I/O error" in (health.last_error or "")
        flaky.broken.clear()
        await until(lambda: health.failing_since is None)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        outbox.close()


async def until(condition: Any, timeout: float = 10.0) -> None:
    """Poll ``condition`` until it holds, failing after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not condition():
        assert loop.time() < end, "condition not met in time"
        await asyncio.sleep(0.01)
