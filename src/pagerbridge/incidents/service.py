"""State changes of incidents: declare, acknowledge, resolve, close, reopen, note, assign, list.

Every function takes the session as the keyword ``session``, records the change on the timeline
with its ``actor`` and ``origin`` (local / api / pagerduty), flushes, and leaves the commit to the
caller, so a connector can enqueue outbox rows in the same transaction.

Changes to an existing incident are written in SQLAlchemy Core by :mod:`changes` (the hot path);
the functions here wrap them for session users. Lost updates are impossible: a change first locks
the incident row (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the transaction already holds
the write lock from ``BEGIN IMMEDIATE``), and the ``version`` column is checked by every UPDATE as
a second line of defence.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, joinedload

from pagerbridge.errors import IncidentNotFoundError
from pagerbridge.incidents import changes, jsonvalues, timeline
from pagerbridge.incidents.catalog import ensure_services
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.lifecycle import (
    check_service_name,
    format_ref,
    parse_ref,
    parse_severity,
    parse_status,
)
from pagerbridge.incidents.limits import (
    CUSTOM_FIELDS_MAX_BYTES,
    NAME_MAX_CHARS,
    OFFSET_MAX,
    SERVICES_PER_INCIDENT_MAX,
    TEXT_MAX_BYTES,
    TITLE_MAX_CHARS,
    check_text,
)
from pagerbridge.incidents.models import Counter, Incident, IncidentService, Service, TimelineEntry

TITLE_MAX: Final = TITLE_MAX_CHARS
PAGE_MAX: Final = 500
PAGE_DEFAULT: Final = 25


@dataclass
class Declared:
    incident: Incident
    created_services: list[str] = field(default_factory=list)


@dataclass
class Page:
    items: list[Incident]
    limit: int
    offset: int
    more: bool


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def next_number(*, session: Session, name: str = "incident") -> int:
    """The next value of a per-database counter: one atomic upsert, safe under concurrency."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(Counter).values(name=name, value=1)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(Counter).values(name=name, value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Counter.name], set_={"value": Counter.value + 1}
    ).returning(Counter.value)
    return int(session.execute(stmt).scalar_one())


def _check_title(title: str) -> str:
    title = check_text("title", title).strip()
    if not title:
        raise InvalidInputError("title must not be empty")
    return check_text("title", title, max_chars=TITLE_MAX_CHARS, one_line=True)


def _check_service_names(names: Sequence[str]) -> list[str]:
    """Valid, without repeats (order kept), and not too many."""
    if isinstance(names, str):
        raise InvalidInputError("services must be a list of service names")
    unique = list(dict.fromkeys(check_service_name(check_text("service name", n)) for n in names))
    if len(unique) > SERVICES_PER_INCIDENT_MAX:
        raise InvalidInputError(
            f"{len(unique)} services named (at most {SERVICES_PER_INCIDENT_MAX} per incident)"
        )
    return unique


def declare(
    *,
    session: Session,
    title: str,
    severity: str | None,
    services: Sequence[str] = (),
    description: str = "",
    assignee: str | None = None,
    custom_fields: Mapping[str, Any] | None = None,
    actor: str,
    origin: str = "local",
    now: datetime | None = None,
) -> Declared:
    """Open a new incident ``INC-<n>``; services named that do not exist yet are created.

    Without a severity, the most severe default severity of the named (existing) services is used.
    """
    when = _now(now)
    title = _check_title(title)
    description = check_text("description", description, max_bytes=TEXT_MAX_BYTES)
    fields: Any = {} if custom_fields is None else custom_fields
    fields = dict(fields) if isinstance(fields, Mapping) else fields
    jsonvalues.check("custom_fields", fields, max_bytes=CUSTOM_FIELDS_MAX_BYTES)
    sev = parse_severity(check_text("severity", severity)) if severity else None
    assignee = changes.check_assignee(assignee)
    wanted = _check_service_names(services)
    svc, created = ensure_services(session=session, names=wanted, now=when)
    if sev is None:
        defaults = [s.default_severity for s in svc if s.name not in created]
        if not defaults:
            raise InvalidInputError(
                "a severity is required (SEV-1..SEV-4): none was given and no existing service "
                "named has a default severity"
            )
        sev = min(defaults)
    number = next_number(session=session)
    incident = Incident(
        id=number,
        title=title,
        description=description,
        severity=sev,
        status="open",
        assignee=assignee,
        correlation_id=str(uuid.uuid4()) if len(svc) > 1 else None,
        custom_fields=fields,
        origin=origin,
        created_by=actor[:NAME_MAX_CHARS],
        created_at=when,
        updated_at=when,
        sla_started_at=when,
    )
    incident.services = sorted(svc, key=lambda x: x.name)
    session.add(incident)
    session.flush()
    names = ", ".join(s.name for s in svc)
    timeline.append(
        session=session,
        incident_id=number,
        kind="declared",
        actor=actor,
        origin=origin,
        at=when,
        body=f"{sev} declared: {title}" + (f" (services: {names})" if names else ""),
        data={
            "severity": sev,
            "services": [s.name for s in svc],
            "assignee": assignee,
            "created_services": created,
        },
    )
    session.flush()
    return Declared(incident, created)


def get_incident(*, session: Session, ref: str | int, for_update: bool = False) -> Incident:
    """The incident named ``INC-<n>`` (or ``n``); IncidentNotFoundError if there is none."""
    number = parse_ref(ref)
    # One round trip: the services come in the same query (FOR UPDATE OF only the incident row).
    stmt = select(Incident).options(joinedload(Incident.services)).where(Incident.id == number)
    if for_update:
        stmt = stmt.with_for_update(of=Incident)
    incident = session.scalars(stmt).unique().first()
    if incident is None:
        raise IncidentNotFoundError(f"no incident {format_ref(number)}")
    return incident


def _reloaded(session: Session, number: int) -> Incident:
    """The ORM view of an incident a Core change just wrote (refreshing any stale copy)."""
    incident = session.get(Incident, number, populate_existing=True)
    if incident is None:  # pragma: no cover - the change just locked it
        raise IncidentNotFoundError(f"no incident {format_ref(number)}")
    return incident


def transition(
    *,
    session: Session,
    ref: str | int,
    action: str,
    actor: str,
    origin: str = "local",
    note: str | None = None,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> Incident:
    """Apply ``ack``/``resolve``/``close``/``reopen``; IllegalTransitionError says why not.

    The change itself is :func:`pagerbridge.incidents.changes.transition` (Core, the hot path);
    this returns the ORM object for callers that work with sessions.
    """
    session.flush()
    changed = changes.transition(
        session.connection(),
        ref=ref,
        action=action,
        actor=actor,
        origin=origin,
        note=note,
        now=now,
        expected_version=expected_version,
    )
    return _reloaded(session, changed.incident["id"])


def ack(**kwargs: Any) -> Incident:
    return transition(action="ack", **kwargs)


def resolve(**kwargs: Any) -> Incident:
    return transition(action="resolve", **kwargs)


def close(**kwargs: Any) -> Incident:
    return transition(action="close", **kwargs)


def reopen(**kwargs: Any) -> Incident:
    return transition(action="reopen", **kwargs)


def add_note(
    *,
    session: Session,
    ref: str | int,
    body: str,
    actor: str,
    origin: str = "local",
    now: datetime | None = None,
) -> TimelineEntry:
    """A note is a timeline entry; it also bumps the incident's version and ``updated_at``."""
    session.flush()
    changed = changes.add_note(
        session.connection(), ref=ref, body=body, actor=actor, origin=origin, now=now
    )
    _reloaded(session, changed.incident["id"])
    entry = session.get(TimelineEntry, changed.entry["id"])
    assert entry is not None
    return entry


def assign(
    *,
    session: Session,
    ref: str | int,
    assignee: str | None,
    actor: str,
    origin: str = "local",
    note: str | None = None,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> Incident:
    """Set (or clear, with None/"") who is responsible."""
    session.flush()
    changed = changes.assign(
        session.connection(),
        ref=ref,
        assignee=assignee,
        actor=actor,
        origin=origin,
        note=note,
        now=now,
        expected_version=expected_version,
    )
    return _reloaded(session, changed.incident["id"])


def list_incidents(
    *,
    session: Session,
    status: str | None = None,
    service: str | None = None,
    severity: str | None = None,
    limit: int = PAGE_DEFAULT,
    offset: int = 0,
) -> Page:
    """Newest first, filtered; ``more`` says whether another page follows (PagerDuty style)."""
    if not 1 <= limit <= PAGE_MAX:
        raise InvalidInputError(f"limit must be between 1 and {PAGE_MAX}")
    if not 0 <= offset <= OFFSET_MAX:
        raise InvalidInputError(f"offset must be between 0 and {OFFSET_MAX}")
    stmt: Select[Any] = select(Incident)
    if status:
        stmt = stmt.where(Incident.status == parse_status(check_text("status", status)))
    if severity:
        stmt = stmt.where(Incident.severity == parse_severity(check_text("severity", severity)))
    if service:
        service = check_service_name(check_text("service", service))
        stmt = stmt.where(
            Incident.id.in_(
                select(IncidentService.incident_id)
                .join(Service, Service.id == IncidentService.service_id)
                .where(Service.name == service)
            )
        )
    stmt = stmt.order_by(Incident.id.desc()).limit(limit + 1).offset(offset)
    rows = list(session.scalars(stmt).all())
    return Page(rows[:limit], limit, offset, len(rows) > limit)


def count_by_status(*, session: Session) -> dict[str, int]:
    """How many incidents there are in each status (for the hub's metrics)."""
    stmt = select(Incident.status, func.count()).group_by(Incident.status)
    return {status: int(count) for status, count in session.execute(stmt).all()}
