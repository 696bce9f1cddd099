"""The connector's own records, written by the sender: links, install id, timeline, activity.

Synchronous SQLAlchemy Core on the caller's connection; the async sender runs these in a thread.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, cast

import sqlalchemy as sa

from pagerbridge.connectors.models import (
    connector_activity_table,
    connector_links_table,
    connector_settings_table,
    connectors_table,
)
from pagerbridge.incidents.models import Incident, IncidentService, Service, TimelineEntry
from pagerbridge.incidents.timeline import entry_values

#: ``incident_key = pagerbridge/<install id>/INC-n/<pd service>``: unique per database.
KEY_PREFIX: Final = "pagerbridge"
ACTIVITY_KEEP_SECONDS: Final = 30 * 86400
_incidents = cast(sa.Table, Incident.__table__)
_timeline = cast(sa.Table, TimelineEntry.__table__)


@dataclass(frozen=True)
class Link:
    id: int
    connector_id: int
    incident_id: int
    pd_service_id: str
    incident_key: str
    correlation_id: str
    pd_incident_id: str | None
    pd_incident_number: int | None
    pd_html_url: str | None
    pd_status: str | None


def install_id(conn: sa.Connection) -> str:
    """This database's install id (made once, race-safe: the first writer's value wins)."""
    t = connector_settings_table
    found = conn.execute(sa.select(t.c.value).where(t.c.name == "install_id")).scalar()
    if found:
        return str(found)
    value = uuid.uuid4().hex[:12]
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(t).values(name="install_id", value=value)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(t).values(name="install_id", value=value)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["name"]))
    return str(conn.execute(sa.select(t.c.value).where(t.c.name == "install_id")).scalar_one())


def incident_key(install: str, incident_id: int, pd_service_id: str) -> str:
    return f"{KEY_PREFIX}/{install}/INC-{incident_id}/{pd_service_id}"


def incident_values(conn: sa.Connection, incident_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(_incidents).where(_incidents.c.id == incident_id)).first()
    if row is None:
        return None
    values = dict(row._mapping)
    isv = cast(sa.Table, IncidentService.__table__)
    svc = cast(sa.Table, Service.__table__)
    values["services"] = list(
        conn.execute(
            sa.select(svc.c.name)
            .join(isv, isv.c.service_id == svc.c.id)
            .where(isv.c.incident_id == incident_id)
            .order_by(svc.c.name)
        ).scalars()
    )
    return values


def entry(conn: sa.Connection, entry_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(_timeline).where(_timeline.c.id == entry_id)).first()
    return None if row is None else dict(row._mapping)


def _link(row: Any) -> Link:
    v = row._mapping
    return Link(**{f: v[f] for f in Link.__dataclass_fields__})


def links(conn: sa.Connection, connector_id: int, incident_id: int) -> list[Link]:
    t = connector_links_table
    rows = conn.execute(
        sa.select(t)
        .where(t.c.connector_id == connector_id, t.c.incident_id == incident_id)
        .order_by(t.c.id)
    )
    return [_link(r) for r in rows]


def ensure_link(
    conn: sa.Connection,
    *,
    connector_id: int,
    incident_id: int,
    pd_service_id: str,
    key: str,
    correlation_id: str,
) -> tuple[Link, bool]:
    """The link for one PagerDuty service of an incident: (link, made now). A link that existed
    before means a create was tried already: look the incident up before creating again."""
    t = connector_links_table
    where = (
        t.c.connector_id == connector_id,
        t.c.incident_id == incident_id,
        t.c.pd_service_id == pd_service_id,
    )
    row = conn.execute(sa.select(t).where(*where)).first()
    if row is not None:
        return _link(row), False
    now = time.time()
    conn.execute(
        sa.insert(t).values(
            connector_id=connector_id,
            incident_id=incident_id,
            pd_service_id=pd_service_id,
            incident_key=key,
            correlation_id=correlation_id,
            created_at=now,
            updated_at=now,
        )
    )
    return _link(conn.execute(sa.select(t).where(*where)).one()), True


def record_pd_incident(
    conn: sa.Connection,
    *,
    link_id: int,
    pd_incident_id: str,
    number: int | None,
    html_url: str | None,
    status: str | None,
) -> None:
    t = connector_links_table
    conn.execute(
        sa.update(t)
        .where(t.c.id == link_id)
        .values(
            pd_incident_id=pd_incident_id,
            pd_incident_number=number,
            pd_html_url=html_url,
            pd_status=status,
            updated_at=time.time(),
        )
    )


def record_status(conn: sa.Connection, *, link_id: int, status: str) -> None:
    t = connector_links_table
    conn.execute(
        sa.update(t).where(t.c.id == link_id).values(pd_status=status, updated_at=time.time())
    )


def add_timeline(
    conn: sa.Connection,
    incident_id: int,
    *,
    connector: str,
    body: str,
    data: dict[str, Any],
) -> None:
    """A PagerDuty side effect on the local timeline (``14:31 PagerDuty incident created``)."""
    values = entry_values(
        incident_id=incident_id,
        kind="pagerduty",
        actor=f"connector:{connector}",
        origin="pagerduty",
        at=datetime.now(UTC),
        body=body,
        data=data,
    )
    conn.execute(sa.insert(_timeline).values(**values))


def add_activity(
    conn: sa.Connection,
    connector_id: int,
    kind: str,
    message: str,
    *,
    incident_id: int | None = None,
    error: bool = False,
) -> None:
    """One line of the connector's activity; also its ``last_sync_at``/``last_error``."""
    now = time.time()
    conn.execute(
        sa.insert(connector_activity_table).values(
            connector_id=connector_id,
            at=now,
            kind=kind,
            incident_id=incident_id,
            message=message,
        )
    )
    c = connectors_table
    values: dict[str, Any] = {"last_error": message} if error else {"last_sync_at": now}
    conn.execute(sa.update(c).where(c.c.id == connector_id).values(**values))


def prune_activity(conn: sa.Connection, *, now: float | None = None) -> int:
    t = connector_activity_table
    cutoff = (time.time() if now is None else now) - ACTIVITY_KEEP_SECONDS
    return conn.execute(sa.delete(t).where(t.c.at < cutoff)).rowcount or 0
