"""The append-only timeline: the record of truth of every incident.

Every change writes one entry (kind, actor, origin, body, time, structured data). Entries are only
ever inserted; nothing in pagerbridge updates or deletes one (an incident's deletion aside).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pagerbridge.incidents.lifecycle import parse_origin
from pagerbridge.incidents.models import TimelineEntry

#: Kinds of timeline entries pagerbridge writes.
KINDS: Final = ("declared", "status", "note", "assigned", "sla_breach", "pagerduty")

ACTOR_MAX: Final = 255


def append(
    *,
    session: Session,
    incident_id: int,
    kind: str,
    actor: str,
    origin: str,
    at: datetime,
    body: str = "",
    data: dict[str, Any] | None = None,
) -> TimelineEntry:
    """Add one entry; the caller's transaction commits it with the change it records."""
    entry = TimelineEntry(
        **entry_values(
            incident_id=incident_id,
            kind=kind,
            actor=actor,
            origin=origin,
            at=at,
            body=body,
            data=data,
        )
    )
    session.add(entry)
    return entry


def entry_values(
    *,
    incident_id: int,
    kind: str,
    actor: str,
    origin: str,
    at: datetime,
    body: str = "",
    data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The column values of one entry (shared by the ORM and the Core write paths)."""
    return {
        "incident_id": incident_id,
        "kind": kind,
        "actor": (actor or "unknown")[:ACTOR_MAX],
        "origin": parse_origin(origin),
        "at": at,
        "body": body,
        "data": data or {},
    }


def entries(*, session: Session, incident_id: int) -> Sequence[TimelineEntry]:
    """All entries of one incident, oldest first (insertion order)."""
    stmt = (
        select(TimelineEntry)
        .where(TimelineEntry.incident_id == incident_id)
        .order_by(TimelineEntry.id)
    )
    return session.scalars(stmt).all()
