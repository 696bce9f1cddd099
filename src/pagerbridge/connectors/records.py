"""A connector as the rest of the code sees it, read from its tables in one place.

Secrets stay encrypted here (``secrets_blob``); only the code that calls PagerDuty decrypts them,
through :mod:`pagerbridge.connectors.secrets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from pagerbridge.connectors.models import connector_service_mappings_table, connectors_table
from pagerbridge.connectors.settings import ConnectorSettings, load_settings
from pagerbridge.errors import ConnectorNotFoundError

ACTIVE = "active"
DISABLED = "disabled"


@dataclass(frozen=True)
class Mapping:
    """A local service's PagerDuty service and (optionally) escalation policy."""

    im_service: str
    pd_service_id: str | None
    escalation_policy_id: str | None = None


@dataclass(frozen=True)
class ConnectorRecord:
    id: int
    name: str
    type: str
    status: str
    settings: ConnectorSettings
    secrets_blob: str | None
    key_fingerprint: str | None
    created_at: float
    updated_at: float
    last_sync_at: float | None
    last_error: str | None
    mappings: dict[str, Mapping] = field(default_factory=dict)

    @property
    def service_mappings(self) -> dict[str, str]:
        """im service → PagerDuty service: the table's rows over ``custom.service_mappings``."""
        out = dict(self.settings.custom.service_mappings)
        out.update(
            {m.im_service: m.pd_service_id for m in self.mappings.values() if m.pd_service_id}
        )
        return out

    def pd_service_for(self, service: str) -> str | None:
        return self.settings.pd_service_for(self.service_mappings, service)

    def escalation_policy_for(self, service: str) -> str | None:
        m = self.mappings.get(service)
        if m is not None and m.escalation_policy_id:
            return m.escalation_policy_id
        return self.settings.custom.escalation_policy_id


def _record(row: sa.Row[tuple[object, ...]], mappings: dict[str, Mapping]) -> ConnectorRecord:
    v = row._mapping
    return ConnectorRecord(
        id=v["id"],
        name=v["name"],
        type=v["type"],
        status=v["status"],
        settings=load_settings(v["settings"]),
        secrets_blob=v["secrets"],
        key_fingerprint=v["key_fingerprint"],
        created_at=v["created_at"],
        updated_at=v["updated_at"],
        last_sync_at=v["last_sync_at"],
        last_error=v["last_error"],
        mappings=mappings,
    )


def _mappings(conn: sa.Connection, ids: list[int]) -> dict[int, dict[str, Mapping]]:
    out: dict[int, dict[str, Mapping]] = {i: {} for i in ids}
    if not ids:
        return out
    t = connector_service_mappings_table
    for r in conn.execute(sa.select(t).where(t.c.connector_id.in_(ids))):
        out[r.connector_id][r.im_service] = Mapping(
            r.im_service, r.pd_service_id, r.escalation_policy_id
        )
    return out


def load_all(conn: sa.Connection, *, active_only: bool = False) -> list[ConnectorRecord]:
    t = connectors_table
    query = sa.select(t).order_by(t.c.name)
    if active_only:
        query = query.where(t.c.status == ACTIVE)
    rows = list(conn.execute(query))
    maps = _mappings(conn, [r.id for r in rows])
    return [_record(r, maps[r.id]) for r in rows]


def load(conn: sa.Connection, name: str) -> ConnectorRecord:
    """The connector called ``name``; ConnectorNotFoundError (exit 3) naming the known ones."""
    t = connectors_table
    row = conn.execute(sa.select(t).where(t.c.name == name)).first()
    if row is None:
        known = [r for (r,) in conn.execute(sa.select(t.c.name).order_by(t.c.name))]
        hint = f" (known: {', '.join(known)})" if known else " (none is configured)"
        raise ConnectorNotFoundError(f"no connector named {name!r}{hint}")
    return _record(row, _mappings(conn, [row.id])[row.id])


def load_by_id(conn: sa.Connection, connector_id: int) -> ConnectorRecord | None:
    t = connectors_table
    row = conn.execute(sa.select(t).where(t.c.id == connector_id)).first()
    return None if row is None else _record(row, _mappings(conn, [row.id])[row.id])
