"""The hub's pool pings only connections that sat idle, and replaces dead ones before use
(pagerbridge.server.pool), on a real PostgreSQL database."""

from __future__ import annotations

import time

import psycopg
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from pagerbridge.server.pool import ping_when_idle
from pagerbridge.store.engine import make_engine


def _backend_pid(conn: Connection) -> int:
    return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(url: str, pid: int) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    time.sleep(0.1)


def test_idle_dead_connection_is_replaced_before_use(postgres_url: str) -> None:
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    ping_when_idle(engine, idle=0.05)
    with engine.connect() as conn:
        first = _backend_pid(conn)
    _terminate(postgres_url, first)
    time.sleep(0.1)  # idle longer than the threshold: pinged, found dead, replaced
    with engine.connect() as conn:
        assert _backend_pid(conn) != first
    engine.dispose()


def test_busy_connection_is_not_pinged(postgres_url: str) -> None:
    """Reused at once, a connection is handed out without a ping: a backend killed in that
    moment is seen by the request itself (what pool_pre_ping would have caught, at a round trip
    per request)."""
    engine = make_engine(postgres_url, pool_size=1, max_overflow=0, pool_pre_ping=False)
    ping_when_idle(engine, idle=60)
    with engine.connect() as conn:
        first = _backend_pid(conn)
    _terminate(postgres_url, first)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        raised = False
    except DBAPIError as exc:
        raised = exc.connection_invalidated
    assert raised
    with engine.connect() as conn:  # the pool recovered by itself
        assert _backend_pid(conn) != first
    engine.dispose()
