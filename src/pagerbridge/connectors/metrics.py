"""What a connector did, in numbers: ``im metrics connector NAME`` and the hub's ``/metrics``.

Everything comes from the database, so any process on it (the CLI, every hub) sees the same
figures: links (total incidents), the sender's activity (sync success), delivered ``pd_rest``
outbox rows (sync time: queued → delivered), received webhook events, and the REST calls the
processes made. REST calls are counted in memory by each process (:class:`ApiCalls`, fed by the
REST client's ``on_request`` hook) and added to per-minute rows in ``connector_state``
(``api_calls:<minute>``) by :func:`flush_calls` — the hub every few seconds, ``im connector
sync`` when it ends — so counting never costs a write per call.

Rate-limit usage is the busiest minute of the last hour against PagerDuty's REST budget (960
requests a minute per credential).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors import logstore
from pagerbridge.connectors.models import (
    connector_activity_table,
    connector_links_table,
    connector_state_table,
    connector_subscriptions_table,
    connector_webhook_events_table,
    connectors_table,
)
from pagerbridge.connectors.outbound import budget_key
from pagerbridge.outbox.tables import outbox_table
from pagerbridge.outbox.types import REST_KIND
from pagerbridge.pagerduty.limits import REST_REQUESTS_PER_MINUTE

log = logging.getLogger(__name__)

DAY: Final = 86400.0
HOUR: Final = 3600.0
CALLS_PREFIX: Final = "api_calls:"
#: How often the hub writes the REST calls it counted, and prunes old logs and counters.
FLUSH_SECONDS: Final = 5.0
PRUNE_SECONDS: Final = 3600.0
#: The hub's /metrics reads the database at most this often.
SNAPSHOT_SECONDS: Final = 5.0
WEBHOOK_STATES: Final = ("pending", "applied", "ignored", "error")


class ApiCalls:
    """REST calls made by this process and not yet written, per connector id."""

    def __init__(self) -> None:
        self.pending: Counter[int] = Counter()

    def hook(self, connector_id: int) -> Any:
        """The REST client's ``on_request``: counts one call for ``connector_id``."""

        def counted() -> None:
            self.pending[connector_id] += 1

        return counted

    def take(self) -> dict[int, int]:
        taken = {k: v for k, v in self.pending.items() if v}
        self.pending.clear()
        return taken


def _minute(now: float) -> int:
    return int(now // 60) * 60


def add_calls(conn: sa.Connection, connector_id: int, calls: int, now: float) -> None:
    """Add ``calls`` to the connector's counter of the minute ``now`` is in."""
    t = connector_state_table
    name = f"{CALLS_PREFIX}{_minute(now)}"
    current = conn.execute(
        sa.select(t.c.value)
        .where(t.c.connector_id == connector_id, t.c.name == name)
        .with_for_update()
    ).scalar()
    if current is None:
        inserted = _insert_ignore(
            conn,
            {"connector_id": connector_id, "name": name, "value": str(calls), "updated_at": now},
        )
        if inserted:
            return
        current = conn.execute(
            sa.select(t.c.value)
            .where(t.c.connector_id == connector_id, t.c.name == name)
            .with_for_update()
        ).scalar()
    conn.execute(
        sa.update(t)
        .where(t.c.connector_id == connector_id, t.c.name == name)
        .values(value=str(int(current or 0) + calls), updated_at=now)
    )


def _insert_ignore(conn: sa.Connection, row: dict[str, Any]) -> bool:
    t = connector_state_table
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(t).values(**row).on_conflict_do_nothing()
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(t).values(**row).on_conflict_do_nothing()
    return bool(conn.execute(stmt).rowcount)


def flush_calls(engine: sa.Engine, calls: ApiCalls, now: float | None = None) -> int:
    """Write the counted calls (blocking); how many. A connector removed meanwhile is skipped."""
    taken = calls.take()
    if not taken:
        return 0
    moment = time.time() if now is None else now
    c = connectors_table
    with engine.begin() as conn:
        existing = set(conn.execute(sa.select(c.c.id).where(c.c.id.in_(taken))).scalars())
        for connector_id, n in sorted(taken.items()):
            if connector_id in existing:
                add_calls(conn, connector_id, n, moment)
    return sum(taken.values())


def prune(conn: sa.Connection, now: float | None = None) -> int:
    """Delete call counters older than a day and log records past their retention."""
    moment = time.time() if now is None else now
    t = connector_state_table
    old = conn.execute(
        sa.select(t.c.connector_id, t.c.name).where(t.c.name.startswith(CALLS_PREFIX))
    ).all()
    cutoff = _minute(moment - DAY)
    stale = [(cid, name) for cid, name in old if int(name[len(CALLS_PREFIX) :]) < cutoff]
    for cid, name in stale:
        conn.execute(sa.delete(t).where(t.c.connector_id == cid, t.c.name == name))
    return len(stale) + logstore.prune(conn, now=moment)


@dataclass(frozen=True)
class ConnectorMetrics:
    """One connector's figures (``im metrics connector --json``'s ``metrics``)."""

    connector: str
    total_incidents: int
    synced_24h: int
    errors_24h: int
    sync_success_rate: float | None
    average_sync_seconds: float | None
    api_calls_24h: int
    rate_limit_usage: float
    peak_calls_per_minute: int
    webhook_events_24h: int
    webhook_events_by_state: dict[str, int] = field(default_factory=dict)
    last_sync_at: float | None = None
    last_webhook_at: float | None = None
    pending: int = 0

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _count(conn: sa.Connection, stmt: Any) -> int:
    return int(conn.execute(stmt).scalar_one() or 0)


def _calls(conn: sa.Connection, connector_id: int, now: float) -> tuple[int, int]:
    """(calls in the last 24 h, the busiest minute of the last hour)."""
    t = connector_state_table
    rows = conn.execute(
        sa.select(t.c.name, t.c.value).where(
            t.c.connector_id == connector_id, t.c.name.startswith(CALLS_PREFIX)
        )
    ).all()
    day, peak = 0, 0
    for name, value in rows:
        minute, n = int(name[len(CALLS_PREFIX) :]), int(value)
        if minute > now - DAY:
            day += n
        if minute > now - HOUR:
            peak = max(peak, n)
    return day, peak


def collect(conn: sa.Connection, connector_id: int, name: str, now: float) -> ConnectorMetrics:
    """One connector's figures as of ``now``."""
    since = now - DAY
    a, links = connector_activity_table, connector_links_table
    kinds: dict[str, int] = dict(
        conn.execute(
            sa.select(a.c.kind, sa.func.count())
            .where(a.c.connector_id == connector_id, a.c.at >= since)
            .group_by(a.c.kind)
        ).all()
    )
    synced, errors = int(kinds.get("synced", 0)), int(kinds.get("error", 0))
    incidents = _count(
        conn,
        sa.select(sa.func.count(sa.distinct(links.c.incident_id))).where(
            links.c.connector_id == connector_id
        ),
    )
    o = outbox_table
    avg = conn.execute(
        sa.select(sa.func.avg(o.c.delivered_at - o.c.created_at)).where(
            o.c.routing_key == budget_key(connector_id),
            o.c.kind == REST_KIND,
            o.c.state == "delivered",
            o.c.delivered_at >= since,
        )
    ).scalar()
    pending = _count(
        conn,
        sa.select(sa.func.count()).where(
            o.c.routing_key == budget_key(connector_id),
            o.c.kind == REST_KIND,
            o.c.state.in_(("pending", "in_flight")),
        ),
    )
    w, s = connector_webhook_events_table, connector_subscriptions_table
    by_state = {
        str(k): int(v)
        for k, v in conn.execute(
            sa.select(w.c.state, sa.func.count())
            .where(w.c.connector_id == connector_id, w.c.received_at >= since)
            .group_by(w.c.state)
        ).all()
    }
    last_webhook = conn.execute(
        sa.select(sa.func.max(s.c.last_received_at)).where(s.c.connector_id == connector_id)
    ).scalar()
    last_sync = conn.execute(
        sa.select(sa.func.max(a.c.at)).where(a.c.connector_id == connector_id, a.c.kind == "synced")
    ).scalar()
    day_calls, peak = _calls(conn, connector_id, now)
    return ConnectorMetrics(
        connector=name,
        total_incidents=incidents,
        synced_24h=synced,
        errors_24h=errors,
        sync_success_rate=synced / (synced + errors) if synced + errors else None,
        average_sync_seconds=float(avg) if avg is not None else None,
        api_calls_24h=day_calls,
        rate_limit_usage=peak / REST_REQUESTS_PER_MINUTE,
        peak_calls_per_minute=peak,
        webhook_events_24h=sum(by_state.values()),
        webhook_events_by_state={k: by_state.get(k, 0) for k in WEBHOOK_STATES},
        last_sync_at=float(last_sync) if last_sync is not None else None,
        last_webhook_at=float(last_webhook) if last_webhook is not None else None,
        pending=pending,
    )


def collect_all(conn: sa.Connection, now: float | None = None) -> list[ConnectorMetrics]:
    moment = time.time() if now is None else now
    c = connectors_table
    rows = conn.execute(sa.select(c.c.id, c.c.name).order_by(c.c.name)).all()
    return [collect(conn, int(cid), str(name), moment) for cid, name in rows]


def lines(m: ConnectorMetrics) -> list[str]:
    """The reference's block."""
    rate = "n/a (nothing synced in 24h)"
    if m.sync_success_rate is not None:
        rate = f"{m.sync_success_rate * 100:.1f}%"
    avg = "n/a" if m.average_sync_seconds is None else f"{m.average_sync_seconds:.1f}s"
    return [
        f"Connector: {m.connector}",
        f"Total Incidents: {m.total_incidents:,}",
        f"Sync Success Rate: {rate}",
        f"Average Sync Time: {avg}",
        f"API Calls (24h): {m.api_calls_24h:,}",
        f"Rate Limit Usage: {m.rate_limit_usage * 100:.0f}%",
        f"Webhook Events (24h): {m.webhook_events_24h:,}",
    ]


class Snapshot:
    """Every connector's figures for the hub's ``/metrics``, read off the event loop and at most
    every :data:`SNAPSHOT_SECONDS` however often Prometheus scrapes."""

    def __init__(self, engine: sa.Engine, *, every: float = SNAPSHOT_SECONDS) -> None:
        self.engine = engine
        self.every = every
        self.current: list[ConnectorMetrics] = []
        #: The webhook intake's counts by outcome (accepted, forged, ...), copied at refresh.
        self.deliveries: dict[str, int] = {}
        self._at = float("-inf")

    def _read(self) -> list[ConnectorMetrics]:
        with self.engine.connect() as conn:
            return collect_all(conn)

    async def refresh(self, deliveries: Mapping[str, int] | None = None) -> list[ConnectorMetrics]:
        if deliveries is not None:
            self.deliveries = dict(deliveries)
        now = time.monotonic()
        if now - self._at >= self.every:
            self._at = now
            try:
                self.current = await asyncio.to_thread(self._read)
            except Exception as exc:  # the database probe reports the database; keep the last
                log.debug("connector metrics not read: %s", exc)
        return self.current


async def housekeeping(
    engine: sa.Engine,
    calls: ApiCalls,
    stop: asyncio.Event,
    *,
    every: float = FLUSH_SECONDS,
) -> None:
    """The hub's chores: write counted REST calls; prune old counters and log records."""
    pruned_at = float("-inf")
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        try:
            await asyncio.to_thread(flush_calls, engine, calls)
            if time.monotonic() - pruned_at >= PRUNE_SECONDS:
                pruned_at = time.monotonic()
                await asyncio.to_thread(_prune, engine)
        except Exception as exc:  # the next round may succeed
            log.warning("connector housekeeping failed: %s", exc)


def _prune(engine: sa.Engine) -> None:
    with engine.begin() as conn:
        prune(conn)
