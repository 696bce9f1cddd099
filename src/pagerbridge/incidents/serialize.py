"""Plain JSON-ready dicts of the domain objects: one shape for the CLI's ``--json`` and the API.

JSON columns pass through :func:`jsonvalues.safe`, so a row an older version stored with a value
JSON cannot carry (NaN, a lone surrogate, ...) is still served instead of failing every listing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pagerbridge.incidents.jsonvalues import safe
from pagerbridge.incidents.lifecycle import format_ref
from pagerbridge.incidents.models import ApiToken, Incident, Service, TimelineEntry
from pagerbridge.incidents.sla import Target, due_times, format_duration


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z``, like PagerDuty."""
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def answer(incident: dict[str, Any]) -> dict[str, Any]:
    """What every command and endpoint that answers with one incident sends:
    ``{"incident": {...}}``, as PagerDuty does (docs/incidents.md, "One shape")."""
    return {"incident": incident}


def incident(inc: Incident, *, sla: Target | None = None) -> dict[str, Any]:
    data = incident_values(
        {
            **{name: getattr(inc, name) for name in _FIELDS},
            "services": [s.name for s in inc.services],
        }
    )
    if sla is not None:
        ack_due, res_due = due_times(inc, sla)
        data["sla"] = {
            "ack_due_at": iso(ack_due),
            "resolve_due_at": iso(res_due),
            "ack_breached_at": iso(inc.ack_breached_at),
            "resolve_breached_at": iso(inc.resolve_breached_at),
        }
    return data


_FIELDS = (
    "id",
    "title",
    "description",
    "severity",
    "status",
    "assignee",
    "correlation_id",
    "custom_fields",
    "origin",
    "created_by",
    "version",
    "created_at",
    "updated_at",
    "mitigated_at",
    "resolved_at",
    "closed_at",
    "reopened_at",
)


def incident_values(v: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape from column values plus ``services`` (names), as the Core paths read them."""
    return {
        "id": format_ref(v["id"]),
        "number": v["id"],
        "title": v["title"],
        "description": v["description"],
        "severity": v["severity"],
        "status": v["status"],
        "services": list(v["services"]),
        "assignee": v["assignee"],
        "correlation_id": v["correlation_id"],
        "custom_fields": safe(v["custom_fields"]),
        "origin": v["origin"],
        "created_by": v["created_by"],
        "version": v["version"],
        "created_at": iso(v["created_at"]),
        "updated_at": iso(v["updated_at"]),
        "mitigated_at": iso(v["mitigated_at"]),
        "resolved_at": iso(v["resolved_at"]),
        "closed_at": iso(v["closed_at"]),
        "reopened_at": iso(v["reopened_at"]),
    }


def entry(e: TimelineEntry) -> dict[str, Any]:
    return entry_values(
        {
            "id": e.id,
            "incident_id": e.incident_id,
            "at": e.at,
            "kind": e.kind,
            "actor": e.actor,
            "origin": e.origin,
            "body": e.body,
            "data": e.data,
        }
    )


def entry_values(v: Mapping[str, Any]) -> dict[str, Any]:
    """The API shape of a timeline entry from its column values."""
    return {
        "id": v["id"],
        "incident": format_ref(v["incident_id"]),
        "at": iso(v["at"]),
        "kind": v["kind"],
        "actor": v["actor"],
        "origin": v["origin"],
        "body": v["body"],
        "data": safe(v["data"]),
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
