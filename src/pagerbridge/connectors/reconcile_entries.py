"""PagerDuty's log entries (and open incidents) as the webhook events they stand for.

Reconcile has no mapping of its own: each change it finds becomes the v3-webhook-shaped event
that PagerDuty would have sent, and :func:`inbound.apply` applies it, as for a webhook. What is
here is only the translation, and the few checks that make a replay harmless where applying
the event twice would not be (a second "reassigned" note, a second "resolved in PagerDuty" note
with ``auto_resolve`` off) or would be wrong (a resolve older than a later local reopen):

==============================  =======================  ====================================
log entry                       event                    skipped when
==============================  =======================  ====================================
trigger (the first)             incident.triggered       not on a mapped service
trigger (a later one)           incident.reopened        a newer local status change
acknowledge                     incident.acknowledged    a newer local status change
unacknowledge                   incident.unacknowledged  a newer local status change
resolve                         incident.resolved        a newer local reopen; with
                                                         auto_resolve off, PagerDuty's status
                                                         was known as resolved already
assign (not the automatic one   incident.reassigned      the local assignee is that person
  of a new incident), escalate, incident.escalated,      already, or changed later; no email
  delegate                      incident.delegated
annotate                        incident.annotated       (inbound skips a note it holds)
anything else                   —                        always (no webhook stands for it)
==============================  =======================  ====================================

"Newer" compares PagerDuty's log-entry time with the local timeline: the later change wins
(PagerDuty's times have whole seconds; within the same second the local change wins), except
that a resolve only ever yields to a later reopen: an incident acknowledged here after it was
resolved in PagerDuty is resolved (both sides end resolved).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors import inbound
from pagerbridge.connectors import links as db
from pagerbridge.connectors.models import connector_links_table
from pagerbridge.connectors.records import ConnectorRecord

TRIGGERED: Final = "incident.triggered"
STATUS_KINDS: Final = (
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
)
ASSIGN_KINDS: Final = inbound.ASSIGNING
BY_TYPE: Final = {
    "acknowledge_log_entry": "incident.acknowledged",
    "unacknowledge_log_entry": "incident.unacknowledged",
    "resolve_log_entry": "incident.resolved",
    "assign_log_entry": "incident.reassigned",
    "escalate_log_entry": "incident.escalated",
    "delegate_log_entry": "incident.delegated",
    "annotate_log_entry": "incident.annotated",
}
#: Outcome states beyond inbound's ``applied``/``ignored``: a replay that would change nothing.
SKIPPED: Final = "skipped"
FAILED: Final = "error"


@dataclass(frozen=True, slots=True)
class Change:
    """One change made in PagerDuty, small enough to hold a window's worth in memory."""

    entry_id: str
    at: str
    kind: str
    pd_incident: str
    service: str | None
    agent: dict[str, str] | None
    #: Whose email the change assigns (acknowledger/assignee), looked up before applying.
    user_id: str | None = None
    note: str | None = None
    #: For a trigger: the incident, as an ``incident.triggered`` event carries it.
    incident: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Result:
    change: Change
    state: str
    message: str


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _ref(value: Any) -> dict[str, str] | None:
    v = _obj(value)
    if not isinstance(v.get("id"), str):
        return None
    return {k: str(v[k]) for k in ("id", "type", "summary") if isinstance(v.get(k), str)}


def _first_user(people: Any, key: str) -> str | None:
    for item in people if isinstance(people, list) else []:
        person = _obj(_obj(item).get(key)) if key else _obj(item)
        if isinstance(person.get("id"), str) and person.get("type", "user_reference") in (
            "user",
            "user_reference",
        ):
            return str(person["id"])
    return None


def parse_at(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def normal_at(value: Any) -> str | None:
    """A PagerDuty time as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC: sortable as text), or None when it is
    not one (PagerDuty's answers are data: a bad one is passed over, never a crash)."""
    if not isinstance(value, str):
        return None
    try:
        moment = parse_at(value).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}Z"
    )


def incident_data(incident: dict[str, Any]) -> dict[str, Any]:
    """An incident (REST shape) as ``incident.triggered`` carries it, keeping what inbound reads."""
    priority = _obj(incident.get("priority"))
    return {
        "id": incident["id"],
        "type": "incident",
        "number": incident.get("incident_number"),
        "title": incident.get("title") or incident.get("summary"),
        "incident_key": incident.get("incident_key"),
        "html_url": incident.get("html_url"),
        "status": incident.get("status"),
        "urgency": incident.get("urgency"),
        "service": {"id": _obj(incident.get("service")).get("id")},
        "priority": {"summary": priority.get("summary")} if priority else None,
    }


def from_entry(entry: dict[str, Any]) -> Change | None:
    """The change a log entry stands for (``include[]=incidents`` expands its incident), or None
    for entries no webhook stands for (notify, urgency change, ...)."""
    kind_of_entry = entry.get("type")
    incident = _obj(entry.get("incident"))
    pd_id, at, entry_id = incident.get("id"), normal_at(entry.get("created_at")), entry.get("id")
    if not (isinstance(pd_id, str) and at is not None and isinstance(entry_id, str)):
        return None
    service = _obj(entry.get("service")).get("id") or _obj(incident.get("service")).get("id")
    common: dict[str, Any] = {
        "entry_id": entry_id,
        "at": at,
        "pd_incident": pd_id,
        "service": service if isinstance(service, str) else None,
        "agent": _ref(entry.get("agent")),
    }
    if kind_of_entry == "trigger_log_entry":
        first = _obj(incident.get("first_trigger_log_entry")).get("id")
        if first is not None and first != entry_id:
            return Change(kind="incident.reopened", **common)
        data = incident_data(incident) if "title" in incident or "status" in incident else None
        return Change(kind=TRIGGERED, incident=data, **common)
    kind = BY_TYPE.get(str(kind_of_entry))
    if kind is None:
        return None
    if kind_of_entry == "assign_log_entry" and _obj(entry.get("channel")).get("type") == "auto":
        return None  # a new incident's first assignment: PagerDuty sends no webhook for it
    user: str | None = None
    if kind == "incident.acknowledged":
        user = _first_user(incident.get("assignments"), "assignee") or _first_user(
            [entry.get("agent")], ""
        )
    elif kind in ASSIGN_KINDS:
        user = _first_user(entry.get("assignees"), "")
    note = None
    if kind == "incident.annotated":
        text = entry.get("note") or _obj(entry.get("channel")).get("summary")
        note = text if isinstance(text, str) else None
    return Change(kind=kind, user_id=user, note=note, **common)


def from_incident(incident: dict[str, Any]) -> list[Change]:
    """An open incident found by the backfill: its trigger, and its acknowledgement if any."""
    pd_id = incident.get("id")
    if not isinstance(pd_id, str):
        return []
    at = normal_at(incident.get("created_at")) or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    service = _obj(incident.get("service")).get("id")
    common: dict[str, Any] = {
        "pd_incident": pd_id,
        "service": service if isinstance(service, str) else None,
    }
    out = [
        Change(
            entry_id=f"backfill:{pd_id}:trigger",
            at=at,
            kind=TRIGGERED,
            agent=None,
            incident=incident_data(incident),
            **common,
        )
    ]
    if incident.get("status") == "acknowledged":
        acks = incident.get("acknowledgements")
        last = _obj(acks[-1]) if isinstance(acks, list) and acks else {}
        when = normal_at(last.get("at")) or normal_at(incident.get("last_status_change_at")) or at
        out.append(
            Change(
                entry_id=f"backfill:{pd_id}:ack",
                at=when,
                kind="incident.acknowledged",
                agent=_ref(last.get("acknowledger")),
                user_id=_first_user(incident.get("assignments"), "assignee")
                or _first_user([last.get("acknowledger")], ""),
                **common,
            )
        )
    return out


def event_of(change: Change) -> dict[str, Any]:
    """The v3 webhook event PagerDuty would have sent for ``change``."""
    if change.kind == TRIGGERED and change.incident is not None:
        data: dict[str, Any] = change.incident
    elif change.kind == "incident.annotated":
        data = {
            "type": "incident_note",
            "content": change.note,
            "incident": {"id": change.pd_incident, "type": "incident_reference"},
        }
    else:
        data = {"id": change.pd_incident, "type": "incident"}
    return {
        "id": change.entry_id,
        "event_type": change.kind,
        "occurred_at": change.at,
        "agent": change.agent,
        "data": data,
    }


def linked(conn: sa.Connection, connector_id: int, pd_ids: set[str]) -> dict[str, db.Link]:
    """The links of these PagerDuty incidents (pd id → link)."""
    t = connector_links_table
    out: dict[str, db.Link] = {}
    ids = sorted(pd_ids)
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            sa.select(t).where(
                t.c.connector_id == connector_id, t.c.pd_incident_id.in_(ids[start : start + 500])
            )
        )
        for row in rows:
            link = db._link(row)
            if link.pd_incident_id:
                out[link.pd_incident_id] = link
    return out


def _latest(conn: sa.Connection, incident_id: int, kind: str) -> datetime | None:
    t = db._timeline
    return _as_utc(
        conn.execute(
            sa.select(sa.func.max(t.c.at)).where(t.c.incident_id == incident_id, t.c.kind == kind)
        ).scalar()
    )


def _as_utc(found: Any) -> datetime | None:
    if isinstance(found, datetime):
        return found if found.tzinfo else found.replace(tzinfo=UTC)
    if isinstance(found, str):  # SQLite's aggregate bypasses the column type
        return parse_at(found.replace(" ", "T"))
    return None


def _column(conn: sa.Connection, incident_id: int, column: str) -> Any:
    t = db._incidents
    return conn.execute(sa.select(t.c[column]).where(t.c.id == incident_id)).scalar()


def redundant(
    conn: sa.Connection,
    record: ConnectorRecord,
    change: Change,
    link: db.Link,
    email: str | None,
) -> str | None:
    """Why applying this (already linked) change again would be wrong or noise; None: apply."""
    when, ref = parse_at(change.at), link.incident_id
    if change.kind == "incident.resolved":
        # A resolve moves forward: only a local reopen after it makes it stale.
        reopened = _as_utc(_column(conn, ref, "reopened_at"))
        if reopened is not None and reopened > when:
            return f"INC-{ref} was reopened locally after it (stale)"
        if not record.settings.custom.auto_resolve and link.pd_status == "resolved":
            return f"INC-{ref}: PagerDuty's resolve was known already"
    elif change.kind in STATUS_KINDS:
        latest = _latest(conn, ref, "status")
        if latest is not None and latest > when:
            return f"INC-{ref} changed locally after it (stale)"
    elif change.kind in ASSIGN_KINDS:
        if email is None:
            return f"INC-{ref}: the new assignee's email is unknown"
        if _column(conn, ref, "assignee") == email:
            return f"INC-{ref} is assigned to {email} already"
        latest = _latest(conn, ref, "assigned")
        if latest is not None and latest > when:
            return f"INC-{ref} was reassigned locally after it (stale)"
    return None


def mapped_services(record: ConnectorRecord) -> set[str]:
    """The PagerDuty services whose new incidents become local ones."""
    found = set(record.service_mappings.values())
    if record.settings.custom.service_id:
        found.add(record.settings.custom.service_id)
    return found


def apply_changes(
    conn: sa.Connection,
    record: ConnectorRecord,
    changes: list[Change],
    emails: dict[str, str | None],
) -> list[Result]:
    """Apply ``changes`` in order in the caller's transaction, each in a savepoint (one that
    fails is reported and rolled back alone). Changes of incidents that are not ours (PagerDuty's
    log is account-wide) are passed over without a word."""
    links = linked(conn, record.id, {c.pd_incident for c in changes})
    services = mapped_services(record)
    out: list[Result] = []
    for change in changes:
        link = links.get(change.pd_incident)
        if change.kind == TRIGGERED:
            if link is not None or change.service not in services or change.incident is None:
                continue
        elif link is None:
            continue
        email = emails.get(change.user_id) if change.user_id else None
        if link is not None:
            why = redundant(conn, record, change, link, email)
            if why is not None:
                out.append(Result(change, SKIPPED, why))
                continue
        try:
            with conn.begin_nested():
                outcome = inbound.apply(conn, record, event_of(change), assignee_email=email)
        except Exception as exc:  # reported, and the rest of the batch goes on
            out.append(Result(change, FAILED, f"{type(exc).__name__}: {exc}"[:500]))
            continue
        out.append(Result(change, outcome.state, outcome.result))
        if change.kind == TRIGGERED and outcome.state == inbound.APPLIED:
            links.update(linked(conn, record.id, {change.pd_incident}))
    return out
