"""Changes to an existing incident in SQLAlchemy Core: transitions, notes, assignment.

Why Core and not the ORM: these are the hottest writes (every ack/resolve from the API or ``im``),
and the ORM's unit of work cost ~1.5 ms of CPU per change against ~0.5 ms for the same statements
in Core (bench/bench_api_incidents.py; docs/benchmarks.md). The ORM wrappers in ``service`` call
these functions, so there is one implementation of the rules.

A change is three statements in the caller's transaction: the incident row is locked and read
with its service names (``SELECT ... FOR UPDATE OF im_incidents`` on PostgreSQL; SQLite's
``BEGIN IMMEDIATE`` already holds the write lock), the status rule is checked, then one UPDATE
guarded by ``version`` (a mismatch is a ConflictError, never a silent overwrite) and one INSERT
into the timeline (on PostgreSQL these two are one statement). Nothing commits here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Connection, Table, bindparam, insert, select, update

from pagerbridge.errors import ConflictError, IllegalTransitionError, IncidentNotFoundError
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.lifecycle import format_ref, parse_ref, refusal, target_status
from pagerbridge.incidents.limits import NAME_MAX_CHARS, TEXT_MAX_BYTES, check_text
from pagerbridge.incidents.models import Incident, IncidentService, Service, TimelineEntry
from pagerbridge.incidents.timeline import entry_values

ASSIGNEE_MAX: Final = NAME_MAX_CHARS

_incidents: Table = Incident.__table__  # type: ignore[assignment]
_links: Table = IncidentService.__table__  # type: ignore[assignment]
_services: Table = Service.__table__  # type: ignore[assignment]
_timeline: Table = TimelineEntry.__table__  # type: ignore[assignment]

#: Columns a change may write (besides ``version``); every change writes all of them, so the
#: UPDATE has one shape and is compiled once.
MUTABLE: Final = (
    "status",
    "assignee",
    "updated_at",
    "mitigated_at",
    "resolved_at",
    "closed_at",
    "reopened_at",
    "sla_started_at",
    "ack_breached_at",
    "resolve_breached_at",
)

# Built once: SQLAlchemy caches the compiled form of each statement.
_LOCK = (
    select(_incidents, _services.c.name.label("service_name"))
    .select_from(
        _incidents.outerjoin(_links, _links.c.incident_id == _incidents.c.id).outerjoin(
            _services, _services.c.id == _links.c.service_id
        )
    )
    .where(_incidents.c.id == bindparam("number"))
    .order_by(_services.c.name)
    .with_for_update(of=_incidents)
)
_UPDATE = (
    update(_incidents)
    .where(_incidents.c.id == bindparam("number"), _incidents.c.version == bindparam("seen"))
    .values({name: bindparam("v_" + name) for name in MUTABLE})
    .values(version=bindparam("new_version"))
)
_APPEND = insert(_timeline).returning(_timeline.c.id)
_ENTRY_COLUMNS: Final = ("incident_id", "at", "kind", "actor", "origin", "body", "data")
# PostgreSQL: the guarded UPDATE and the timeline INSERT as one statement (one round trip);
# no row back means the version guard refused the UPDATE. SQLite has no data-modifying CTEs.
_changed = _UPDATE.returning(_incidents.c.id).cte("changed")
_UPDATE_AND_APPEND = (
    insert(_timeline)
    .from_select(
        _ENTRY_COLUMNS,
        select(
            _changed.c.id,
            *(bindparam("e_" + name, type_=_timeline.c[name].type) for name in _ENTRY_COLUMNS[1:]),
        ).select_from(_changed),
    )
    .returning(_timeline.c.id)
    .add_cte(_changed, nest_here=True)
)
_COLUMNS: Final = tuple(column.name for column in _incidents.columns)


@dataclass
class Changed:
    """The incident after a change (column name -> value, plus ``services``: sorted names) and
    the timeline entry that records it (column name -> value, with its ``id``)."""

    incident: dict[str, Any]
    entry: dict[str, Any]


def lock(conn: Connection, ref: str | int) -> dict[str, Any]:
    """The incident's columns and ``services`` (names); the row stays locked until the commit."""
    number = parse_ref(ref)
    rows = conn.execute(_LOCK, {"number": number}).mappings().all()
    if not rows:
        raise IncidentNotFoundError(f"no incident {format_ref(number)}")
    values = {key: rows[0][key] for key in _COLUMNS}
    values["services"] = [r["service_name"] for r in rows if r["service_name"] is not None]
    return values


def _check_version(values: dict[str, Any], expected_version: int | None) -> None:
    if expected_version is not None and values["version"] != expected_version:
        raise ConflictError(
            f"{format_ref(values['id'])} changed since you read it (version {expected_version}, "
            f"now {values['version']}); reload and retry"
        )


def _write(
    conn: Connection,
    values: dict[str, Any],
    *,
    kind: str,
    actor: str,
    origin: str,
    at: datetime,
    body: str,
    data: dict[str, Any] | None,
) -> Changed:
    """Store ``values`` (the UPDATE checks the version read) and append the timeline entry."""
    seen = values["version"]
    params = {"v_" + name: values[name] for name in MUTABLE}
    params.update(number=values["id"], seen=seen, new_version=seen + 1)
    entry = entry_values(
        incident_id=values["id"], kind=kind, actor=actor, origin=origin, at=at, body=body, data=data
    )
    entry_id: int | None = None
    if conn.dialect.name == "postgresql":
        params.update({"e_" + name: entry[name] for name in _ENTRY_COLUMNS[1:]})
        entry_id = conn.execute(_UPDATE_AND_APPEND, params).scalar()
    elif conn.execute(_UPDATE, params).rowcount == 1:
        entry_id = conn.execute(_APPEND, entry).scalar_one()
    if entry_id is None:
        raise ConflictError(
            f"{format_ref(values['id'])} was changed by someone else at the same time; retry"
        )
    values["version"] = seen + 1
    entry["id"] = int(entry_id)
    return Changed(values, entry)


def transition(
    conn: Connection,
    *,
    ref: str | int,
    action: str,
    actor: str,
    origin: str = "local",
    note: str | None = None,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> Changed:
    """Apply ``ack``/``resolve``/``close``/``reopen`` (and ``unack``, PagerDuty's acknowledgement
    timing out); IllegalTransitionError says why not."""
    when = now or datetime.now(UTC)
    note = check_note(note)
    values = lock(conn, ref)
    _check_version(values, expected_version)
    before = values["status"]
    after = target_status(action, before)
    if after is None:
        raise IllegalTransitionError(refusal(action, format_ref(values["id"]), before))
    values["status"] = after
    values["updated_at"] = when
    if action == "ack":
        values["mitigated_at"] = when
    elif action == "resolve":
        values["resolved_at"] = when
    elif action == "close":
        values["closed_at"] = when
    elif action == "unack":  # the acknowledgement timed out in PagerDuty
        values["mitigated_at"] = None
    else:  # reopen: the SLA clocks start again
        values["reopened_at"] = values["sla_started_at"] = when
        for name in ("mitigated_at", "resolved_at", "closed_at"):
            values[name] = None
        values["ack_breached_at"] = values["resolve_breached_at"] = None
    return _write(
        conn,
        values,
        kind="status",
        actor=actor,
        origin=origin,
        at=when,
        body=f"{before} → {after}" + (f": {note}" if note else ""),
        data={"action": action, "from": before, "to": after, "note": note},
    )


def add_note(
    conn: Connection,
    *,
    ref: str | int,
    body: str,
    actor: str,
    origin: str = "local",
    now: datetime | None = None,
) -> Changed:
    """A note is a timeline entry; it also bumps the incident's version and ``updated_at``."""
    when = now or datetime.now(UTC)
    body = check_text("note", body, max_bytes=TEXT_MAX_BYTES)
    if not body.strip():
        raise InvalidInputError("a note must not be empty")
    values = lock(conn, ref)
    values["updated_at"] = when
    return _write(
        conn, values, kind="note", actor=actor, origin=origin, at=when, body=body, data=None
    )


def check_note(note: str | None) -> str | None:
    """The note of a change (``--note``), checked like a note: no NUL, at most 64 KiB."""
    return None if note is None else check_text("note", note, max_bytes=TEXT_MAX_BYTES)


def check_assignee(assignee: str | None) -> str | None:
    if assignee is None:
        return None
    assignee = check_text("assignee", assignee).strip()
    if not assignee:
        return None
    if len(assignee) > ASSIGNEE_MAX:
        raise InvalidInputError(f"assignee is longer than {ASSIGNEE_MAX} characters")
    return assignee


def assign(
    conn: Connection,
    *,
    ref: str | int,
    assignee: str | None,
    actor: str,
    origin: str = "local",
    note: str | None = None,
    now: datetime | None = None,
    expected_version: int | None = None,
) -> Changed:
    """Set (or clear, with None/"") who is responsible."""
    when = now or datetime.now(UTC)
    new = check_assignee(assignee)
    note = check_note(note)
    values = lock(conn, ref)
    _check_version(values, expected_version)
    old = values["assignee"]
    values["assignee"] = new
    values["updated_at"] = when
    text = f"assigned to {new}" if new else "unassigned"
    return _write(
        conn,
        values,
        kind="assigned",
        actor=actor,
        origin=origin,
        at=when,
        body=text + (f": {note}" if note else ""),
        data={"from": old, "to": new, "note": note},
    )
