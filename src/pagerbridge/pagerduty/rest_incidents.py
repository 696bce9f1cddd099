"""Typed REST calls for incidents, their notes and log entries.

Writes carry the ``From`` header PagerDuty requires on them (``require_from`` says what is missing
before anything is sent). Inputs are checked against the documented enums locally so a typo in a
status or urgency fails with a clear message instead of a 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pagerbridge.pagerduty.rest_base import RestCalls, as_list, choice, choices, ref, seg
from pagerbridge.pagerduty.rest_models import Incident, IncidentNote, LogEntry

INCIDENT_STATUSES = frozenset({"triggered", "acknowledged", "resolved"})
URGENCIES = frozenset({"high", "low"})
#: GET /incidents accepts at most two ``sort_by`` fields (e.g. ``created_at:desc``).
MAX_SORT_FIELDS = 2
#: ``include[]`` values PagerDuty documents for GET /incidents.
INCIDENT_INCLUDES = frozenset(
    {
        "acknowledgers",
        "agents",
        "assignees",
        "conference_bridge",
        "escalation_policies",
        "first_trigger_log_entries",
        "priorities",
        "services",
        "teams",
        "users",
    }
)


@dataclass(frozen=True)
class IncidentUpdate:
    """One incident change (status, urgency, priority, assignees, policy, title, resolution).

    Used by ``update_incident`` and by the bulk ``update_incidents``, so both send one body shape.
    """

    id: str
    status: str | None = None
    urgency: str | None = None
    priority_id: str | None = None
    assignee_ids: Sequence[str] | None = None
    escalation_policy_id: str | None = None
    escalation_level: int | None = None
    title: str | None = None
    resolution: str | None = None

    def to_body(self) -> dict[str, Any]:
        """The ``incident`` object PagerDuty expects (without ``id``; the caller adds it)."""
        if self.status is not None:
            choice("status", self.status, INCIDENT_STATUSES)
        if self.urgency is not None:
            choice("urgency", self.urgency, URGENCIES)
        if self.resolution is not None and self.status != "resolved":
            raise ValueError("resolution is only used together with status='resolved'")
        if self.assignee_ids is not None and self.escalation_policy_id is not None:
            raise ValueError("give assignee_ids or escalation_policy_id, not both")
        body: dict[str, Any] = {"type": "incident_reference"}
        if self.status is not None:
            body["status"] = self.status
        if self.resolution is not None:
            body["resolution"] = self.resolution
        if self.urgency is not None:
            body["urgency"] = self.urgency
        if self.title is not None:
            body["title"] = self.title
        if self.priority_id is not None:
            body["priority"] = ref(self.priority_id, "priority_reference")
        if self.assignee_ids is not None:
            body["assignments"] = [
                {"assignee": ref(uid, "user_reference")} for uid in self.assignee_ids
            ]
        if self.escalation_policy_id is not None:
            body["escalation_policy"] = ref(
                self.escalation_policy_id, "escalation_policy_reference"
            )
        if self.escalation_level is not None:
            body["escalation_level"] = self.escalation_level
        if len(body) == 1:
            raise ValueError(f"incident {self.id}: nothing to update")
        return body


class IncidentCalls(RestCalls):
    """Incidents: list (filtered), get, create, update (one or many), notes, log entries."""

    async def list_incidents(
        self,
        *,
        statuses: Sequence[str] | None = None,
        service_ids: Sequence[str] | None = None,
        team_ids: Sequence[str] | None = None,
        user_ids: Sequence[str] | None = None,
        urgencies: Sequence[str] | None = None,
        incident_key: str | None = None,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        date_range: str | None = None,
        sort_by: Sequence[str] | None = None,
        include: Sequence[str] | None = None,
        time_zone: str | None = None,
    ) -> AsyncIterator[Incident]:
        """Every matching incident, newest pages fetched as you iterate.

        Without ``since``/``until``/``date_range`` PagerDuty returns only the last 30 days;
        ``date_range="all"`` lifts that (then ``since``/``until`` are ignored by PagerDuty).
        """
        if date_range is not None and date_range != "all":
            raise ValueError("date_range: only 'all' is allowed")
        if sort_by is not None and len(as_list(sort_by) or []) > MAX_SORT_FIELDS:
            raise ValueError(f"sort_by: PagerDuty sorts by at most {MAX_SORT_FIELDS} fields")
        params: dict[str, Any] = {
            "statuses[]": choices("statuses", as_list(statuses), INCIDENT_STATUSES),
            "service_ids[]": as_list(service_ids),
            "team_ids[]": as_list(team_ids),
            "user_ids[]": as_list(user_ids),
            "urgencies[]": choices("urgencies", as_list(urgencies), URGENCIES),
            "incident_key": incident_key,
            "since": since,
            "until": until,
            "date_range": date_range,
            "sort_by": as_list(sort_by),
            "include[]": choices("include", as_list(include), INCIDENT_INCLUDES),
            "time_zone": time_zone,
        }
        async for item in self.iter_all("/incidents", params):
            yield Incident.model_validate(item)

    async def get_incident(
        self, incident_id: str, *, include: Sequence[str] | None = None
    ) -> Incident:
        params = {"include[]": choices("include", as_list(include), INCIDENT_INCLUDES)}
        data = await self.entity("GET", f"/incidents/{seg(incident_id)}", "incident", params=params)
        return Incident.model_validate(data)

    async def create_incident(
        self,
        *,
        title: str,
        service_id: str,
        urgency: str | None = None,
        details: str | None = None,
        incident_key: str | None = None,
        priority_id: str | None = None,
        assignee_ids: Sequence[str] | None = None,
        escalation_policy_id: str | None = None,
        from_email: str | None = None,
    ) -> Incident:
        """POST /incidents (the Incident Creation API: human speed, heavily rate limited).

        ``details`` is sent as a string body, as PagerDuty's incident creation guide documents.
        """
        sender = self.require_from(from_email, "creating an incident")
        if not title.strip():
            raise ValueError("title must not be empty")
        if assignee_ids and escalation_policy_id:
            raise ValueError("give assignee_ids or escalation_policy_id, not both")
        body: dict[str, Any] = {
            "type": "incident",
            "title": title,
            "service": ref(service_id, "service_reference"),
        }
        if urgency is not None:
            body["urgency"] = choice("urgency", urgency, URGENCIES)
        if details is not None:
            body["body"] = {"type": "incident_body", "details": details}
        if incident_key is not None:
            body["incident_key"] = incident_key
        if priority_id is not None:
            body["priority"] = ref(priority_id, "priority_reference")
        if assignee_ids:
            body["assignments"] = [{"assignee": ref(u, "user_reference")} for u in assignee_ids]
        if escalation_policy_id is not None:
            body["escalation_policy"] = ref(escalation_policy_id, "escalation_policy_reference")
        data = await self.entity("POST", "/incidents", "incident", body=body, from_email=sender)
        return Incident.model_validate(data)

    async def update_incident(
        self,
        incident_id: str,
        *,
        status: str | None = None,
        urgency: str | None = None,
        priority_id: str | None = None,
        assignee_ids: Sequence[str] | None = None,
        escalation_policy_id: str | None = None,
        escalation_level: int | None = None,
        title: str | None = None,
        resolution: str | None = None,
        from_email: str | None = None,
    ) -> Incident:
        """PUT /incidents/{id}: change status, urgency, priority, assignees, policy, title."""
        sender = self.require_from(from_email, "updating an incident")
        change = IncidentUpdate(
            id=incident_id,
            status=status,
            urgency=urgency,
            priority_id=priority_id,
            assignee_ids=assignee_ids,
            escalation_policy_id=escalation_policy_id,
            escalation_level=escalation_level,
            title=title,
            resolution=resolution,
        )
        data = await self.entity(
            "PUT",
            f"/incidents/{seg(incident_id)}",
            "incident",
            body=change.to_body(),
            from_email=sender,
        )
        return Incident.model_validate(data)

    async def acknowledge_incident(
        self, incident_id: str, *, from_email: str | None = None
    ) -> Incident:
        return await self.update_incident(incident_id, status="acknowledged", from_email=from_email)

    async def resolve_incident(
        self, incident_id: str, *, resolution: str | None = None, from_email: str | None = None
    ) -> Incident:
        return await self.update_incident(
            incident_id, status="resolved", resolution=resolution, from_email=from_email
        )

    async def update_incidents(
        self, updates: Sequence[IncidentUpdate], *, from_email: str | None = None
    ) -> list[Incident]:
        """PUT /incidents: several incidents in one request (e.g. resolve a batch)."""
        sender = self.require_from(from_email, "updating incidents")
        if not updates:
            return []
        body = {"incidents": [{"id": u.id, **u.to_body()} for u in updates]}
        answer = await self.request("PUT", "/incidents", json=body, from_email=sender)
        items = answer.get("incidents", []) if isinstance(answer, dict) else []
        return [Incident.model_validate(i) for i in items]

    async def list_notes(self, incident_id: str) -> list[IncidentNote]:
        """GET /incidents/{id}/notes (not paginated by PagerDuty)."""
        answer = await self.request("GET", f"/incidents/{seg(incident_id)}/notes")
        notes = answer.get("notes", []) if isinstance(answer, dict) else []
        return [IncidentNote.model_validate(n) for n in notes]

    async def create_note(
        self, incident_id: str, content: str, *, from_email: str | None = None
    ) -> IncidentNote:
        """POST /incidents/{id}/notes."""
        sender = self.require_from(from_email, "adding a note")
        if not content.strip():
            raise ValueError("a note needs content")
        data = await self.entity(
            "POST",
            f"/incidents/{seg(incident_id)}/notes",
            "note",
            body={"content": content},
            from_email=sender,
        )
        return IncidentNote.model_validate(data)

    async def list_log_entries(
        self,
        incident_id: str,
        *,
        since: datetime | str | None = None,
        until: datetime | str | None = None,
        is_overview: bool | None = None,
        include: Sequence[str] | None = None,
        time_zone: str | None = None,
    ) -> AsyncIterator[LogEntry]:
        """GET /incidents/{id}/log_entries, every page."""
        params: dict[str, Any] = {
            "since": since,
            "until": until,
            "is_overview": is_overview,
            "include[]": as_list(include),
            "time_zone": time_zone,
        }
        path = f"/incidents/{seg(incident_id)}/log_entries"
        async for item in self.iter_all(path, params):
            yield LogEntry.model_validate(item)
