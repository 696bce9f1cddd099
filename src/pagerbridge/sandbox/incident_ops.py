"""Incident behaviour shared by the Events API and the REST API: open, transition, annotate.

Every change writes a log entry and is published (``incident.*`` webhook event types), so the
outgoing webhooks see exactly what a REST reader sees.
"""

from __future__ import annotations

from typing import Any

from pagerbridge.sandbox.oncall import first_responders, rule_users
from pagerbridge.sandbox.state import Resource, SandboxState, alert_index_key

STATUSES = ("triggered", "acknowledged", "resolved")
URGENCIES = ("high", "low")
ACKNOWLEDGER_TYPES = ("user_reference", "service_reference")


class IncidentRuleError(Exception):
    """A change PagerDuty refuses; carries PagerDuty's error code and message."""

    def __init__(self, code: int, message: str, errors: list[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors or []


def _channel(kind: str, **extra: Any) -> Resource:
    return {"type": kind, **extra}


def write_log_entry(
    state: SandboxState,
    kind: str,
    incident: Resource,
    *,
    agent: Resource | None,
    channel: Resource,
    summary: str,
    extra: Resource | None = None,
) -> Resource:
    """Append a ``<kind>_log_entry`` for ``incident`` and return it."""
    entry_id = state.unique_id(state.log_entries, "R")
    entry: Resource = {
        "id": entry_id,
        "type": f"{kind}_log_entry",
        "created_at": state.now_iso(),
        "channel": channel,
        "agent": agent,
        "service": incident["service"],
        "incident": state.ref("incident", incident["id"]),
        "teams": incident.get("teams", []),
        "contexts": [],
    }
    if extra:
        entry.update(extra)
    entry["summary"] = summary
    entry["self"] = f"{state.base_url}/log_entries/{entry_id}"
    entry["html_url"] = f"{state.base_url}/#/incidents/{incident['id']}/log_entries/{entry_id}"
    state.log_entries[entry_id] = entry
    state.incident_log.setdefault(incident["id"], []).append(entry_id)
    return entry


def _assignments(state: SandboxState, user_ids: list[str], at: str) -> list[Resource]:
    return [{"at": at, "assignee": state.ref("user", uid)} for uid in user_ids]


def urgency_for(service: Resource, severity: str | None) -> str:
    """The urgency a new incident gets from its service's urgency rule."""
    rule = service.get("incident_urgency_rule") or {}
    if rule.get("type") == "constant":
        return str(rule.get("urgency") or "high")
    if rule.get("type") == "severity_based" and severity:
        return "high" if severity in ("critical", "error") else "low"
    return "high"


def open_incident(
    state: SandboxState,
    *,
    service_id: str,
    title: str,
    incident_key: str,
    agent: Resource | None,
    channel: Resource,
    urgency: str | None = None,
    details: str | None = None,
    escalation_policy_id: str | None = None,
    assignee_ids: list[str] | None = None,
    priority_id: str | None = None,
    severity: str | None = None,
) -> Resource:
    """Create a triggered incident on a service, assigned to whoever is on call."""
    service = state.services[service_id]
    policy_id = escalation_policy_id or service["escalation_policy"]["id"]
    now = state.now_iso()
    if assignee_ids:
        assigned = assignee_ids
        via = "direct_assignment"
    else:
        assigned = first_responders(state, policy_id, state.now())
        via = "escalation_policy"
    state.incident_counter += 1
    incident_id = state.unique_id(state.incidents, "Q")
    incident: Resource = {
        "id": incident_id,
        "type": "incident",
        "incident_number": state.incident_counter,
        "title": title,
        "description": title,
        "created_at": now,
        "updated_at": now,
        "status": "triggered",
        "incident_key": incident_key,
        "service": state.ref("service", service_id),
        "assignments": _assignments(state, assigned, now),
        "assigned_via": via,
        "last_status_change_at": now,
        "resolved_at": None,
        "alert_counts": {"all": 0, "triggered": 0, "resolved": 0},
        "is_mergeable": True,
        "escalation_policy": state.ref("escalation_policy", policy_id),
        "teams": list(service.get("teams", [])),
        "pending_actions": [],
        "acknowledgements": [],
        "alert_grouping": None,
        "last_status_change_by": state.ref("service", service_id),
        "priority": dict(state.priorities[priority_id]) if priority_id else None,
        "resolve_reason": None,
        "incidents_responders": [],
        "responder_requests": [],
        "urgency": urgency or urgency_for(service, severity),
        "body": {"type": "incident_body", "details": details or ""},
    }
    state.decorate("incident", incident, f"[#{incident['incident_number']}] {title}")
    state.incidents[incident_id] = incident
    state.notes[incident_id] = []
    trigger = write_log_entry(
        state,
        "trigger",
        incident,
        agent=agent,
        channel=channel,
        summary=f"Triggered through the {channel['type'].replace('_', ' ')}",
    )
    incident["first_trigger_log_entry"] = {
        "id": trigger["id"],
        "type": "trigger_log_entry_reference",
        "summary": trigger["summary"],
        "self": trigger["self"],
        "html_url": trigger["html_url"],
    }
    if assigned:
        write_log_entry(
            state,
            "assign",
            incident,
            agent=agent,
            channel=_channel("auto"),
            summary="Assigned to " + ", ".join(state.users[u]["name"] for u in assigned),
            extra={"assignees": [state.ref("user", u) for u in assigned]},
        )
    state.services[service_id]["last_incident_timestamp"] = now
    state.changed(incident, restart=True)
    state.publish("incident.triggered", incident, agent=agent)
    return incident


def set_status(
    state: SandboxState,
    incident: Resource,
    status: str,
    *,
    agent: Resource | None,
    channel: Resource,
    resolution: str | None = None,
) -> bool:
    """Move an incident to ``status``; returns False when it already was there (a no-op)."""
    if status not in STATUSES:
        raise IncidentRuleError(1003, "Invalid Status Provided", [f"status {status!r} is invalid"])
    old = incident["status"]
    if old == status:
        return False
    now = state.now_iso()
    incident["status"] = status
    incident["updated_at"] = now
    incident["last_status_change_at"] = now
    if agent is not None:
        incident["last_status_change_by"] = agent
    if status == "acknowledged":
        if agent is not None and agent.get("type") in ACKNOWLEDGER_TYPES:
            # A user over REST, the service itself for an Events API acknowledge (PagerDuty's
            # ``AcknowledgerReference``: a user or service reference).
            incident["acknowledgements"].append({"at": now, "acknowledger": dict(agent)})
        write_log_entry(
            state, "acknowledge", incident, agent=agent, channel=channel, summary="Acknowledged"
        )
        state.publish("incident.acknowledged", incident, agent=agent)
    elif status == "resolved":
        incident["resolved_at"] = now
        incident["pending_actions"] = []
        incident["assignments"] = []
        incident["acknowledgements"] = []  # "empty if the status is resolved or triggered"
        extra = {"note": resolution} if resolution else None
        write_log_entry(
            state,
            "resolve",
            incident,
            agent=agent,
            channel=channel,
            summary="Resolved",
            extra=extra,
        )
        _resolve_alerts(state, incident)
        state.publish("incident.resolved", incident, agent=agent)
    else:  # back to triggered: unacknowledge, or reopen a resolved incident
        incident["acknowledgements"] = []
        incident["resolved_at"] = None
        if old == "resolved":
            policy_id = incident["escalation_policy"]["id"]
            users = first_responders(state, policy_id, state.now())
            incident["assignments"] = _assignments(state, users, now)
            write_log_entry(
                state, "trigger", incident, agent=agent, channel=channel, summary="Reopened"
            )
            state.publish("incident.reopened", incident, agent=agent)
        else:
            write_log_entry(
                state,
                "unacknowledge",
                incident,
                agent=agent,
                channel=channel,
                summary="Unacknowledged",
            )
            state.publish("incident.unacknowledged", incident, agent=agent)
    state.changed(incident, restart=old == "resolved")
    return True


def _resolve_alerts(state: SandboxState, incident: Resource) -> None:
    for alert in state.alerts_of(incident["id"]):
        if alert["status"] != "resolved":
            alert["status"] = "resolved"
            alert["resolved_at"] = state.now_iso()
            state.open_alerts.pop(alert_index_key(alert["service"]["id"], alert["alert_key"]), None)
    refresh_alert_counts(state, incident)


def refresh_alert_counts(state: SandboxState, incident: Resource) -> None:
    mine = state.alerts_of(incident["id"])
    triggered = sum(1 for a in mine if a["status"] == "triggered")
    incident["alert_counts"] = {
        "all": len(mine),
        "triggered": triggered,
        "resolved": len(mine) - triggered,
    }


def reassign(
    state: SandboxState,
    incident: Resource,
    user_ids: list[str],
    *,
    agent: Resource | None,
    channel: Resource,
) -> None:
    now = state.now_iso()
    incident["assignments"] = _assignments(state, user_ids, now)
    incident["assigned_via"] = "direct_assignment"
    incident["updated_at"] = now
    write_log_entry(
        state,
        "assign",
        incident,
        agent=agent,
        channel=channel,
        summary="Reassigned to " + ", ".join(state.users[u]["name"] for u in user_ids),
        extra={"assignees": [state.ref("user", u) for u in user_ids]},
    )
    state.publish("incident.reassigned", incident, agent=agent)


def set_escalation_policy(
    state: SandboxState,
    incident: Resource,
    policy_id: str,
    *,
    agent: Resource | None,
    channel: Resource,
) -> None:
    now = state.now_iso()
    incident["escalation_policy"] = state.ref("escalation_policy", policy_id)
    users = first_responders(state, policy_id, state.now())
    incident["assignments"] = _assignments(state, users, now)
    incident["assigned_via"] = "escalation_policy"
    incident["updated_at"] = now
    write_log_entry(
        state,
        "escalate",
        incident,
        agent=agent,
        channel=channel,
        summary="Escalated to " + state.escalation_policies[policy_id]["name"],
        extra={"assignees": [state.ref("user", u) for u in users]},
    )
    state.changed(incident, restart=True)
    state.publish("incident.delegated", incident, agent=agent)


def escalate(
    state: SandboxState,
    incident: Resource,
    level: int,
    *,
    agent: Resource | None,
    channel: Resource,
) -> None:
    """Assign to escalation rule ``level`` (1-based) of the incident's policy."""
    policy = state.escalation_policies[incident["escalation_policy"]["id"]]
    rules = policy.get("escalation_rules", [])
    if not 1 <= level <= len(rules):
        raise IncidentRuleError(
            1006, "Cannot Escalate", [f"escalation_level must be between 1 and {len(rules)}"]
        )
    users = rule_users(state, rules[level - 1], state.now())
    now = state.now_iso()
    incident["assignments"] = _assignments(state, users, now)
    incident["assigned_via"] = "escalation_policy"
    incident["updated_at"] = now
    write_log_entry(
        state,
        "escalate",
        incident,
        agent=agent,
        channel=channel,
        summary=f"Escalated to level {level}",
        extra={"assignees": [state.ref("user", u) for u in users]},
    )
    state.changed(incident, level=level)
    state.publish("incident.escalated", incident, agent=agent)


def set_priority(
    state: SandboxState, incident: Resource, priority_id: str | None, *, agent: Resource | None
) -> None:
    incident["priority"] = dict(state.priorities[priority_id]) if priority_id else None
    incident["updated_at"] = state.now_iso()
    state.publish("incident.priority_updated", incident, agent=agent)


def set_urgency(
    state: SandboxState,
    incident: Resource,
    urgency: str,
    *,
    agent: Resource | None,
    channel: Resource,
) -> None:
    if incident["urgency"] == urgency:
        return
    incident["urgency"] = urgency
    incident["updated_at"] = state.now_iso()
    write_log_entry(
        state,
        "urgency_change",
        incident,
        agent=agent,
        channel=channel,
        summary=f"Urgency changed to {urgency}",
    )
    # PagerDuty's v3 webhooks have no event type for an urgency change, so none is sent.


def add_note(
    state: SandboxState, incident: Resource, content: str, *, user_id: str | None
) -> Resource:
    """Add a note (``annotate_log_entry`` + ``incident.annotated``)."""
    note_id = state.unique_id({n["id"]: n for n in state.notes.get(incident["id"], [])}, "N")
    user = state.ref("user", user_id) if user_id else None
    note: Resource = {
        "id": note_id,
        "user": user,
        "channel": {"summary": "The PagerDuty website or APIs"},
        "content": content,
        "created_at": state.now_iso(),
    }
    state.notes.setdefault(incident["id"], []).append(note)
    write_log_entry(
        state,
        "annotate",
        incident,
        agent=user,
        channel=_channel("note"),
        summary="Note added",
        extra={"note": content},
    )
    webhook_note: Resource = {
        "id": note_id,
        "type": "incident_note",
        "content": content,
        "trimmed": False,
        "incident": state.ref("incident", incident["id"]),
        "service": incident["service"],
        "teams": incident.get("teams", []),
    }
    state.publish("incident.annotated", webhook_note, agent=user)
    return note
