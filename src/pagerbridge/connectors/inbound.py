"""What a change made in PagerDuty does to the local incident (webhooks and reconcile share it).

=================================  =======================================================
PagerDuty event                    local change (origin ``pagerduty``: never sent back)
=================================  =======================================================
incident.triggered                 a new incident, on a mapped service, unless it is ours
                                   (linked, or its ``incident_key`` carries our prefix)
incident.acknowledged              open → mitigated, assignee = the acknowledger
incident.unacknowledged            mitigated → open (the acknowledgement timed out)
incident.resolved                  → resolved (with ``auto_resolve``; else a timeline note)
incident.reopened                  resolved/closed → open, with a note
incident.escalated/reassigned/     assignee = the new assignee's email, and a note
  delegated
incident.annotated                 a note (with ``sync_notes``), unless it is our own note
incident.priority_updated,         a timeline note
  responder.added/replied,
  status_update_published
anything else                      kept, ignored
=================================  =======================================================

The conflict rule: a change that the local incident already reflects is an echo and changes
nothing (our own ack coming back, a retried webhook); a change that would move the incident
backwards past a newer local change is stale and ignored — resolved is never undone by an
acknowledgement that happened before the resolve. Every outcome is ``(state, result)`` with
state ``applied`` or ``ignored`` and a sentence for ``im logs``.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pagerbridge.connectors import links as db
from pagerbridge.connectors.models import connector_links_table
from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.errors import IllegalTransitionError
from pagerbridge.incidents import changes
from pagerbridge.incidents import service as incidents
from pagerbridge.incidents.jsonvalues import safe_text
from pagerbridge.incidents.limits import NAME_MAX_CHARS, TITLE_MAX_CHARS

_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
APPLIED: Final = "applied"
#: A note from PagerDuty longer than this is cut (ours are at most 64 KiB of UTF-8).
NOTE_MAX_CHARS: Final = 16_000
IGNORED: Final = "ignored"
ORIGIN: Final = "pagerduty"
#: PagerDuty's urgency (and priority) → our severity, for incidents made in PagerDuty.
SEVERITY_FOR_URGENCY: Final = {"high": "SEV-2", "low": "SEV-4"}
SEVERITY_FOR_PRIORITY: Final = {"P1": "SEV-1", "P2": "SEV-2", "P3": "SEV-3", "P4": "SEV-4"}
PD_STATUSES: Final = ("triggered", "acknowledged", "resolved")
NOTED: Final = (
    "incident.priority_updated",
    "incident.responder.added",
    "incident.responder.replied",
    "incident.status_update_published",
)
ASSIGNING: Final = ("incident.escalated", "incident.reassigned", "incident.delegated")


@dataclass(frozen=True)
class Outcome:
    state: str
    result: str


def clean(value: Any, max_chars: int, *, one_line: bool = False) -> str:
    """PagerDuty's text made storable here: NUL dropped, lone surrogates replaced, the first
    line only where one line is wanted, and cut to ``max_chars`` (never refused: the change
    happened in PagerDuty whatever its text)."""
    text = safe_text(value if isinstance(value, str) else json.dumps(value))
    if one_line:
        text = (text.splitlines() or [""])[0]
    return text[:max_chars]


def pd_identifier(value: Any) -> str | None:
    """A PagerDuty id as we store it (``Q1ABC``, ``PDEMO01``), or None for anything else."""
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    return None


def _obj(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (webhook bodies are untrusted)."""
    return value if isinstance(value, dict) else {}


def _at(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


def incident_of(event: dict[str, Any]) -> dict[str, Any]:
    """The incident (or the reference to it) an ``incident.*`` event is about."""
    data = _obj(event.get("data"))
    inner = data.get("incident")
    return inner if isinstance(inner, dict) else data


def subject(event: dict[str, Any]) -> tuple[str, str | None]:
    """The event's type and the PagerDuty incident it is about (None when it names none)."""
    kind = str(event.get("event_type") or "")
    if not kind.startswith("incident."):
        return kind, None
    return kind, pd_identifier(incident_of(event).get("id"))


def unlinked(event: dict[str, Any]) -> Outcome | None:
    """The outcome of ``event`` when its PagerDuty incident is linked to no local one: kept and
    ignored — except a trigger (None), which may declare one. The applier settles a batch's
    unlinked events with this alone (an account-wide subscription sends many)."""
    kind, pd_id = subject(event)
    if kind == "incident.triggered" and pd_id is not None:
        return None
    return _not_applied(kind, pd_id)


def _not_applied(kind: str, pd_id: str | None) -> Outcome:
    """Why an event of ``kind`` about ``pd_id`` (linked to nothing) is kept and ignored."""
    if not kind.startswith("incident."):
        return Outcome(IGNORED, f"{clean(kind, 64) or 'an event'}: not about an incident; kept")
    if pd_id is None:
        return Outcome(IGNORED, f"{clean(kind, 64)}: no incident id; kept")
    return Outcome(IGNORED, f"{clean(kind, 64)} on {pd_id}: not linked to a local incident")


def linked_ids(conn: sa.Connection, pairs: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (connector id, PagerDuty incident id) pairs are linked, in one query."""
    if not pairs:
        return set()
    t = connector_links_table
    rows = conn.execute(
        sa.select(t.c.connector_id, t.c.pd_incident_id).where(
            t.c.pd_incident_id.in_({pd_id for _, pd_id in pairs})
        )
    ).all()
    return {(r.connector_id, r.pd_incident_id) for r in rows} & pairs


def _link(conn: sa.Connection, connector_id: int, pd_incident_id: str) -> db.Link | None:
    t = connector_links_table
    row = conn.execute(
        sa.select(t).where(t.c.connector_id == connector_id, t.c.pd_incident_id == pd_incident_id)
    ).first()
    return None if row is None else db._link(row)


def apply(
    conn: sa.Connection,
    record: ConnectorRecord,
    event: dict[str, Any],
    *,
    assignee_email: str | None = None,
) -> Outcome:
    """Apply one PagerDuty event inside the caller's transaction."""
    kind, pd_id = subject(event)
    if pd_id is None:
        return _not_applied(kind, pd_id)
    incident = incident_of(event)
    agent = _obj(event.get("agent"))
    actor = clean(agent.get("summary") or "PagerDuty", NAME_MAX_CHARS, one_line=True)
    when = _at(event.get("occurred_at"))
    link = _link(conn, record.id, pd_id)
    if kind == "incident.triggered":
        return _triggered(conn, record, incident, link, actor, when)
    if link is None:
        return _not_applied(kind, pd_id)
    ref = link.incident_id
    local = changes.lock(conn, ref)
    status = local["status"]
    number = f"INC-{ref}"
    if kind == "incident.acknowledged":
        return _acknowledged(conn, link, local, actor, when, assignee_email)
    if kind == "incident.unacknowledged":
        if status != "mitigated":
            return Outcome(IGNORED, f"{number} is {status}: nothing to unacknowledge")
        _transition(conn, ref, "unack", actor, when, "the acknowledgement timed out in PagerDuty")
        db.record_status(conn, link_id=link.id, status="triggered")
        return Outcome(APPLIED, f"{number} back to open (acknowledgement timed out)")
    if kind == "incident.resolved":
        db.record_status(conn, link_id=link.id, status="resolved")
        if status in ("resolved", "closed"):
            return Outcome(IGNORED, f"{number} is {status} already (echo)")
        if not record.settings.custom.auto_resolve:
            changes.add_note(
                conn, ref=ref, body="resolved in PagerDuty", actor=actor, origin=ORIGIN, now=when
            )
            return Outcome(APPLIED, f"{number}: noted (auto_resolve is off)")
        _transition(conn, ref, "resolve", actor, when, "resolved in PagerDuty")
        return Outcome(APPLIED, f"{number} resolved")
    if kind == "incident.reopened":
        db.record_status(conn, link_id=link.id, status="triggered")
        if status not in ("resolved", "closed"):
            return Outcome(IGNORED, f"{number} is {status}: not resolved, nothing to reopen")
        _transition(conn, ref, "reopen", actor, when, "reopened in PagerDuty")
        return Outcome(APPLIED, f"{number} reopened")
    if kind in ASSIGNING:
        return _assigned(conn, ref, kind, actor, when, assignee_email, local)
    if kind == "incident.annotated":
        return _annotated(conn, record, ref, event, actor, when)
    if kind in NOTED:
        body = f"PagerDuty: {kind.removeprefix('incident.').replace('_', ' ')}"
        detail = _detail(event)
        changes.add_note(
            conn,
            ref=ref,
            body=body + (f": {detail}" if detail else ""),
            actor=actor,
            origin=ORIGIN,
            now=when,
        )
        return Outcome(APPLIED, f"{number}: {body}")
    return Outcome(IGNORED, f"{kind}: kept, not applied")


def _transition(
    conn: sa.Connection, ref: int, action: str, actor: str, when: datetime, note: str
) -> None:
    changes.transition(
        conn, ref=ref, action=action, actor=actor, origin=ORIGIN, note=note, now=when
    )


def _acknowledged(
    conn: sa.Connection,
    link: db.Link,
    local: dict[str, Any],
    actor: str,
    when: datetime,
    assignee: str | None,
) -> Outcome:
    ref, status = link.incident_id, local["status"]
    db.record_status(conn, link_id=link.id, status="acknowledged")
    if status == "mitigated":
        return Outcome(IGNORED, f"INC-{ref} is mitigated already (echo)")
    if status != "open":
        # Stale: the local incident moved on (resolved/closed); an ack never undoes that.
        return Outcome(
            IGNORED, f"INC-{ref} is {status}: a PagerDuty acknowledgement never undoes it"
        )
    try:
        _transition(conn, ref, "ack", actor, when, f"acknowledged in PagerDuty by {actor}")
    except IllegalTransitionError as exc:
        return Outcome(IGNORED, str(exc))
    if assignee and assignee != local.get("assignee"):
        changes.assign(conn, ref=ref, assignee=assignee, actor=actor, origin=ORIGIN, now=when)
    return Outcome(
        APPLIED, f"INC-{ref} mitigated" + (f", assigned to {assignee}" if assignee else "")
    )


def _assigned(
    conn: sa.Connection,
    ref: int,
    kind: str,
    actor: str,
    when: datetime,
    assignee: str | None,
    local: dict[str, Any],
) -> Outcome:
    what = kind.removeprefix("incident.")
    if assignee and assignee != local.get("assignee"):
        changes.assign(
            conn,
            ref=ref,
            assignee=assignee,
            actor=actor,
            origin=ORIGIN,
            now=when,
            note=f"{what} in PagerDuty",
        )
        return Outcome(APPLIED, f"INC-{ref} {what}: assigned to {assignee}")
    changes.add_note(
        conn, ref=ref, body=f"{what} in PagerDuty", actor=actor, origin=ORIGIN, now=when
    )
    return Outcome(APPLIED, f"INC-{ref} {what} (noted)")


def _annotated(
    conn: sa.Connection,
    record: ConnectorRecord,
    ref: int,
    event: dict[str, Any],
    actor: str,
    when: datetime,
) -> Outcome:
    data = _obj(event.get("data"))
    content = data.get("content")
    if isinstance(content, str):
        content = clean(content, NOTE_MAX_CHARS)
    if not record.settings.custom.sync_notes or not isinstance(content, str) or not content:
        return Outcome(IGNORED, f"INC-{ref}: note not synchronised (sync_notes is off)")
    if _has_note(conn, ref, content):
        return Outcome(IGNORED, f"INC-{ref}: our own note (echo)")
    changes.add_note(conn, ref=ref, body=content, actor=actor, origin=ORIGIN, now=when)
    return Outcome(APPLIED, f"INC-{ref}: note from PagerDuty")


def _has_note(conn: sa.Connection, ref: int, content: str) -> bool:
    """Whether the timeline holds this text already (a note, or a status change's note)."""
    entries = db._timeline
    rows = conn.execute(
        sa.select(entries.c.body, entries.c.data).where(entries.c.incident_id == ref)
    ).all()
    for body, data in rows:
        if body == content or (isinstance(data, dict) and data.get("note") == content):
            return True
    return False


def _detail(event: dict[str, Any]) -> str:
    data = _obj(event.get("data"))
    for key in ("message", "priority", "responder", "summary"):
        value = data.get(key)
        if isinstance(value, dict):
            value = value.get("summary")
        if isinstance(value, str) and value:
            return clean(value, 500)
    return ""


def _triggered(
    conn: sa.Connection,
    record: ConnectorRecord,
    incident: dict[str, Any],
    link: db.Link | None,
    actor: str,
    when: datetime,
) -> Outcome:
    pd_id = str(pd_identifier(incident.get("id")))
    if link is not None:
        return Outcome(IGNORED, f"{pd_id} is ours (INC-{link.incident_id}): not declared twice")
    key = clean(incident.get("incident_key") or "", 255, one_line=True)
    if key.startswith(f"{db.KEY_PREFIX}/{db.install_id(conn)}/"):
        return Outcome(IGNORED, f"{pd_id} carries our incident key: ours, not declared twice")
    if record.settings.sync_direction == "outbound":
        return Outcome(IGNORED, f"{pd_id}: the connector only sends (outbound)")
    pd_service = pd_identifier(_obj(incident.get("service")).get("id"))
    local_service = _local_service(record, pd_service) if pd_service else None
    if pd_service is None or local_service is None:
        return Outcome(IGNORED, f"{pd_id}: its service {pd_service} is not mapped")
    url = incident.get("html_url")
    url = clean(url, 2000, one_line=True) if isinstance(url, str) else None
    number = incident.get("number")
    number = number if isinstance(number, int) and 0 < number < 2**63 else None
    status = incident.get("status") if incident.get("status") in PD_STATUSES else None
    known = _linked_elsewhere(conn, pd_id)
    if known is not None:
        # Another connector on the same account (two connectors mapping one PagerDuty service)
        # declared it already: link this one to the same local incident, never a second.
        made, _fresh = db.ensure_link(
            conn,
            connector_id=record.id,
            incident_id=known.incident_id,
            pd_service_id=pd_service,
            key=known.incident_key,
            correlation_id=known.correlation_id,
        )
        db.record_pd_incident(
            conn, link_id=made.id, pd_incident_id=pd_id, number=number, html_url=url, status=status
        )
        return Outcome(
            APPLIED, f"{pd_id} is INC-{known.incident_id} already (another connector's): linked"
        )
    # The session writes on the caller's connection and transaction and never ends it.
    session = Session(bind=conn, join_transaction_mode="rollback_only")
    declared = incidents.declare(
        session=session,
        title=clean(
            incident.get("title") or incident.get("summary") or pd_id,
            TITLE_MAX_CHARS,
            one_line=True,
        )
        or pd_id,
        severity=_severity(incident),
        services=[local_service],
        description=f"Triggered in PagerDuty: {url or pd_id}",
        actor=actor,
        origin=ORIGIN,
        now=when,
    )
    session.flush()
    session.close()
    made, _fresh = db.ensure_link(
        conn,
        connector_id=record.id,
        incident_id=declared.incident.id,
        pd_service_id=pd_service,
        key=key or pd_id,
        correlation_id=f"INC-{declared.incident.id}",
    )
    db.record_pd_incident(
        conn, link_id=made.id, pd_incident_id=pd_id, number=number, html_url=url, status=status
    )
    return Outcome(APPLIED, f"{pd_id} declared as INC-{declared.incident.id}")


def _linked_elsewhere(conn: sa.Connection, pd_id: str) -> db.Link | None:
    """A link of any connector to this PagerDuty incident. On PostgreSQL, appliers of two
    connectors may run at once (in two hubs): a lock on the PagerDuty incident, held to the end
    of the transaction, makes the second wait for the first's link."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"pagerbridge:pd-incident:{pd_id}".encode()) & 0x7FFFFFFF
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    t = connector_links_table
    row = conn.execute(
        sa.select(t).where(t.c.pd_incident_id == pd_id).order_by(t.c.id).limit(1)
    ).first()
    return None if row is None else db._link(row)


def _local_service(record: ConnectorRecord, pd_service: str) -> str | None:
    """The local service mapped to a PagerDuty service (``default`` when only it is)."""
    matches = sorted(name for name, pd in record.service_mappings.items() if pd == pd_service)
    named = [m for m in matches if m != "default"]
    if named:
        return named[0]
    if matches or record.settings.custom.service_id == pd_service:
        return "default"
    return None


def _severity(incident: dict[str, Any]) -> str:
    priority = _obj(incident.get("priority"))
    by_priority = SEVERITY_FOR_PRIORITY.get(str(priority.get("summary") or ""))
    return by_priority or SEVERITY_FOR_URGENCY.get(str(incident.get("urgency")), "SEV-3")
