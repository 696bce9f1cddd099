"""Services: what incidents affect (name, description, owner team, default severity)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pagerbridge.errors import ConflictError
from pagerbridge.incidents.errors import (
    InvalidInputError,
    ServiceInUseError,
    ServiceNotFoundError,
)
from pagerbridge.incidents.lifecycle import check_service_name, parse_severity
from pagerbridge.incidents.limits import OWNER_TEAM_MAX_CHARS, TEXT_MAX_BYTES, check_text
from pagerbridge.incidents.models import IncidentService, Service


def create_service(
    *,
    session: Session,
    name: str,
    description: str = "",
    owner_team: str | None = None,
    default_severity: str = "SEV-3",
    now: datetime | None = None,
) -> Service:
    name = check_service_name(check_text("service name", name))
    description = check_text("description", description, max_bytes=TEXT_MAX_BYTES)
    if owner_team is not None:
        owner_team = check_text("owner_team", owner_team, max_chars=OWNER_TEAM_MAX_CHARS)
    severity = parse_severity(check_text("default_severity", default_severity))
    if session.scalar(select(Service.id).where(Service.name == name)) is not None:
        raise ConflictError(f"service {name!r} already exists")
    service = Service(
        name=name,
        description=description,
        owner_team=owner_team or None,
        default_severity=severity,
        created_at=now or datetime.now(UTC),
    )
    session.add(service)
    session.flush()
    return service


def get_service(*, session: Session, name: str) -> Service:
    """The service called ``name``; a name no service could have is not looked up."""
    try:
        valid = check_service_name(check_text("service name", name)) == name
    except InvalidInputError:
        valid = False
    service = session.scalar(select(Service).where(Service.name == name)) if valid else None
    if service is None:
        raise ServiceNotFoundError(f"no service named {name!r}")
    return service


def list_services(*, session: Session) -> Sequence[Service]:
    return session.scalars(select(Service).order_by(Service.name)).all()


def incident_count(*, session: Session, service: Service) -> int:
    stmt = select(func.count()).where(IncidentService.service_id == service.id)
    return int(session.scalar(stmt) or 0)


def remove_service(*, session: Session, name: str) -> None:
    """Delete a service no incident refers to (the timeline must keep making sense)."""
    service = get_service(session=session, name=name)
    used = incident_count(session=session, service=service)
    if used:
        raise ServiceInUseError(
            f"service {name!r} is referred to by {used} incident(s) and cannot be removed"
        )
    session.delete(service)
    session.flush()


def ensure_services(
    *, session: Session, names: Sequence[str], now: datetime
) -> tuple[list[Service], list[str]]:
    """The services called ``names``, creating missing ones; returns (services, created names)."""
    wanted = [check_service_name(n) for n in names]
    found = {s.name: s for s in session.scalars(select(Service).where(Service.name.in_(wanted)))}
    created: list[str] = []
    result: list[Service] = []
    for name in wanted:
        if name not in found:
            try:
                found[name] = create_service(session=session, name=name, now=now)
                created.append(name)
            except ConflictError:
                # Another transaction committed it since our first look (PostgreSQL's READ
                # COMMITTED shows it to this later statement): it exists, so use it.
                existing = session.scalar(select(Service).where(Service.name == name))
                if existing is None:  # pragma: no cover - it was just seen
                    raise
                found[name] = existing
        result.append(found[name])
    return result, created
