"""Plain JSON-ready dicts of the domain objects: one shape for the CLI's ``--json`` and the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pagerbridge.incidents.lifecycle import format_ref
from pagerbridge.incidents.models import ApiToken, Incident, Service, TimelineEntry
from pagerbridge.incidents.sla import Target, due_times, format_duration


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, like PagerDuty."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def incident(inc: Incident, *, sla: Target | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": format_ref(inc.id),
        "number": inc.id,
        "title": inc.title,
        "description": inc.description,
        "severity": inc.severity,
        "status": inc.status,
        "services": [s.name for s in inc.services],
        "assignee": inc.assignee,
        "correlation_id": inc.correlation_id,
        "custom_fields": inc.custom_fields,
        "origin": inc.origin,
        "created_by": inc.created_by,
        "version": inc.version,
        "created_at": iso(inc.created_at),
        "updated_at": iso(inc.updated_at),
        "mitigated_at": iso(inc.mitigated_at),
        "resolved_at": iso(inc.resolved_at),
        "closed_at": iso(inc.closed_at),
        "reopened_at": iso(inc.reopened_at),
    }
    if sla is not None:
        ack_due, res_due = due_times(inc, sla)
        data["sla"] = {
            "ack_due_at": iso(ack_due),
            "resolve_due_at": iso(res_due),
            "ack_breached_at": iso(inc.ack_breached_at),
            "resolve_breached_at": iso(inc.resolve_breached_at),
        }
    return data


def entry(e: TimelineEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "incident": format_ref(e.incident_id),
        "at": iso(e.at),
        "kind": e.kind,
        "actor": e.actor,
        "origin": e.origin,
        "body": e.body,
        "data": e.data,
    }


def service(s: Service, *, incidents: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": s.name,
        "description": s.description,
        "owner_team": s.owner_team,
        "default_severity": s.default_severity,
        "created_at": iso(s.created_at),
    }
    if incidents is not None:
        data["incidents"] = incidents
    return data


def sla_target(t: Target) -> dict[str, Any]:
    return {
        "severity": t.severity,
        "ack_seconds": t.ack_seconds,
        "resolve_seconds": t.resolve_seconds,
        "ack": format_duration(t.ack_seconds),
        "resolve": format_duration(t.resolve_seconds),
        "custom": t.custom,
    }


def token(t: ApiToken) -> dict[str, Any]:
    return {"name": t.name, "prefix": t.prefix + "…", "created_at": iso(t.created_at)}
