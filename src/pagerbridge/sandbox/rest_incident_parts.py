"""REST API v2: an incident's notes and alerts, and log entries (per incident and account-wide)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pagerbridge.sandbox import incident_ops as ops
from pagerbridge.sandbox.rest_common import (
    MAX_RANGE_MONTHS,
    RestError,
    includes,
    invalid_input,
    multi,
    page,
    read_body,
    ref_id,
    requester,
    state_of,
    time_range,
    wrapped,
)
from pagerbridge.sandbox.rest_incidents import WEB_CHANNEL, expand, find_incident
from pagerbridge.sandbox.state import Resource, SandboxState, alert_index_key, parse_time

NOTE_MAX = 65_535
ALERT_STATUSES = ("triggered", "resolved")


async def list_notes(request: Request) -> Response:
    state = state_of(request)
    incident = find_incident(state, request.path_params["id"])
    return JSONResponse({"notes": state.notes.get(incident["id"], [])})


async def create_note(request: Request) -> Response:
    state = state_of(request)
    user_id = requester(request)
    incident = find_incident(state, request.path_params["id"])
    body = await read_body(request, "note")
    content = body.get("content")
    if not isinstance(content, str) or not content.strip():
        raise invalid_input("'note.content' is required")
    if len(content) > NOTE_MAX:
        raise invalid_input(f"'note.content' is longer than {NOTE_MAX} characters")
    note = ops.add_note(state, incident, content, user_id=user_id)
    return wrapped("note", note)


def _entries(request: Request, state: SandboxState, incident_id: str | None) -> list[Resource]:
    if incident_id:
        since, until = time_range(request, default_days=None)
    else:
        since, until = time_range(request, max_months=MAX_RANGE_MONTHS)
    out: list[Resource] = []
    source = state.log_of(incident_id) if incident_id else state.log_entries.values()
    for entry in source:
        if since is not None or until is not None:
            created = parse_time(entry["created_at"])
            if (since and created < since) or (until and created >= until):
                continue
        out.append(entry)
    if request.query_params.get("is_overview", "false") == "true":
        out = [e for e in out if e["type"] in OVERVIEW_TYPES]
    return out


OVERVIEW_TYPES = {
    "trigger_log_entry",
    "acknowledge_log_entry",
    "resolve_log_entry",
    "assign_log_entry",
    "escalate_log_entry",
}


def _expand_entry(state: SandboxState, entry: Resource, wanted: set[str]) -> Resource:
    if not wanted:
        return entry
    out = dict(entry)
    if "incidents" in wanted and entry["incident"]["id"] in state.incidents:
        out["incident"] = expand(state, state.incidents[entry["incident"]["id"]], set())
    if "services" in wanted and entry["service"]["id"] in state.services:
        out["service"] = state.services[entry["service"]["id"]]
    return out


async def incident_log_entries(request: Request) -> Response:
    state = state_of(request)
    incident = find_incident(state, request.path_params["id"])
    wanted = includes(request)
    return page(
        request,
        "log_entries",
        _entries(request, state, incident["id"]),
        present=lambda e: _expand_entry(state, e, wanted),
    )


async def list_log_entries(request: Request) -> Response:
    state = state_of(request)
    wanted = includes(request)
    return page(
        request,
        "log_entries",
        _entries(request, state, None),
        present=lambda e: _expand_entry(state, e, wanted),
    )


async def get_log_entry(request: Request) -> Response:
    state = state_of(request)
    entry = state.log_entries.get(request.path_params["id"])
    if entry is None:
        raise RestError(404, "Log Entry Not Found", 5001, [])
    return wrapped("log_entry", _expand_entry(state, entry, includes(request)))


async def list_alerts(request: Request) -> Response:
    state = state_of(request)
    incident = find_incident(state, request.path_params["id"])
    statuses = multi(request, "statuses")
    for status in statuses:
        if status not in ALERT_STATUSES:
            raise invalid_input(f"'statuses[]' has an invalid value {status!r}")
    key = request.query_params.get("alert_key")
    alerts = [
        a
        for a in state.alerts_of(incident["id"])
        if (not statuses or a["status"] in statuses) and (key is None or a["alert_key"] == key)
    ]
    return page(request, "alerts", alerts)


async def get_alert(request: Request) -> Response:
    state = state_of(request)
    incident = find_incident(state, request.path_params["id"])
    alert = state.alerts.get(request.path_params["alert_id"])
    if alert is None or alert["incident"]["id"] != incident["id"]:
        raise RestError(404, "Not Found", 2100, ["alert not found"])
    return wrapped("alert", alert)


def _update_alert(
    state: SandboxState, incident: Resource, alert: Resource, changes: Any, user_id: str | None
) -> None:
    """Resolve an alert (and its incident once no alert is open); moving alerts is not offered."""
    if not isinstance(changes, dict):
        raise invalid_input("each alert update must be an object")
    target = changes.get("incident")
    if target is not None and ref_id(target, "alert.incident") != incident["id"]:
        raise invalid_input("moving an alert to another incident is not supported by the sandbox")
    status = changes.get("status")
    if status is None:
        return
    if status not in ALERT_STATUSES:
        raise invalid_input(f"alert status must be one of {', '.join(ALERT_STATUSES)}")
    if status == "triggered" and alert["status"] == "resolved":
        raise invalid_input("a resolved alert cannot be triggered again")
    if status == "resolved" and alert["status"] != "resolved":
        alert["status"] = "resolved"
        alert["resolved_at"] = state.now_iso()
        state.open_alerts.pop(alert_index_key(alert["service"]["id"], alert["alert_key"]), None)
        ops.refresh_alert_counts(state, incident)
        if incident["alert_counts"]["triggered"] == 0 and incident["status"] != "resolved":
            agent = state.ref("user", user_id) if user_id else None
            ops.set_status(state, incident, "resolved", agent=agent, channel=WEB_CHANNEL)


def _incident_alert(state: SandboxState, incident: Resource, alert_id: str) -> Resource:
    alert = state.alerts.get(alert_id)
    if alert is None or alert["incident"]["id"] != incident["id"]:
        raise RestError(404, "Not Found", 2100, [f"alert {alert_id} not found on this incident"])
    return alert


async def update_alert(request: Request) -> Response:
    state = state_of(request)
    user_id = requester(request)
    incident = find_incident(state, request.path_params["id"])
    alert = _incident_alert(state, incident, request.path_params["alert_id"])
    changes = await read_body(request, "alert")
    _update_alert(state, incident, alert, changes, user_id)
    return wrapped("alert", alert)


async def update_alerts(request: Request) -> Response:
    state = state_of(request)
    user_id = requester(request)
    incident = find_incident(state, request.path_params["id"])
    body = await read_body(request)
    items = body.get("alerts")
    if not isinstance(items, list) or not items:
        raise invalid_input("'alerts' must be a non-empty array")
    pairs = []
    for index, item in enumerate(items):
        alert_id = ref_id(item, f"alerts[{index}]")
        pairs.append((_incident_alert(state, incident, alert_id), item))
    for alert, changes in pairs:
        _update_alert(state, incident, alert, changes, user_id)
    return page(request, "alerts", [alert for alert, _ in pairs])


def routes() -> list[BaseRoute]:
    return [
        Route("/incidents/{id}/notes", list_notes, methods=["GET"]),
        Route("/incidents/{id}/notes", create_note, methods=["POST"]),
        Route("/incidents/{id}/log_entries", incident_log_entries, methods=["GET"]),
        Route("/incidents/{id}/alerts", list_alerts, methods=["GET"]),
        Route("/incidents/{id}/alerts", update_alerts, methods=["PUT"]),
        Route("/incidents/{id}/alerts/{alert_id}", get_alert, methods=["GET"]),
        Route("/incidents/{id}/alerts/{alert_id}", update_alert, methods=["PUT"]),
        Route("/log_entries", list_log_entries, methods=["GET"]),
        Route("/log_entries/{id}", get_log_entry, methods=["GET"]),
    ]
