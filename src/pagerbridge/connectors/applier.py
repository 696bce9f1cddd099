"""Applies received webhook events to local incidents, in order, each exactly once.

The intake (:mod:`webhook_intake`) only stores events; this loop, in the hub, takes the pending
ones oldest first and applies each with :func:`inbound.apply` in the same transaction that marks
it ``applied``/``ignored`` — so a hub killed halfway applies it again from scratch or not at all,
never twice. Events of one PagerDuty incident are applied in the order received. With several
hubs on one PostgreSQL, one applies a connector's events at a time (an advisory lock); on SQLite
the write lock serialises them and the event row is re-read inside the transaction.

An event that cannot be applied (a bug, a refused value) is kept with its error (``error``,
visible in ``im logs``), never dropped, and the next events go on. Another transaction in the
way (a deadlock with another hub, a lock timeout) is not the event's fault: the batch is rolled
back and tried again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors import inbound, logstore
from pagerbridge.connectors.models import connector_webhook_events_table
from pagerbridge.connectors.records import ConnectorRecord, load_by_id
from pagerbridge.errors import PagerbridgeError
from pagerbridge.incidents import dberrors
from pagerbridge.store.engine import reading

log = logging.getLogger(__name__)

BATCH: Final = 25
POLL_SECONDS: Final = 1.0
GATHER_SECONDS: Final = 0.02
#: The longest one batch's transaction applies events: it holds SQLite's one write lock, which
#: the webhook intake needs to answer PagerDuty (a backlog is applied slice after slice).
SLICE_SECONDS: Final = 0.01
#: Looks up a PagerDuty user's email by id (None when unknown): assignees arrive as references.
EmailOf = Callable[[ConnectorRecord, str], Awaitable[str | None]]


def apply_lock_key(connector_id: int) -> int:
    """The PostgreSQL advisory lock held while a connector's PagerDuty changes are applied (the
    webhook applier and reconcile take it, so they never declare one incident twice)."""
    return zlib.crc32(f"pagerbridge:webhook-apply:{connector_id}".encode()) & 0x7FFFFFFF


class WebhookApplier:
    def __init__(self, engine: sa.Engine, email_of: EmailOf | None = None) -> None:
        self.engine = engine
        self.email_of = email_of
        self.applied = 0
        self.failed = 0

    async def run(self, stop: asyncio.Event, wake: asyncio.Event) -> None:
        while not stop.is_set():
            wake.clear()
            try:
                more = await self.apply_pending()
            except Exception as exc:  # the loop must outlive a bad moment of the database
                if _contended(exc):
                    log.info("webhook events wait for a lock held elsewhere; retrying: %s", exc)
                else:
                    log.exception("applying webhook events failed; retrying")
                more = False
            if not more:
                waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
                await asyncio.wait(waits, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                for w in waits:
                    w.cancel()
                # Let a burst gather: one transaction for many events costs the intake less
                # than one per event, and 20 ms is nothing against the 1 s a change may take.
                await asyncio.sleep(GATHER_SECONDS)

    async def apply_pending(self) -> bool:
        """Apply what is pending now (a batch, or what fits in :data:`SLICE_SECONDS`); True
        when more is pending already (a backlog: the caller goes on without waiting).

        Lookups that need PagerDuty (an assignee's email) happen first, outside any
        transaction; then the batch is applied in one transaction, each event in its own
        savepoint (one fsync for the batch, one event's failure kept to itself).
        """
        pending = await asyncio.to_thread(self._pending)
        if not pending:
            return False
        records: dict[int, ConnectorRecord | None] = {}
        work: list[tuple[int, ConnectorRecord, dict[str, Any], str | None]] = []
        for event_row_id, connector_id, payload in pending:
            if connector_id not in records:
                records[connector_id] = await asyncio.to_thread(self._record, connector_id)
            record = records[connector_id]
            if record is None:
                continue
            event = _parse(payload)
            email = await self._assignee_email(record, event)
            work.append((event_row_id, record, event, email))
        settled = await asyncio.to_thread(self._apply_batch, work)
        return bool(work) and (len(pending) == BATCH or settled < len(work))

    def _pending(self) -> list[tuple[int, int, str]]:
        t = connector_webhook_events_table
        with reading(self.engine) as conn:
            rows = conn.execute(
                sa.select(t.c.id, t.c.connector_id, t.c.payload)
                .where(t.c.state == "pending")
                .order_by(t.c.id)
                .limit(BATCH)
            ).all()
        return [(r.id, r.connector_id, r.payload) for r in rows]

    def _record(self, connector_id: int) -> ConnectorRecord | None:
        with reading(self.engine) as conn:
            return load_by_id(conn, connector_id)

    async def _assignee_email(self, record: ConnectorRecord, event: dict[str, Any]) -> str | None:
        if self.email_of is None or not isinstance(event, dict):
            return None
        kind = event.get("event_type")
        if kind not in ("incident.acknowledged", *inbound.ASSIGNING):
            return None
        incident = inbound.incident_of(event)
        people = incident.get("assignees") if isinstance(incident.get("assignees"), list) else []
        agent = event.get("agent") if isinstance(event.get("agent"), dict) else {}
        first = people[0] if people and isinstance(people[0], dict) else agent
        user_id = first.get("id") if isinstance(first, dict) else None
        if not isinstance(user_id, str):
            return None
        try:
            return await self.email_of(record, user_id)
        except PagerbridgeError as exc:
            log.info("connector %s: no email for user %s: %s", record.name, user_id, exc)
            return None

    def _apply_batch(
        self, work: list[tuple[int, ConnectorRecord, dict[str, Any], str | None]]
    ) -> int:
        """Apply ``work`` in one transaction: the still-pending rows are locked with one query,
        each event applied in its own savepoint, then states and log records written with one
        statement each (a batch of a hundred events costs one fsync)."""
        t = connector_webhook_events_table
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                work = [w for w in work if self._locked(conn, w[1].id)]
            ids = [row_id for row_id, *_ in work]
            pending = set(
                conn.execute(
                    sa.select(t.c.id)
                    .where(t.c.id.in_(ids), t.c.state == "pending")
                    .with_for_update()
                ).scalars()
            )
            subjects = [(w[1].id, inbound.subject(w[2])[1]) for w in work]
            linked: set[tuple[int, str | None]] = set(
                inbound.linked_ids(conn, {(c, pd) for c, pd in subjects if pd is not None})
            )
            settled: list[dict[str, Any]] = []
            logs: list[dict[str, Any]] = []
            started = time.monotonic()
            for (row_id, record, event, email), about in zip(work, subjects, strict=True):
                if settled and time.monotonic() - started > SLICE_SECONDS:
                    break  # the rest stay pending: the intake's writes wait for this one
                if row_id not in pending:
                    continue  # settled meanwhile by another hub
                # An event of an incident linked to nothing here (nor triggered earlier in this
                # batch) is settled without a savepoint or a query.
                quick = None if about in linked else inbound.unlinked(event)
                if quick is not None:
                    new_state, result = quick.state, quick.result
                else:
                    new_state, result = self._apply_one(conn, row_id, record, event, email)
                    linked.add(about)
                settled.append(
                    {"row_id": row_id, "state": new_state, "result": result, "at": time.time()}
                )
                logs.append(logstore.event_settled_values(record.name, event, new_state, result))
            if settled:
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == sa.bindparam("row_id"))
                    .values(
                        state=sa.bindparam("state"),
                        result=sa.bindparam("result"),
                        applied_at=sa.bindparam("at"),
                    ),
                    settled,
                )
            logstore.insert_many(conn, logs)  # im logs --component webhook
        return len(settled)

    @staticmethod
    def _locked(conn: sa.Connection, connector_id: int) -> bool:
        """One applier per connector across hubs (PostgreSQL; held to the end of the batch)."""
        return bool(
            conn.execute(
                sa.text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": apply_lock_key(connector_id)}
            ).scalar()
        )

    def _apply_one(
        self,
        conn: sa.Connection,
        row_id: int,
        record: ConnectorRecord,
        event: dict[str, Any],
        email: str | None,
    ) -> tuple[str, str]:
        try:
            with conn.begin_nested():
                outcome = inbound.apply(conn, record, event, assignee_email=email)
        except Exception as exc:  # kept with its error, never dropped
            if _contended(exc):
                raise  # another hub holds what this event needs: the whole batch is tried again
            log.warning("connector %s: webhook event %d not applied: %s", record.name, row_id, exc)
            self.failed += 1
            return "error", inbound.clean(f"{type(exc).__name__}: {exc}", 2000)
        self.applied += 1
        return outcome.state, inbound.clean(outcome.result, 2000)


def _contended(exc: Exception) -> bool:
    """Whether ``exc`` is the database in the way (try the batch again), not the event's fault:
    a deadlock, a serialisation failure, a lock timeout, SQLite busy, the database away — by the
    one classification of database failures (:func:`dberrors.cause`). A constraint violation is
    not: it would fail the same way again."""
    if not isinstance(exc, sa.exc.DBAPIError) or isinstance(exc, sa.exc.IntegrityError):
        return False
    return dberrors.cause(exc) in (dberrors.UNAVAILABLE, dberrors.CONFLICT)


def _parse(payload: str) -> dict[str, Any]:
    try:
        event = json.loads(payload)["event"]
    except (ValueError, KeyError, TypeError):
        return {}
    return event if isinstance(event, dict) else {}
