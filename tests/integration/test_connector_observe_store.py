"""The connectors' log store and counters on a real database: ``im logs``' filter matches exactly
what a substring search would (hostile text included: ``%``, ``_``, backslashes, quotes),
records are bounded and redacted, retention prunes, and REST calls counted by the client hook
add up per minute (rate-limit usage)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.connectors import logstore, metrics
from pagerbridge.connectors.models import connector_logs_table
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    path: Path = tmp_path_factory.mktemp("logstore") / "pb.db"
    eng = make_engine(f"sqlite:///{path}")
    upgrade(eng)
    yield eng
    eng.dispose()


def _clear(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(connector_logs_table))


TEXT = st.text(alphabet=st.sampled_from("aB%_\\'\"xé -"), min_size=0, max_size=8)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(messages=st.lists(TEXT, min_size=1, max_size=6), needle=TEXT.filter(bool))
def test_filter_is_a_plain_substring_match(
    engine: sa.Engine, messages: list[str], needle: str
) -> None:
    _clear(engine)
    with engine.begin() as conn:
        for message in messages:
            logstore.record(conn, "webhook", "info", message)
    with engine.connect() as conn:
        found = logstore.read(conn, logstore.Query(text=needle, limit=1000))
    expected = [m for m in messages if needle.lower() in m.lower()]
    assert [r.message for r in found] == expected


def test_records_are_bounded_redacted_and_pruned(engine: sa.Engine) -> None:
    _clear(engine)
    now = time.time()
    with engine.begin() as conn:
        logstore.record(conn, "reconcile", "info", "old", now=now - logstore.KEEP_SECONDS - 1)
        logstore.record(
            conn,
            "sync",
            "error",
            "Authorization: Token token=abc123secret failed " + "x" * 5000,
            connector="c",
            data={"routing_key": "R0UT1NGKEY", "blob": "y" * 9000},
        )
        with pytest.raises(ValueError, match="not one of webhook"):
            logstore.record(conn, "mail", "info", "x")
    with engine.connect() as conn:
        [old, new] = logstore.read(conn, logstore.Query(limit=10))
        assert logstore.read(conn, logstore.Query(min_level="warning"))[0].id == new.id
        assert logstore.read(conn, logstore.Query(after_id=new.id)) == []
    assert old.message == "old"
    assert len(new.message) == logstore.MAX_MESSAGE and "abc123secret" not in new.message
    assert "R0UT1NGKEY" not in str(new.data) and "truncated" in (new.data or {})
    with engine.begin() as conn:
        assert metrics.prune(conn) == 1
    with engine.connect() as conn:
        assert [r.id for r in logstore.read(conn, logstore.Query())] == [new.id]


def test_throttle_holds_back_repeats_and_counts_them() -> None:
    throttle = logstore.Throttle(every=60)
    assert throttle.allow(("forged", "a"), 0) == 0
    assert [throttle.allow(("forged", "a"), t) for t in (1, 2, 3)] == [None, None, None]
    assert throttle.allow(("unsigned", "a"), 3) == 0
    assert throttle.allow(("forged", "a"), 61) == 3


def test_calls_counted_by_the_hook_add_up_per_minute(engine: sa.Engine, sandbox: Any) -> None:
    import asyncio

    from pagerbridge.pagerduty.rest import RestClient
    from servers.connector_setup import add_connector

    add_connector(engine, sandbox, name="counted")
    with engine.connect() as conn:
        cid = int(
            conn.execute(sa.text("SELECT id FROM connectors WHERE name='counted'")).scalar_one()
        )
    calls = metrics.ApiCalls()

    async def go() -> None:
        async with RestClient(sandbox.token, base_url=sandbox.api_url) as client:
            client.on_request = calls.hook(cid)
            for _ in range(3):
                await client.get_page("/services", limit=1)

    asyncio.run(go())
    calls.pending[999_999] += 5  # a connector removed meanwhile: skipped, not an error
    minute = time.time() // 60 * 60
    assert metrics.flush_calls(engine, calls, now=minute + 1) == 8
    calls.pending[cid] += 2
    metrics.flush_calls(engine, calls, now=minute + 2)  # the same minute: added up
    calls.pending[cid] += 4
    metrics.flush_calls(engine, calls, now=minute - 2 * metrics.DAY)  # too old to count
    with engine.connect() as conn:
        m = metrics.collect(conn, cid, "counted", minute + 30)
    assert m.api_calls_24h == 5 and m.peak_calls_per_minute == 5
    assert m.rate_limit_usage == pytest.approx(5 / 960)
    with engine.begin() as conn:
        assert metrics.prune(conn, now=minute + 30) == 1  # the old counter
