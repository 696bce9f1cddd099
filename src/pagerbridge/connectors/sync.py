"""The hub's sender of connector rows: one outbox row in, one classified outcome out.

The outbox worker owns order, retries and dead letters; this only does the row's work and says
what became of it (Alertmanager's notifier split). PagerDuty errors are classified here, at one
boundary: no answer, 429 and 5xx are retried; a real 4xx is final and is written on the
incident's timeline and in the connector's activity (``status``), with the fix when we know it
(401: the key; 403: a read-only key).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors import links as db
from pagerbridge.connectors import logstore
from pagerbridge.connectors import pagerduty as pd
from pagerbridge.connectors.records import ACTIVE, ConnectorRecord, load_by_id
from pagerbridge.errors import (
    APIError,
    AuthenticationError,
    ConnectorError,
    ForbiddenError,
    NotFoundError,
    PagerbridgeError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from pagerbridge.pagerduty.outcome import Accepted, Outcome, Rejected, Retry
from pagerbridge.pagerduty.rest import RestClient

log = logging.getLogger(__name__)

#: Makes the REST client of a connector (``credentials.rest_client_for`` in the hub).
ClientFactory = Callable[[ConnectorRecord], Awaitable[RestClient]]
#: (events URL, routing key) of a routing-key connector (``credentials.events_target``).
EventsTarget = Callable[[ConnectorRecord], Awaitable[tuple[str, str]]]
DONE: Final = Accepted(dedup_key=None, status=200, message="ok")


def _rejection(record: ConnectorRecord, exc: APIError) -> str:
    name = record.name
    if isinstance(exc, AuthenticationError):
        return (
            f"PagerDuty refused the credentials (401): update them with "
            f"`im connector update {name} --api-key KEY`"
        )
    if isinstance(exc, ForbiddenError):
        return (
            f"PagerDuty refused the write (403 {exc.message}): the API key is read-only or lacks "
            f"the ability; give the connector a full-access key (`im connector update {name} "
            "--api-key KEY`)"
        )
    if isinstance(exc, NotFoundError):
        return f"PagerDuty has no such object (404 {exc.message}): check the connector's mappings"
    return str(exc)


class ConnectorSender:
    """``async sender(body, change, destination) -> Outcome`` for rows of kind ``pd_rest``."""

    def __init__(
        self, engine: sa.Engine, clients: ClientFactory, events_target: EventsTarget
    ) -> None:
        self.engine = engine
        self.clients = clients
        self.events_target = events_target
        #: Per connector, across rows: users by email and priorities (see ``pd.Lookups``).
        self._lookups: dict[int, pd.Lookups] = {}

    async def __call__(self, body: bytes, change: bool, destination: str | None) -> Outcome:
        try:
            row = json.loads(body)
            connector_id = int(row["connector_id"])
        except (ValueError, KeyError, TypeError) as exc:
            return Rejected(status=0, message=f"not a connector row: {exc}", errors=[])
        record = await self._record(connector_id)
        if record is None or record.status != ACTIVE:
            log.info("connector %d is gone or disabled: row dropped", connector_id)
            return DONE
        if record.settings.auth_type == "routing_key":
            return await self._send_event(record, row)
        try:
            client = await self.clients(record)
        except ConnectorError as exc:
            return await self._failed(record, row, str(exc))
        lookups = self._lookups.setdefault(record.id, pd.Lookups())
        ctx = pd.Context(record=record, client=client, engine=self.engine, lookups=lookups)
        try:
            said = await self._apply(ctx, row)
        except (TransportError, ServerError, RateLimitedError) as exc:
            delay = exc.retry_after if isinstance(exc, RateLimitedError) else None
            status = exc.status if isinstance(exc, APIError) else None
            return Retry(reason=str(exc), delay=delay, status=status)
        except APIError as exc:
            return await self._failed(record, row, _rejection(record, exc), exc.status)
        except PagerbridgeError as exc:
            return await self._failed(record, row, str(exc))
        await ctx.db(lambda c: self._record_success(c, record, row, said))
        return DONE

    async def _send_event(self, record: ConnectorRecord, row: dict[str, Any]) -> Outcome:
        """A routing-key connector: the row becomes an Events API event (or nothing)."""
        from pagerbridge.connectors import events_mode

        incident_id = int(row["incident_id"])
        incident = await asyncio.to_thread(self._read_incident, incident_id)
        if incident is None:
            return DONE
        try:
            events_url, routing_key = await self.events_target(record)
        except ConnectorError as exc:
            return await self._failed(record, row, str(exc))
        outcome, line = await events_mode.send(self.engine, events_url, routing_key, row, incident)
        if isinstance(outcome, Rejected):
            return await self._failed(record, row, outcome.message, outcome.status)
        if isinstance(outcome, Accepted):
            said = [line] if line else []
            await asyncio.to_thread(
                self._write, lambda c: self._record_success(c, record, row, said)
            )
        return outcome

    def _read_incident(self, incident_id: int) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return db.incident_values(conn, incident_id)

    def _write(self, fn: Callable[[sa.Connection], None]) -> None:
        with self.engine.begin() as conn:
            fn(conn)

    async def _record(self, connector_id: int) -> ConnectorRecord | None:
        def read() -> ConnectorRecord | None:
            with self.engine.connect() as conn:
                return load_by_id(conn, connector_id)

        return await asyncio.to_thread(read)

    async def _apply(self, ctx: pd.Context, row: dict[str, Any]) -> list[str]:
        incident_id = int(row["incident_id"])
        incident = await ctx.db(lambda c: db.incident_values(c, incident_id))
        if incident is None:
            return []
        entry = await ctx.db(lambda c: db.entry(c, int(row["entry_id"]))) or {}
        actor = str(entry.get("actor") or "")
        if row["kind"] == "declared":
            return await pd.declare(ctx, incident, actor)
        linked = [
            link
            for link in await ctx.db(lambda c: db.links(c, ctx.record.id, incident_id))
            if link.pd_incident_id
        ]
        if not linked:
            return []  # not mapped to this connector (or its create failed: said there)
        data = entry.get("data") or {}
        if row["kind"] == "status":
            note = data.get("note") if isinstance(data, dict) else None
            return await pd.status_change(ctx, linked, str(row["action"]), note, actor)
        if row["kind"] == "note":
            return await pd.add_note(ctx, linked, str(entry.get("body") or ""), actor)
        if row["kind"] == "assigned":
            assignee = data.get("to") if isinstance(data, dict) else None
            said = await pd.assign(ctx, linked, assignee, actor)
            note = data.get("note") if isinstance(data, dict) else None
            if note and ctx.record.settings.custom.sync_notes:
                said += await pd.add_note(ctx, linked, str(note), actor)
            return said
        if row["kind"] == "sla_breach":  # issue 14 item 7: connectors/sla_sync.py
            from pagerbridge.connectors.sla_sync import notify_breach

            return await notify_breach(ctx, linked, str(entry.get("body") or ""), actor)
        return []

    @staticmethod
    def _record_success(
        conn: sa.Connection, record: ConnectorRecord, row: dict[str, Any], said: list[str]
    ) -> None:
        incident_id = int(row["incident_id"])
        for line in said:
            db.add_timeline(
                conn, incident_id, connector=record.name, body=line, data={"row": row["kind"]}
            )
        db.add_activity(
            conn,
            record.id,
            "synced",
            f"INC-{incident_id} {row['kind']}: " + ("; ".join(said) or "nothing to do"),
            incident_id=incident_id,
        )
        logstore.sync_done(conn, record.name, row, said)  # im logs --component sync

    async def _failed(
        self, record: ConnectorRecord, row: dict[str, Any], why: str, status: int = 0
    ) -> Outcome:
        incident_id = int(row.get("incident_id") or 0)

        def write(conn: sa.Connection) -> None:
            if incident_id and db.incident_values(conn, incident_id) is not None:
                db.add_timeline(
                    conn,
                    incident_id,
                    connector=record.name,
                    body=f"PagerDuty sync failed ({row.get('kind')}): {why}",
                    data={"error": why, "status": status},
                )
            db.add_activity(
                conn,
                record.id,
                "error",
                f"INC-{incident_id}: {why}",
                incident_id=incident_id,
                error=True,
            )
            logstore.sync_failed(conn, record.name, row, why, status)  # im logs --component sync

        await asyncio.to_thread(self._write, write)
        log.warning(
            "connector %s: INC-%s %s failed: %s", record.name, incident_id, row.get("kind"), why
        )
        return Rejected(status=status, message=why, errors=[])
