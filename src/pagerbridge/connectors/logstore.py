"""The connectors' structured log, kept in the database (``connector_logs``) for ``im logs``.

Why in the database and not only on stderr: the hub that refused a forged webhook, applied an
acknowledgement or failed to sync may run on another machine, under systemd, or have restarted;
``im logs --component webhook --filter pagerduty`` must still show what happened, from any
process on the same database. Records are short (a sentence and a small JSON ``data``), never
hold a secret (every message and value passes :func:`pagerbridge.logs.redact`), and are kept
:data:`KEEP_SECONDS` (the hub prunes older ones, :func:`prune`).

Writers call :func:`record` inside the transaction that did the work (so a record exists exactly
when the work committed), or :func:`write` for a record of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors.models import connector_logs_table, connectors_table
from pagerbridge.logs import redact

log = logging.getLogger(__name__)

#: ``im logs --component``: where a record comes from.
COMPONENTS: Final = ("webhook", "sync", "reconcile", "api", "sla")
LEVELS: Final = ("debug", "info", "warning", "error")
KEEP_SECONDS: Final = 14 * 86400
MAX_MESSAGE: Final = 2000
MAX_DATA: Final = 4000
CONNECTOR_NAME_MAX: Final = 100


@dataclass(frozen=True)
class LogRecord:
    id: int
    at: float
    connector: str | None
    component: str
    level: str
    message: str
    data: dict[str, Any] | None

    def as_json(self) -> dict[str, Any]:
        from pagerbridge.connectors.views import iso

        return {
            "id": self.id,
            "time": iso(self.at),
            "connector": self.connector,
            "component": self.component,
            "level": self.level,
            "message": self.message,
            "data": self.data,
        }

    @property
    def line(self) -> str:
        """``2026-05-01T10:00:00Z WARNING webhook prod-pagerduty: message {data}``."""
        from datetime import UTC, datetime

        when = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        where = f" {self.connector}" if self.connector else ""
        extra = f" {json.dumps(self.data, ensure_ascii=False)}" if self.data else ""
        return f"{when} {self.level.upper()} {self.component}{where}: {self.message}{extra}"


def values(
    component: str,
    level: str,
    message: str,
    *,
    connector: str | None = None,
    data: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """The row of one record: checked, bounded and redacted."""
    if component not in COMPONENTS:
        raise ValueError(f"log component {component!r} is not one of {', '.join(COMPONENTS)}")
    if level not in LEVELS:
        raise ValueError(f"log level {level!r} is not one of {', '.join(LEVELS)}")
    text = None
    if data:
        text = redact(json.dumps(dict(data), ensure_ascii=False, default=str))
        if len(text) > MAX_DATA:
            text = json.dumps({"truncated": text[:MAX_DATA]})
    return {
        "at": time.time() if now is None else now,
        "connector": connector[:CONNECTOR_NAME_MAX] if connector else None,
        "component": component,
        "level": level,
        "message": redact(message)[:MAX_MESSAGE],
        "data": text,
    }


def record(
    conn: sa.Connection,
    component: str,
    level: str,
    message: str,
    *,
    connector: str | None = None,
    data: Mapping[str, Any] | None = None,
    now: float | None = None,
) -> None:
    """Add one record in the caller's transaction."""
    row = values(component, level, message, connector=connector, data=data, now=now)
    conn.execute(sa.insert(connector_logs_table).values(**row))


def write(
    engine: sa.Engine,
    component: str,
    level: str,
    message: str,
    *,
    connector: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> None:
    """Add one record in a transaction of its own (blocking: call it from a thread)."""
    with engine.begin() as conn:
        record(conn, component, level, message, connector=connector, data=data)


def prune(conn: sa.Connection, *, now: float | None = None, keep: float = KEEP_SECONDS) -> int:
    """Delete records older than ``keep`` seconds; how many went."""
    t = connector_logs_table
    cutoff = (time.time() if now is None else now) - keep
    return conn.execute(sa.delete(t).where(t.c.at < cutoff)).rowcount or 0


@dataclass(frozen=True)
class Query:
    """What ``im logs`` asks for. ``text`` matches the connector's name or type, the message or
    the data (case-insensitive), so ``--filter pagerduty`` finds every PagerDuty connector's."""

    component: str | None = None
    connector: str | None = None
    text: str | None = None
    min_level: str | None = None
    since: float | None = None
    after_id: int | None = None
    limit: int = 100


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def read(conn: sa.Connection, query: Query) -> list[LogRecord]:
    """The newest ``limit`` records that match, oldest first (``after_id``: only newer ones)."""
    t, c = connector_logs_table, connectors_table
    stmt = sa.select(t, c.c.type).select_from(t.outerjoin(c, c.c.name == t.c.connector))
    if query.component:
        stmt = stmt.where(t.c.component == query.component)
    if query.connector:
        stmt = stmt.where(t.c.connector == query.connector)
    if query.min_level:
        stmt = stmt.where(t.c.level.in_(LEVELS[LEVELS.index(query.min_level) :]))
    if query.since is not None:
        stmt = stmt.where(t.c.at >= query.since)
    if query.after_id is not None:
        stmt = stmt.where(t.c.id > query.after_id)
    if query.text:
        pattern = _like(query.text)
        stmt = stmt.where(
            sa.or_(
                *(
                    sa.func.lower(col).like(pattern, escape="\\")
                    for col in (t.c.connector, c.c.type, t.c.message, t.c.data)
                )
            )
        )
    if query.after_id is not None:
        stmt = stmt.order_by(t.c.id).limit(query.limit)
        rows = list(conn.execute(stmt))
    else:
        rows = list(conn.execute(stmt.order_by(t.c.id.desc()).limit(query.limit)))[::-1]
    return [_record(r) for r in rows]


def _record(row: Any) -> LogRecord:
    data: dict[str, Any] | None = None
    if row.data:
        try:
            loaded = json.loads(row.data)
        except ValueError:
            loaded = {"text": row.data}
        data = loaded if isinstance(loaded, dict) else {"value": loaded}
    return LogRecord(
        id=int(row.id),
        at=float(row.at),
        connector=row.connector,
        component=str(row.component),
        level=str(row.level),
        message=str(row.message),
        data=data,
    )


def latest_id(conn: sa.Connection) -> int:
    """The newest record's id (0 when none): where ``--follow`` starts."""
    t = connector_logs_table
    return int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(t.c.id), 0))).scalar_one())


class Throttle:
    """At most one record per key every ``every`` seconds (a flood of forged webhooks must not
    become a flood of rows); :meth:`allow` says how many were held back since the last one."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._last: dict[tuple[str, ...], tuple[float, int]] = {}

    def allow(self, key: tuple[str, ...], now: float) -> int | None:
        """None to skip this one; else how many were skipped before it (0 or more)."""
        last = self._last.get(key)
        if last is not None and now - last[0] < self.every:
            self._last[key] = (last[0], last[1] + 1)
            return None
        if len(self._last) > 10_000:  # keys come from requests: keep the map bounded
            self._last.clear()
        self._last[key] = (now, 0)
        return last[1] if last is not None else 0


# -- what the hub's parts record (one call each, in their own modules) ---------------------------

_REFUSALS: Final = {
    "unsigned": ("warning", "unsigned webhook refused (401): no X-PagerDuty-Signature header"),
    "forged": (
        "warning",
        "forged webhook refused (401): the signature matches no subscription secret",
    ),
    "not_allowed": ("warning", "webhook refused (403): the sender is not in webhook.ip_allowlist"),
    "rate_limited": ("warning", "webhook refused (429): over webhook.rate_limit_per_s"),
    "malformed": ("warning", "webhook refused (400): the body is not a PagerDuty v3 event"),
    "unknown_connector": ("warning", "webhook refused (404): no such connector receives webhooks"),
    "unavailable": ("error", "webhook not stored within 4 s (503): PagerDuty will retry it"),
}
_EVENT_LEVELS: Final = {"applied": "info", "ignored": "info", "error": "error"}


class RefusalLog:
    """Records the webhook deliveries an intake refused, at most one per connector and reason a
    minute (the rest are counted into the next record), written off the request's path."""

    def __init__(self, engine: sa.Engine, *, every: float = 60.0) -> None:
        self.engine = engine
        self.throttle = Throttle(every)
        self._writing: set[asyncio.Task[None]] = set()

    def note(self, name: str, reason: str, client: str | None, now: float) -> None:
        level, message = _REFUSALS.get(reason, ("warning", f"webhook refused ({reason})"))
        known = reason != "unknown_connector"
        held = self.throttle.allow((reason, name if known else ""), now)
        if held is None:
            return
        text = f"{message} from {client or 'an unknown address'}"
        if not known:
            text += f" (for {name[:CONNECTOR_NAME_MAX]!r})"
        if held:
            text += f"; {held} more like it since the last record"
        data = {"reason": reason, "client": client, "held_back": held}
        task = asyncio.create_task(self._write(level, text, name if known else None, data))
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    async def _write(self, level: str, text: str, name: str | None, data: dict[str, Any]) -> None:
        try:
            await asyncio.to_thread(
                write, self.engine, "webhook", level, text, connector=name, data=data
            )
        except Exception as exc:  # the answer went out; a lost log line must not matter
            log.debug("webhook refusal not recorded: %s", exc)


def event_settled(
    conn: sa.Connection, connector: str, event: Mapping[str, Any], state: str, result: str
) -> None:
    """A received webhook event was applied, ignored or kept with its error."""
    row = event_settled_values(connector, event, state, result)
    conn.execute(sa.insert(connector_logs_table).values(**row))


def insert_many(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Add records made by the ``*_values`` functions in one statement."""
    if rows:
        conn.execute(sa.insert(connector_logs_table), rows)


def event_settled_values(
    connector: str, event: Mapping[str, Any], state: str, result: str
) -> dict[str, Any]:
    """The record of :func:`event_settled` (for a batch, with :func:`insert_many`)."""
    kind = str(event.get("event_type") or "unknown event")
    data = event.get("data")
    data = data if isinstance(data, dict) else {}
    incident = data.get("incident")
    incident = incident if isinstance(incident, dict) else data
    pd_id = incident.get("id")
    where = f" {pd_id}" if isinstance(pd_id, str) else ""
    return values(
        "webhook",
        _EVENT_LEVELS.get(state, "info"),
        f"{kind}{where} {state}: {result}",
        connector=connector,
        data={"event_id": event.get("id"), "state": state},
    )


def sync_done(conn: sa.Connection, connector: str, row: Mapping[str, Any], said: list[str]) -> None:
    """The sender told PagerDuty about one change (or found nothing to do)."""
    record(
        conn,
        "sync",
        "info",
        f"INC-{row.get('incident_id')} {row.get('kind')}: " + ("; ".join(said) or "nothing to do"),
        connector=connector,
        data={"kind": row.get("kind"), "incident_id": row.get("incident_id")},
    )


def sync_failed(
    conn: sa.Connection, connector: str, row: Mapping[str, Any], why: str, status: int
) -> None:
    """PagerDuty refused a change for good (dead letter) or the connector cannot send."""
    record(
        conn,
        "sync",
        "error",
        f"INC-{row.get('incident_id')} {row.get('kind')} failed: {why}",
        connector=connector,
        data={"kind": row.get("kind"), "incident_id": row.get("incident_id"), "status": status},
    )
