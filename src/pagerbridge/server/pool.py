"""The hub's PostgreSQL pool checks a connection before use only if it sat idle.

Why: ``pool_pre_ping`` costs one round trip (``SELECT 1``) on every checkout, i.e. on every API
request: ~0.1 ms of hub CPU plus PostgreSQL's share per state change (bench/bench_api_incidents.py,
docs/benchmarks.md). A connection that was in use a moment ago is alive; one that sat idle (when a
database restart or an idle timeout may have closed it) is pinged first, and a dead one is
replaced before the request sees it (SQLAlchemy's documented "custom pessimistic ping": raising
DisconnectionError from a checkout listener makes the pool retry with a fresh connection).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Final

from sqlalchemy import Engine, event
from sqlalchemy.exc import DisconnectionError

#: A connection idle longer than this is pinged before it is handed out.
IDLE_PING_SECONDS: Final = 1.0

_IDLE_SINCE: Final = "pagerbridge_idle_since"


def ping_when_idle(
    engine: Engine,
    *,
    idle: float = IDLE_PING_SECONDS,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Install the listeners on ``engine`` (created with ``pool_pre_ping=False``); ``monotonic``
    is the clock that measures idleness (tests move it instead of waiting)."""

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = monotonic()

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or monotonic() - since <= idle:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:
            raise DisconnectionError("connection went away while idle; reconnecting") from exc
