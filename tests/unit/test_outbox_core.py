"""The outbox's pure parts: event preparation, group commit, retry policy, rate limit, metrics."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from pathlib import Path

import pytest

from pagerbridge.errors import EventValidationError, QueueFullError
from pagerbridge.outbox import (
    KIND_CHANGE_EVENT,
    NewRow,
    Outbox,
    PrometheusMetrics,
    RateLimit,
    RetryPolicy,
    prepare_event,
)
from pagerbridge.outbox.policy import EVENTS_PER_MINUTE_PER_ROUTING_KEY
from pagerbridge.outbox.sql_base import token_bucket
from pagerbridge.outbox.sqlite_backend import SqliteStorage

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
NOW = 1_800_000_000.0


def trigger(**extra: object) -> dict[str, object]:
    return {
        "routing_key": RK,
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"},
        **extra,
    }


def test_prepare_event_generates_dedup_key_and_timestamp() -> None:
    row = prepare_event(trigger(), now=NOW)
    assert row.dedup_key and len(row.dedup_key) == 32
    assert row.ordering_key == f"{RK}/{row.dedup_key}"
    assert '"timestamp":"2027-01-15T08:00:00' in row.payload  # the time it was accepted
    given = prepare_event(
        trigger(
            dedup_key="k", payload={**trigger()["payload"], "timestamp": "2020-01-01T00:00:00Z"}
        ),
        now=NOW,
    )  # type: ignore[dict-item]
    assert given.dedup_key == "k" and "2020-01-01T00:00:00Z" in given.payload


def test_prepare_change_event_has_its_own_lane() -> None:
    row = prepare_event(
        {"routing_key": RK, "payload": {"summary": "deploy", "source": "ci"}}, change=True, now=NOW
    )
    assert row.kind == KIND_CHANGE_EVENT and row.dedup_key is None
    assert row.ordering_key == f"{RK}/~change"


def test_prepare_event_rejects_with_every_error() -> None:
    with pytest.raises(EventValidationError) as info:
        prepare_event({"routing_key": "x", "event_action": "trigger", "payload": {}}, now=NOW)
    text = " ".join(info.value.errors)
    assert "routing_key" in text and "payload.summary" in text


class CountingStorage(SqliteStorage):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[int] = []

    def insert_batch(
        self, rows: Sequence[NewRow], *, now: float, max_pending: int | None
    ) -> list[int | None]:
        self.batches.append(len(rows))
        return super().insert_batch(rows, now=now, max_pending=max_pending)


async def test_concurrent_async_enqueues_share_transactions(tmp_path: Path) -> None:
    storage = CountingStorage(tmp_path / "pb.db")
    outbox = Outbox(storage)
    rows = await asyncio.gather(
        *(outbox.enqueue_event_async(trigger(dedup_key=f"k{i}")) for i in range(200))
    )
    assert len({r.id for r in rows}) == 200
    assert sum(storage.batches) == 200
    assert len(storage.batches) < 50  # group commit: far fewer transactions (fsyncs) than events
    await outbox.aclose()
    reopened = Outbox(SqliteStorage(tmp_path / "pb.db"))
    assert reopened.storage.pending_count() == 200
    reopened.close()


async def test_async_enqueue_reports_queue_full_per_event(tmp_path: Path) -> None:
    outbox = Outbox(SqliteStorage(tmp_path / "pb.db"), max_queue=3)
    results = await asyncio.gather(
        *(outbox.enqueue_event_async(trigger(dedup_key=f"k{i}")) for i in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, QueueFullError) for r in results) == 2
    with pytest.raises(EventValidationError):
        await outbox.enqueue_event_async({"routing_key": RK})
    await outbox.aclose()


def test_sync_enqueue_raises_queue_full(tmp_path: Path) -> None:
    outbox = Outbox(SqliteStorage(tmp_path / "pb.db"), max_queue=1)
    outbox.enqueue_event(trigger())
    with pytest.raises(QueueFullError, match="maximum of 1"):
        outbox.enqueue_event(trigger())
    outbox.close()


def test_backoff_is_full_jitter_capped_and_honours_retry_after() -> None:
    policy = RetryPolicy(base=1.0, cap=60.0, rng=random.Random(1))
    for attempt in range(1, 12):
        delays = [policy.backoff(attempt) for _ in range(200)]
        bound = min(60.0, 2 ** (attempt - 1))
        assert all(0 <= d <= bound for d in delays)
        assert max(delays) > bound * 0.8  # really spread over the whole window
    assert all(policy.backoff(1, retry_after=30) >= 30 for _ in range(50))


def test_deadline_counts_from_the_window_start() -> None:
    policy = RetryPolicy(deadline=100.0, base=1.0, cap=1.0)
    assert policy.next_attempt(attempts=1, now=NOW + 50, window_start=NOW) is not None
    assert policy.next_attempt(attempts=1, now=NOW + 100, window_start=NOW) is None
    assert policy.next_attempt(attempts=1, now=NOW, window_start=NOW, retry_after=200) is None


def test_rate_limit_defaults_and_bucket() -> None:
    assert RateLimit().per_minute == EVENTS_PER_MINUTE_PER_ROUTING_KEY == 120
    assert RateLimit().rate == 2.0 and not RateLimit(per_minute=None).enabled
    tokens, stamp, wait = token_bucket(None, rate=2.0, burst=3.0, now=NOW)
    assert (tokens, stamp, wait) == (2.0, NOW, 0.0)
    tokens, stamp, wait = token_bucket((0.5, NOW), rate=2.0, burst=3.0, now=NOW)
    assert wait == pytest.approx(0.25)
    tokens, stamp, wait = token_bucket((0.0, NOW - 100), rate=2.0, burst=3.0, now=NOW)
    assert (tokens, wait) == (2.0, 0.0)  # refilled, but never above the burst
    tokens, stamp, wait = token_bucket((0.0, NOW + 30), rate=2.0, burst=3.0, now=NOW)
    assert stamp == NOW + 30 and wait == pytest.approx(30.5)  # a throttle holds until it ends


def test_prometheus_metrics_count() -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    m = PrometheusMetrics(registry)
    m.delivered(RK, 0.2)
    m.retried(RK, "HTTP 503: down")
    m.retried(RK, "no answer from http://x within 10 s (timeout)")
    m.dead(RK, "HTTP 400: bad")
    m.rate_limited(RK, 0.5)
    text = generate_latest(registry).decode()
    assert "pagerbridge_outbox_delivered_total 1.0" in text
    assert 'pagerbridge_outbox_retries_total{reason="503"} 1.0' in text
    assert 'pagerbridge_outbox_retries_total{reason="timeout"} 1.0' in text
    assert "pagerbridge_outbox_dead_total 1.0" in text
    assert RK not in text  # routing keys never become labels


def test_schema_marker_is_created_by_the_schema_script(tmp_path: Path) -> None:
    import sqlite3

    from pagerbridge.outbox.queries import schema_sql
    from pagerbridge.outbox.sqlite_backend import SCHEMA_MARKER

    assert f"CREATE INDEX IF NOT EXISTS {SCHEMA_MARKER} " in schema_sql("sqlite")
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as conn:  # a database from before the marker index existed
        conn.executescript(schema_sql("sqlite").replace(SCHEMA_MARKER, "ix_placeholder"))
        conn.execute("DROP INDEX ix_placeholder")
    SqliteStorage(db).close()
    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert SCHEMA_MARKER in names
