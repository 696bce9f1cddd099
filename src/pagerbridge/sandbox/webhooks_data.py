"""Build the ``event.data`` of outgoing v3 webhooks from the sandbox's REST-shaped resources.

The sandbox keeps incidents as PagerDuty's REST API returns them (``incident_number``,
``assignments``, ...); v3 webhooks carry a different, smaller shape (``number``, ``assignees``,
...). One function per ``data.type`` does that mapping, with exactly the keys of the examples in
PagerDuty's ``webhooks-v3-event-types-and-examples.json``, so a receiver written against
PagerDuty's docs parses what the sandbox sends. Every function copies: the webhook is a snapshot
of the moment it was published, not a view of an incident that keeps changing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pagerbridge.pagerduty.webhook_types import EVENT_TYPES

Resource = dict[str, Any]

#: The ``data.type`` values the sandbox builds (``data_for``); the other documented ones (tasks,
#: workflows, service custom fields, role assignments, action invocations) it never publishes.
BUILT_DATA_TYPES = frozenset(
    {
        "incident",
        "incident_note",
        "incident_conference_bridge",
        "incident_field_values",
        "incident_responder",
        "incident_status_update",
        "service",
    }
)

#: ``data.type`` of each v3 event type the sandbox can produce: PagerDuty's table, as the wire
#: layer holds it (``webhook_types.EVENT_TYPES``), narrowed to what the sandbox builds.
DATA_TYPES: dict[str, str] = {
    event_type: data_type
    for event_type, data_type in EVENT_TYPES.items()
    if data_type in BUILT_DATA_TYPES
}

_REFERENCE_KEYS = ("html_url", "id", "self", "summary", "type")


def reference(obj: Mapping[str, Any] | None, ref_type: str | None = None) -> Resource | None:
    """A ``*_reference`` with exactly PagerDuty's five keys (None stays None)."""
    if obj is None:
        return None
    ref = {key: copy.deepcopy(obj.get(key)) for key in _REFERENCE_KEYS}
    kind = ref_type or str(obj.get("type") or "")
    if kind and not kind.endswith("_reference"):
        kind += "_reference"
    ref["type"] = kind
    return ref


def incident_reference(incident: Mapping[str, Any]) -> Resource:
    """The incident as a reference; ``summary`` is its title, as in PagerDuty's examples."""
    ref = reference(incident, "incident_reference")
    assert ref is not None
    ref["summary"] = incident.get("title", incident.get("summary"))
    return ref


def incident_data(incident: Mapping[str, Any]) -> Resource:
    """``data`` for the ``incident.*`` events whose ``data.type`` is ``incident``."""
    incident_type = incident.get("incident_type") or {"name": "incident_default"}
    assignees = [
        reference(a.get("assignee"), "user_reference")
        for a in incident.get("assignments") or []
        if a.get("assignee")
    ]
    return {
        "id": incident["id"],
        "type": "incident",
        "self": incident.get("self"),
        "html_url": incident.get("html_url"),
        "number": incident.get("incident_number", incident.get("number")),
        "status": incident.get("status"),
        "incident_key": incident.get("incident_key"),
        "created_at": incident.get("created_at"),
        "reopened_at": incident.get("reopened_at"),
        "title": incident.get("title"),
        "incident_type": {"name": incident_type.get("name", "incident_default")},
        "service": reference(incident.get("service"), "service_reference"),
        "assignees": assignees,
        "escalation_policy": reference(
            incident.get("escalation_policy"), "escalation_policy_reference"
        ),
        "teams": [reference(t, "team_reference") for t in incident.get("teams") or []],
        "priority": reference(incident.get("priority"), "priority_reference"),
        "urgency": incident.get("urgency"),
        "conference_bridge": copy.deepcopy(incident.get("conference_bridge")),
        "resolve_reason": copy.deepcopy(incident.get("resolve_reason")),
    }


def note_data(
    incident: Mapping[str, Any], *, note_id: str, content: str, trimmed: bool = False
) -> Resource:
    """``data`` for ``incident.annotated`` (``data.type`` ``incident_note``)."""
    return {
        "incident": incident_reference(incident),
        "id": note_id,
        "content": content,
        "trimmed": trimmed,
        "type": "incident_note",
    }


def status_update_data(
    incident: Mapping[str, Any], *, update_id: str, message: str, trimmed: bool = False
) -> Resource:
    """``data`` for ``incident.status_update_published``."""
    return {
        "incident": incident_reference(incident),
        "id": update_id,
        "message": message,
        "trimmed": trimmed,
        "type": "incident_status_update",
    }


def responder_data(
    incident: Mapping[str, Any],
    *,
    user: Mapping[str, Any],
    escalation_policy: Mapping[str, Any] | None,
    message: str,
    state: str = "pending",
) -> Resource:
    """``data`` for ``incident.responder.added`` / ``.replied`` (``incident_responder``)."""
    return {
        "incident": incident_reference(incident),
        "user": reference(user, "user_reference"),
        "escalation_policy": reference(escalation_policy, "escalation_policy_reference"),
        "message": message,
        "state": state,
        "type": "incident_responder",
    }


def conference_bridge_data(incident: Mapping[str, Any]) -> Resource:
    """``data`` for ``incident.conference_bridge.updated``."""
    bridge = incident.get("conference_bridge") or {}
    number = bridge.get("conference_number")
    return {
        "incident": incident_reference(incident),
        "conference_numbers": [{"label": "", "number": number}] if number else [],
        "conference_url": bridge.get("conference_url"),
        "type": "incident_conference_bridge",
    }


#: The keys of a custom field value in a webhook (PagerDuty's ``incident_field_values`` example).
_FIELD_VALUE_KEYS = ("data_type", "field_type", "id", "name", "namespace", "type", "value")


def field_values_data(
    incident: Mapping[str, Any],
    custom_fields: list[Mapping[str, Any]],
    changed: list[Mapping[str, Any]],
) -> Resource:
    """``data`` for ``incident.custom_field_values.updated`` (``incident_field_values``)."""

    def value(item: Mapping[str, Any]) -> Resource:
        out = {key: copy.deepcopy(item.get(key)) for key in _FIELD_VALUE_KEYS}
        out["namespace"] = "incidents"
        out["type"] = "field_value"
        return out

    return {
        "incident": incident_reference(incident),
        "custom_fields": [value(v) for v in custom_fields],
        "changed_custom_fields": [value(v) for v in changed],
        "type": "incident_field_values",
    }


def service_data(service: Mapping[str, Any]) -> Resource:
    """``data`` for ``service.created`` / ``updated`` / ``deleted``."""
    return {
        "html_url": service.get("html_url"),
        "id": service["id"],
        "self": service.get("self"),
        "summary": service.get("summary", service.get("name")),
        "alert_creation": service.get("alert_creation", "create_alerts_and_incidents"),
        "teams": [reference(t, "team_reference") for t in service.get("teams") or []],
        "type": "service",
    }


def _incident_child(event_type: str, resource: Mapping[str, Any], data_type: str) -> Resource:
    """Normalise a child object the sandbox built itself (note, status update, responder)."""
    incident = resource.get("incident") or {}
    if data_type == "incident_note":
        return note_data(
            incident,
            note_id=str(resource.get("id")),
            content=str(resource.get("content", "")),
            trimmed=bool(resource.get("trimmed", False)),
        )
    if data_type == "incident_status_update":
        return status_update_data(
            incident,
            update_id=str(resource.get("id")),
            message=str(resource.get("message", "")),
            trimmed=bool(resource.get("trimmed", False)),
        )
    if data_type == "incident_responder":
        return responder_data(
            incident,
            user=resource.get("user") or {},
            escalation_policy=resource.get("escalation_policy"),
            message=str(resource.get("message", "")),
            state=str(resource.get("state", "pending")),
        )
    raise ValueError(f"{event_type}: cannot build data of type {data_type!r}")


def data_for(event_type: str, resource: Mapping[str, Any]) -> Resource:
    """The webhook ``data`` for what the sandbox published (a REST incident, a service, or a
    child object such as a note with an ``incident`` reference).

    A REST-shaped incident or service is mapped; a child object is reduced to the example's keys;
    anything else (an event type PagerDuty does not document) is copied as it is.
    """
    data_type = DATA_TYPES.get(event_type)
    kind = resource.get("type")
    if data_type == "incident" or (data_type is None and kind == "incident"):
        if kind == "incident_reference":
            raise ValueError(f"{event_type}: needs the full incident, not a reference")
        return incident_data(resource)
    if data_type == "service":
        return service_data(resource)
    if data_type == "incident_conference_bridge" and kind == "incident":
        return conference_bridge_data(resource)
    if data_type == "incident_field_values":
        return field_values_data(
            resource.get("incident") or {},
            list(resource.get("custom_fields") or []),
            list(resource.get("changed_custom_fields") or []),
        )
    if data_type in {"incident_note", "incident_status_update", "incident_responder"}:
        return _incident_child(event_type, resource, data_type)
    return copy.deepcopy(dict(resource))


def resource_id(data: Mapping[str, Any]) -> str:
    """The id webhooks are ordered by: the incident's for incident children, else the data's."""
    incident = data.get("incident")
    if isinstance(incident, Mapping) and incident.get("id"):
        return str(incident["id"])
    return str(data.get("id", ""))
