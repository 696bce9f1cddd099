"""The hub's pool pings only connections that sat idle, and replaces dead ones before use
(pagerbridge.server.pool), on a real PostgreSQL database.

No sleeps: idleness is measured on a clock the test moves, and a terminated backend is waited
for until PostgreSQL no longer lists it.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from pagerbridge.server.pool import ping_when_idle
from pagerbridge.store.engine import make_engine

pytestmark = pytest.mark.postgres

DEADLINE = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    """End backend ``pid`` and return once PostgreSQL no longer lists it."""
    with psycopg.connect(url, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)
        deadline = time.monotonic() + DEADLINE
        while admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} still there after {DEADLINE} s"
            time.sleep(0.01)


def test_idle_dead_connection_is_replaced_before_use(postgres_url: str) -> None:
    clock = Clock()
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    ping_when_idle(engine, idle=1.0, monotonic=clock)
    with engine.connect() as conn:
        first = _backend_pid(conn)
    _terminate(postgres_url, first)
    clock.now += 1.5  # idle longer than the threshold: pinged, found dead, replaced
    with engine.connect() as conn:
        assert _backend_pid(conn) != first
    engine.dispose()


def test_busy_connection_is_not_pinged(postgres_url: str) -> None:
    """Reused at once, a connection is handed out without a ping: a backend killed in that
    moment is seen by the request itself (what pool_pre_ping would have caught, at a round trip
    per request)."""
    clock = Clock()
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    ping_when_idle(engine, idle=1.0, monotonic=clock)
    with engine.connect() as conn:
        first = _backend_pid(conn)
    _terminate(postgres_url, first)
    try:
        with engine.connect() as conn:  # the clock has not moved: not idle, not pinged
            conn.execute(text("SELECT 1"))
        raised = False
    except DBAPIError as exc:
        raised = exc.connection_invalidated
    assert raised
    with engine.connect() as conn:  # the pool recovered by itself
        assert _backend_pid(conn) != first
    engine.dispose()
