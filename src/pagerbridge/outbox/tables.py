"""The outbox tables as SQLAlchemy ``Table`` objects, and the transactional-outbox entry point.

The schema itself is the ``.sql`` files (``pd-send`` creates it without SQLAlchemy); these
definitions mirror them so the migrations-vs-models test covers the outbox, and so the incident
connector can insert a row in the same transaction as the state change that caused it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from pagerbridge.outbox.queries import BLOCKED
from pagerbridge.outbox.types import ACTIVE_STATES, PENDING
from pagerbridge.store.metadata import metadata

_ACTIVE = "state IN ('pending', 'in_flight')"
_ACTIVE_REST = _ACTIVE + " AND kind NOT IN ('event', 'change_event')"
_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

outbox_table = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", _ID, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.Text(), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("ordering_key", sa.Text(), nullable=False),
    sa.Column("routing_key", sa.Text(), nullable=False),
    sa.Column("dedup_key", sa.Text(), nullable=True),
    sa.Column("state", sa.Text(), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
    sa.Column("next_attempt_at", sa.Double(), nullable=False),
    sa.Column("lease_expires_at", sa.Double(), nullable=True),
    sa.Column("claimed_by", sa.Text(), nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.Column("delivered_at", sa.Double(), nullable=True),
    sa.Column("deadline_from", sa.Double(), nullable=False),
    sa.Column("destination", sa.Text(), nullable=True),
    sa.Column("folds", sa.Integer(), nullable=True),
    sa.Index("ix_outbox_state_due", "state", "next_attempt_at"),
    sa.Index(
        "ix_outbox_active_lane",
        "ordering_key",
        "id",
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    ),
    sa.Index("ix_outbox_routing_key", "routing_key", "id"),
    sa.Index(
        "ix_outbox_active_id",
        "id",
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    ),
    sa.Index(
        "ix_outbox_active_due",
        "next_attempt_at",
        "id",
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    ),
    sa.Index(
        "ix_outbox_held",
        "destination",
        sqlite_where=sa.text(_ACTIVE),
        postgresql_where=sa.text(_ACTIVE),
    ),
    sa.Index(
        "ix_outbox_rest_due",
        "next_attempt_at",
        "id",
        sqlite_where=sa.text(_ACTIVE_REST),
        postgresql_where=sa.text(_ACTIVE_REST),
    ),
    sqlite_autoincrement=True,
)

outbox_settings_table = sa.Table(
    "outbox_settings",
    metadata,
    sa.Column("name", sa.Text(), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
)

outbox_paused_table = sa.Table(
    "outbox_paused",
    metadata,
    sa.Column("routing_key", sa.Text(), primary_key=True),
    sa.Column("paused_at", sa.Double(), nullable=False),
)

outbox_rate_table = sa.Table(
    "outbox_rate",
    metadata,
    sa.Column("routing_key", sa.Text(), primary_key=True),
    sa.Column("tokens", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
)


def enqueue_in_transaction(
    connection: sa.Connection,
    kind: str,
    payload: Mapping[str, Any] | str,
    ordering_key: str,
    *,
    routing_key: str = "",
    dedup_key: str | None = None,
    now: float | None = None,
    destination: str | None = None,
) -> int:
    """Insert an outbox row inside the caller's transaction; it commits (or not) with it.

    For the transactional outbox: the incident connector records "tell PagerDuty" in the same
    transaction as the state change (``kind`` ``pd_rest``: only the hub's REST worker claims it;
    ``routing_key`` names its rate budget, ``rest:<credential>``). Returns the row id. The
    queue-size limit is not applied: refusing a state change because the queue is long would be
    worse. On PostgreSQL it takes the lane's advisory lock, as every outbox writer does, so ids
    within an ordering key follow commit order.
    """
    ts = time.time() if now is None else now
    body = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    t = outbox_table
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": ordering_key}
        )
    earlier = sa.select(sa.literal(1)).where(
        t.c.ordering_key == ordering_key, t.c.state.in_(ACTIVE_STATES)
    )
    blocked = connection.execute(sa.select(earlier.exists())).scalar()
    result = connection.execute(
        sa.insert(t)
        .values(
            kind=kind,
            payload=body,
            ordering_key=ordering_key,
            routing_key=routing_key,
            dedup_key=dedup_key,
            state=PENDING,
            attempts=0,
            next_attempt_at=BLOCKED if blocked else ts,
            created_at=ts,
            updated_at=ts,
            deadline_from=ts,
            destination=destination,
        )
        .returning(t.c.id)
    )
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_notify('pagerbridge_outbox', '')"))
    return int(result.scalar_one())
