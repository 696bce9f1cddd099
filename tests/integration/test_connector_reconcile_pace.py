"""Reconcile's pace: at most half of PagerDuty's REST budget, and never more than what the
outbound sender leaves of the whole — both buckets kept in the outbox's database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Engine

from pagerbridge.connectors.outbound import budget_key
from pagerbridge.connectors.reconcile import reconcile_now
from pagerbridge.connectors.reconcile_pace import RECONCILE_BUDGET, Pacer, bucket_key
from pagerbridge.outbox.policy import REST_RATE_LIMIT
from pagerbridge.outbox.sqlite_backend import SqliteStorage
from servers.connector_setup import add_connector

START = 1_000_000.0


class Clock:
    """Time that passes only when the pacer sleeps."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        # A wall clock always moves on; a sum of floats near 10**6 may not (1e-11 + 10**6).
        self.now += max(seconds, 1e-6)


def requests_in_a_minute(pacer: Pacer, clock: Clock) -> int:
    async def run() -> int:
        while clock.now - START < 60:
            await pacer()
        return pacer.requests - 1  # the last one was let through after the minute

    return asyncio.run(run())


def test_reconcile_alone_takes_half_the_budget(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "outbox.db")
    clock = Clock()
    pacer = Pacer(
        bucket_key(1),
        take=storage.take_token,
        shared=(budget_key(1), REST_RATE_LIMIT),
        clock=clock,
        sleep=clock.sleep,
    )
    allowed = requests_in_a_minute(pacer, clock)
    half = (RECONCILE_BUDGET.per_minute or 0) + RECONCILE_BUDGET.capacity
    assert half == 480
    assert half - 2 <= allowed <= half


def test_reconcile_waits_for_what_the_sender_left_of_the_whole_budget(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "outbox.db")
    clock = Clock()
    # The sender has just spent the connector's whole burst.
    rate, burst = REST_RATE_LIMIT.rate, REST_RATE_LIMIT.capacity
    while storage.take_token(budget_key(1), rate=rate, burst=burst, now=clock()) == 0:
        pass
    pacer = Pacer(
        bucket_key(1),
        take=storage.take_token,
        shared=(budget_key(1), REST_RATE_LIMIT),
        clock=clock,
        sleep=clock.sleep,
    )
    asyncio.run(pacer())
    assert pacer.requests == 1
    assert 0 < pacer.waited <= 1 / rate + 1e-6  # its own bucket was full: the wait is the sender's
    # Another connector's budget is its own: no wait there.
    other = Pacer(
        bucket_key(2),
        take=storage.take_token,
        shared=(budget_key(2), REST_RATE_LIMIT),
        clock=clock,
        sleep=clock.sleep,
    )
    asyncio.run(other())
    assert other.waited == 0


def test_a_reconcile_run_draws_on_both_buckets(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name="prod")
    result = asyncio.run(reconcile_now(engine, "prod", database_url=database_url))
    assert result.ok, result
    with engine.connect() as conn:
        buckets = dict(conn.execute(sa.text("SELECT routing_key, tokens FROM outbox_rate")).all())
    assert set(buckets) == {bucket_key(1), budget_key(1)}
    # Tokens were taken from the budget the sender draws on too.
    assert float(buckets[budget_key(1)]) < REST_RATE_LIMIT.capacity
