"""Tables of the incident domain, as SQLAlchemy 2 ORM models on pagerbridge's one metadata.

The migration ``store/migrations/versions/0001_incidents.py`` creates exactly this schema
(``tests/unit/test_migrations_schema.py`` diffs the two on SQLite and PostgreSQL).
Times are stored as UTC and always come back timezone-aware, on both databases.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pagerbridge.store.metadata import metadata


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always reads back timezone-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; pagerbridge stores aware UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = metadata


class Counter(Base):
    """Per-database counters (``incident`` numbers INC-<n>); bumped with one atomic upsert."""

    __tablename__ = "im_counters"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, nullable=False)


class Service(Base):
    __tablename__ = "im_services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    owner_team: Mapped[str | None] = mapped_column(String(200))
    default_severity: Mapped[str] = mapped_column(String(8), nullable=False, default="SEV-3")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class IncidentService(Base):
    """Which services an incident affects (one or more)."""

    __tablename__ = "im_incident_services"
    __table_args__ = (Index("ix_im_incident_services_service", "service_id", "incident_id"),)

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("im_incidents.id", ondelete="CASCADE"), primary_key=True
    )
    service_id: Mapped[int] = mapped_column(
        ForeignKey("im_services.id", ondelete="RESTRICT"), primary_key=True
    )


class Incident(Base):
    """One incident. ``id`` is the number in ``INC-<id>``; ``version`` guards lost updates."""

    __tablename__ = "im_incidents"
    __table_args__ = (
        Index("ix_im_incidents_status_id", "status", "id"),
        Index("ix_im_incidents_severity_id", "severity", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    title: Mapped[str] = mapped_column(String(1024), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    severity: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    assignee: Mapped[str | None] = mapped_column(String(255))
    correlation_id: Mapped[str | None] = mapped_column(String(36))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    created_by: Mapped[str] = mapped_column(String(255), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reopened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: When the SLA clocks started: declaration, or the last reopen.
    sla_started_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    ack_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    services: Mapped[list[Service]] = relationship(
        secondary="im_incident_services", order_by="Service.name", lazy="selectin"
    )

    __mapper_args__ = {"version_id_col": version}


class TimelineEntry(Base):
    """Append-only record of everything that happened to an incident; notes are entries too."""

    __tablename__ = "im_timeline"
    __table_args__ = (Index("ix_im_timeline_incident_id", "incident_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("im_incidents.id", ondelete="CASCADE"), nullable=False
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    actor: Mapped[str] = mapped_column(String(255), nullable=False)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class SlaPolicy(Base):
    """An override of the default SLA for one severity (seconds)."""

    __tablename__ = "im_sla_policies"

    severity: Mapped[str] = mapped_column(String(8), primary_key=True)
    ack_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    resolve_seconds: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class ApiToken(Base):
    """An API token for the hub's REST API; only its SHA-256 is stored."""

    __tablename__ = "im_api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
