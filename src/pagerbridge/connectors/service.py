"""What ``im connector`` changes: add, update, configure, remove, mappings, and the activity counts.

Every function takes the caller's connection (``conn=``) and never commits: the CLI (or the hub)
owns the transaction, so ``remove`` deletes a connector and its pending outbox rows together, and
``import-services`` creates local services and mappings together. Secrets arrive in clear and
leave encrypted (:class:`~pagerbridge.connectors.secrets.SecretBox`); nothing here prints them.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors import records
from pagerbridge.connectors.models import (
    connector_activity_table,
    connector_links_table,
    connector_service_mappings_table,
    connector_tokens_table,
    connectors_table,
)
from pagerbridge.connectors.outbound import ordering_prefix
from pagerbridge.connectors.records import ACTIVE, DISABLED, ConnectorRecord
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.settings import (
    SECRET_KEYS,
    ConnectorSettings,
    dump_settings,
    parse_config,
)
from pagerbridge.errors import ConfigError, ConnectorExistsError
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.lifecycle import check_service_name
from pagerbridge.outbox.tables import outbox_table
from pagerbridge.outbox.types import ACTIVE_STATES, DEAD, REST_KIND

#: Connector names: like service names (a slug used on the command line and in webhook URLs).
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
#: PagerDuty IDs as :mod:`pagerbridge.connectors.settings` accepts them.
_PD_ID: Final = re.compile(r"^[A-Z0-9][A-Z0-9_]{1,63}$")
#: Activity kinds the sync writes (``connector_activity.kind``).
SYNCED: Final = "synced"
ERROR: Final = "error"
DAY: Final = 86400.0
#: Secrets as stored in the blob (``oauth.client_secret`` is ``client_secret`` there).
_BLOB_KEY: Final = {
    "api_key": "api_key",
    "routing_key": "routing_key",
    "oauth.client_secret": "client_secret",
}


def check_name(name: str) -> str:
    """A connector name, or InvalidInputError (exit 2) saying what names may be."""
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"connector name {name!r} is invalid (1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit)"
        )
    return name


def _exists(conn: sa.Connection, name: str) -> bool:
    t = connectors_table
    return conn.execute(sa.select(t.c.id).where(t.c.name == name)).first() is not None


def add(
    *,
    conn: sa.Connection,
    name: str,
    settings: ConnectorSettings,
    secrets: Mapping[str, str],
    box: SecretBox,
    now: float | None = None,
) -> ConnectorRecord:
    """Store a new connector (its secrets encrypted); ConnectorExistsError (exit 5) if the name
    is taken. Never calls PagerDuty (no webhook subscription: that is ``webhook --enable``)."""
    check_name(name)
    if _exists(conn, name):
        raise ConnectorExistsError(
            f"a connector named {name!r} exists already (im connector update {name} … changes it)"
        )
    ts = time.time() if now is None else now
    conn.execute(
        sa.insert(connectors_table).values(
            name=name,
            type=settings.type,
            status=ACTIVE,
            sync_direction=settings.sync_direction,
            settings=dump_settings(settings),
            secrets=box.encrypt(secrets) if secrets else None,
            key_fingerprint=box.fingerprint if secrets else None,
            created_at=ts,
            updated_at=ts,
        )
    )
    return records.load(conn, name)


def parse_json_option(text: str, what: str) -> Any:
    """A JSON value given on the command line; ConfigError naming the option when malformed."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{what} is not valid JSON: {exc}") from exc


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    *parents, leaf = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def update(
    *,
    conn: sa.Connection,
    name: str,
    changes: Mapping[str, Any] | None = None,
    secret_changes: Mapping[str, str] | None = None,
    box: SecretBox | None = None,
    status: str | None = None,
    now: float | None = None,
) -> ConnectorRecord:
    """Change settings (dotted keys: ``base_url``, ``custom.service_id``, …) and secrets
    (``api_key``, ``routing_key``, ``oauth.client_secret``). Everything is validated as ``add``
    validates it, one problem per key; nothing changes unless all is valid. Secrets need
    ``box``; settings alone do not (no decryption: a wrong key cannot block ``config``)."""
    record = records.load(conn, name)
    if status is not None and status not in (ACTIVE, DISABLED):
        raise ConfigError(f"status: {status!r} is not {ACTIVE!r} or {DISABLED!r}")
    raw: dict[str, Any] = record.settings.model_dump(mode="json")
    for key, value in (changes or {}).items():
        _set_dotted(raw, key, value)
    raw.pop("type", None)
    secret_changes = dict(secret_changes or {})
    if secret_changes:
        if box is None:
            raise ValueError("changing secrets needs the SecretBox")
        stored = box.decrypt(record.secrets_blob, record.key_fingerprint)
        merged = stored | {_BLOB_KEY[k]: v for k, v in secret_changes.items()}
        for key in SECRET_KEYS:
            if _BLOB_KEY[key] in merged:
                _set_dotted(raw, key, merged[_BLOB_KEY[key]])
        settings, secrets = parse_config(raw)
        blob: str | None = box.encrypt(secrets) if secrets else None
        fingerprint: str | None = box.fingerprint if secrets else None
    else:
        settings = _validated_without_secrets(raw)
        blob, fingerprint = record.secrets_blob, record.key_fingerprint
    if secret_changes or any(k.startswith("oauth.") or k == "base_url" for k in changes or {}):
        # A stored OAuth token was issued for the old credentials: the next call gets a new one.
        t = connector_tokens_table
        conn.execute(sa.delete(t).where(t.c.connector_id == record.id))
    conn.execute(
        sa.update(connectors_table)
        .where(connectors_table.c.id == record.id)
        .values(
            status=status or record.status,
            sync_direction=settings.sync_direction,
            settings=dump_settings(settings),
            secrets=blob,
            key_fingerprint=fingerprint,
            updated_at=time.time() if now is None else now,
        )
    )
    return records.load(conn, name)


def _validated_without_secrets(raw: Mapping[str, Any]) -> ConnectorSettings:
    """Settings checked as ``parse_config`` checks them, the stored secrets taken as present
    (they were valid when stored, and reading them would need the key)."""
    data = {**raw, "api_key": "set", "routing_key": "set"}
    data["oauth"] = {**(raw.get("oauth") or {}), "client_secret": "set"}
    settings, _ = parse_config(data)
    return settings


@dataclass(frozen=True)
class Removed:
    """What ``remove`` did, and what it left in PagerDuty."""

    name: str
    pd_incidents: int
    rows_deleted: int


def remove(*, conn: sa.Connection, name: str) -> Removed:
    """Delete a connector, its mappings, links, tokens and activity, and every outbox row of it
    that could still call PagerDuty (pending, in flight, or dead and retryable), in the caller's
    transaction. The PagerDuty incidents it linked are not touched."""
    record = records.load(conn, name)
    links = connector_links_table
    linked = conn.execute(
        sa.select(sa.func.count()).where(
            links.c.connector_id == record.id, links.c.pd_incident_id.is_not(None)
        )
    ).scalar_one()
    o = outbox_table
    deleted = conn.execute(
        sa.delete(o).where(
            o.c.kind == REST_KIND,
            o.c.ordering_key.startswith(ordering_prefix(record.id), autoescape=True),
            o.c.state.in_((*ACTIVE_STATES, DEAD)),
        )
    ).rowcount
    for table in (
        connector_activity_table,
        connector_links_table,
        connector_service_mappings_table,
        connector_tokens_table,
    ):
        conn.execute(sa.delete(table).where(table.c.connector_id == record.id))
    conn.execute(sa.delete(connectors_table).where(connectors_table.c.id == record.id))
    return Removed(name=record.name, pd_incidents=int(linked), rows_deleted=int(deleted or 0))


def _upsert_mapping(
    conn: sa.Connection, connector_id: int, im_service: str, values: dict[str, str | None]
) -> None:
    t = connector_service_mappings_table
    where = (t.c.connector_id == connector_id, t.c.im_service == im_service)
    if conn.execute(sa.select(t.c.im_service).where(*where)).first() is None:
        conn.execute(
            sa.insert(t).values(connector_id=connector_id, im_service=im_service, **values)
        )
    else:
        conn.execute(sa.update(t).where(*where).values(**values))


def _pd_id(value: str, what: str) -> str:
    """A PagerDuty ID as settings.py accepts them (``PXXXXXX``, ``PAPI_ESCALATION``)."""
    if not _PD_ID.fullmatch(value):
        raise InvalidInputError(f"{value!r} is not a PagerDuty {what} ID (like PXXXXXX)")
    return value


def map_service(
    *, conn: sa.Connection, name: str, im_service: str, pd_service_id: str
) -> ConnectorRecord:
    """Route incidents of local service ``im_service`` to PagerDuty service ``pd_service_id``
    (``default`` is the fallback for unmapped services)."""
    record = records.load(conn, name)
    service = check_service_name(im_service)
    _upsert_mapping(conn, record.id, service, {"pd_service_id": _pd_id(pd_service_id, "service")})
    return records.load(conn, name)


def map_escalation(
    *, conn: sa.Connection, name: str, im_service: str, escalation_policy_id: str
) -> ConnectorRecord:
    """Incidents of ``im_service`` use this escalation policy instead of the default."""
    record = records.load(conn, name)
    service = check_service_name(im_service)
    policy = _pd_id(escalation_policy_id, "escalation policy")
    _upsert_mapping(conn, record.id, service, {"escalation_policy_id": policy})
    return records.load(conn, name)


@dataclass(frozen=True)
class Activity:
    """What ``status`` shows of the last 24 hours."""

    synced: int
    errors: int
    last_sync_at: float | None
    last_error: str | None
    last_error_at: float | None
    pending: int


def activity(*, conn: sa.Connection, record: ConnectorRecord, now: float | None = None) -> Activity:
    """Incidents synced and sync errors in the last day, the latest error, the pending rows."""
    since = (time.time() if now is None else now) - DAY
    a = connector_activity_table
    synced = conn.execute(
        sa.select(sa.func.count(sa.distinct(a.c.incident_id))).where(
            a.c.connector_id == record.id, a.c.at >= since, a.c.kind == SYNCED
        )
    ).scalar_one()
    errors = conn.execute(
        sa.select(sa.func.count()).where(
            a.c.connector_id == record.id, a.c.at >= since, a.c.kind == ERROR
        )
    ).scalar_one()
    last_sync = conn.execute(
        sa.select(sa.func.max(a.c.at)).where(a.c.connector_id == record.id, a.c.kind == SYNCED)
    ).scalar_one()
    last_error = conn.execute(
        sa.select(a.c.message, a.c.at)
        .where(a.c.connector_id == record.id, a.c.kind == ERROR)
        .order_by(a.c.at.desc(), a.c.id.desc())
        .limit(1)
    ).first()
    return Activity(
        synced=int(synced),
        errors=int(errors),
        last_sync_at=max(
            (t for t in (record.last_sync_at, last_sync) if t is not None), default=None
        ),
        last_error=last_error.message if last_error else record.last_error,
        last_error_at=last_error.at if last_error else None,
        pending=pending_rows(conn=conn, connector_id=record.id),
    )


def pending_rows(*, conn: sa.Connection, connector_id: int) -> int:
    """Outbox rows of this connector still to be sent (pending or in flight)."""
    o = outbox_table
    return int(
        conn.execute(
            sa.select(sa.func.count()).where(
                o.c.kind == REST_KIND,
                o.c.ordering_key.startswith(ordering_prefix(connector_id), autoescape=True),
                o.c.state.in_(ACTIVE_STATES),
            )
        ).scalar_one()
    )


def last_sync_times(*, conn: sa.Connection) -> dict[int, float]:
    """Each connector's latest ``synced`` activity (``list``'s Last Sync column)."""
    a = connector_activity_table
    rows = conn.execute(
        sa.select(a.c.connector_id, sa.func.max(a.c.at))
        .where(a.c.kind == SYNCED)
        .group_by(a.c.connector_id)
    ).all()
    return {int(cid): float(at) for cid, at in rows}
