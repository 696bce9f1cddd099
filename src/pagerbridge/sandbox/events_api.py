"""Events API v2: ``POST /v2/enqueue`` and ``POST /v2/change/enqueue``, answered like PagerDuty.

Validation is the wire layer's (``event_rules.normalise_event``), so the sandbox and our client
agree on one rule source. Alert semantics (developer docs, ``02-Trigger-Events.md``): a trigger
with a new dedup key opens an alert and an incident; the same key again is deduplicated into the
open alert; acknowledge and resolve act on the open alert's incident; once the alert is resolved,
acknowledge/resolve for that key are dropped and a new trigger opens a new alert.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pagerbridge.errors import EventValidationError
from pagerbridge.pagerduty.event_rules import normalise_event
from pagerbridge.pagerduty.limits import EVENT_MAX_BYTES
from pagerbridge.sandbox.incident_ops import open_incident, refresh_alert_counts, set_status
from pagerbridge.sandbox.runtime import Runtime
from pagerbridge.sandbox.state import Resource, SandboxState, alert_index_key

CHANNEL = {"type": "api", "summary": "Events API v2"}


def invalid(message: str, errors: list[str], status: int = 400) -> JSONResponse:
    return JSONResponse(
        {"status": "invalid event", "message": message, "errors": errors}, status_code=status
    )


def throttled() -> JSONResponse:
    return JSONResponse(
        {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly. Please retry later.",
            "errors": ["Too many requests"],
        },
        status_code=429,
    )


async def read_event(request: Request, change: bool) -> dict[str, Any] | JSONResponse:
    """The validated event, or the 400 PagerDuty would give."""
    body = await request.body()
    if len(body) > EVENT_MAX_BYTES:
        return invalid("Event object is invalid", [f"event is larger than {EVENT_MAX_BYTES} bytes"])
    try:
        data = json.loads(body)
    except ValueError:
        return JSONResponse(
            {
                "status": "Unrecognized object",
                "message": "Event object format is unrecognized",
                "errors": ["JSON parse error"],
            },
            status_code=400,
        )
    try:
        return normalise_event(data, change=change)
    except EventValidationError as exc:
        return invalid("Event object is invalid", exc.errors)


def integration_for(runtime: Runtime, routing_key: str) -> Resource | None:
    state = runtime.state
    integration = state.integrations.get(routing_key)
    if integration is None and runtime.options.any_routing_key and state.services:
        integration = add_service_for_key(state, routing_key)
    return integration


def add_service_for_key(state: SandboxState, routing_key: str) -> Resource:
    """``--any-routing-key``: give an unknown key its own service on the first service's policy."""
    template = next(iter(state.services.values()))  # the caller checked there is one
    sid = state.unique_id(state.services, "PS")
    service = json.loads(json.dumps(template))
    service.update(id=sid, name=f"Service for {routing_key[:8]}", integrations=[])
    state.services[sid] = state.decorate("service", service, service["name"])
    policy = state.escalation_policies.get(service["escalation_policy"]["id"])
    if policy is not None:
        policy["services"].append(state.ref("service", sid))
    iid = state.unique_id({}, "PI")
    integration: Resource = {
        "id": iid,
        "service_id": sid,
        "name": "Events API v2",
        "type": "events_api_v2_inbound_integration",
        "integration_key": routing_key,
    }
    state.integrations[routing_key] = integration
    return integration


async def enqueue(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    event = await read_event(request, change=False)
    if isinstance(event, JSONResponse):
        return event
    routing_key = event["routing_key"]
    if runtime.options.rate_limits and not runtime.events_limit.allow(routing_key):
        return throttled()
    action = event["event_action"]
    integration = integration_for(runtime, routing_key)
    if integration is None:
        return invalid(
            "Event object is invalid",
            ["'routing_key' is invalid (no service integration has this routing key)"],
        )
    dedup_key, outcome = apply_event(runtime.state, event, integration)
    runtime.state.record_arrival(
        routing_key=routing_key,
        dedup_key=dedup_key,
        event_action=action,
        change=False,
        outcome=outcome,
        summary=summary_of(event),
    )
    return accepted(dedup_key)


def summary_of(event: dict[str, Any]) -> str | None:
    """The payload's summary for the arrival record; never fails, whatever the payload is
    (the wire rules refuse a payload that is not an object, and this must not depend on it)."""
    payload = event.get("payload")
    summary = payload.get("summary") if isinstance(payload, dict) else None
    return summary if isinstance(summary, str) else None


def accepted(dedup_key: str) -> JSONResponse:
    return JSONResponse(
        {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
        status_code=202,
    )


async def change_enqueue(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    event = await read_event(request, change=True)
    if isinstance(event, JSONResponse):
        return event
    routing_key = event["routing_key"]
    if runtime.options.rate_limits and not runtime.events_limit.allow(routing_key):
        return throttled()
    integration = integration_for(runtime, routing_key)
    if integration is None:
        return invalid(
            "Event object is invalid",
            ["'routing_key' is invalid (no service integration has this routing key)"],
        )
    state = runtime.state
    payload = event["payload"]
    state.change_events.append(
        {
            "id": state.unique_id({}, "C"),
            "type": "change_event",
            "summary": payload.get("summary"),
            "timestamp": payload.get("timestamp") or state.now_iso(),
            "source": payload.get("source"),
            "custom_details": payload.get("custom_details") or {},
            "links": event.get("links") or [],
            "images": event.get("images") or [],
            "services": [state.ref("service", integration["service_id"])],
            "integration": {"id": integration["id"], "type": "inbound_integration_reference"},
        }
    )
    state.record_arrival(
        routing_key=routing_key,
        dedup_key=None,
        event_action="change",
        change=True,
        outcome="stored",
        summary=payload.get("summary"),
    )
    return JSONResponse({"status": "success", "message": "Change event processed"}, 202)


def apply_event(
    state: SandboxState, event: dict[str, Any], integration: Resource
) -> tuple[str, str]:
    """Apply an alert event to the account; returns (dedup_key, what happened)."""
    service_id = integration["service_id"]
    action = event["event_action"]
    dedup_key = event.get("dedup_key") or uuid.uuid4().hex
    agent = state.ref("service", service_id)
    key = alert_index_key(service_id, dedup_key)
    alert_id = state.open_alerts.get(key)
    alert = state.alerts.get(alert_id) if alert_id else None
    if action == "trigger":
        if state.in_maintenance(service_id) or state.services[service_id]["status"] == "disabled":
            return dedup_key, "suppressed"
        if alert is not None:
            return dedup_key, "deduplicated"
        open_alert(state, event, service_id, dedup_key, agent, integration)
        return dedup_key, "created"
    if alert is None:
        return dedup_key, "dropped"
    incident = state.incidents[alert["incident"]["id"]]
    if action == "acknowledge":
        changed = incident["status"] == "triggered" and set_status(
            state, incident, "acknowledged", agent=agent, channel=CHANNEL
        )
        return dedup_key, "acknowledged" if changed else "unchanged"
    alert["status"] = "resolved"
    alert["resolved_at"] = state.now_iso()
    state.open_alerts.pop(key, None)
    refresh_alert_counts(state, incident)
    if incident["alert_counts"]["triggered"] == 0 and incident["status"] != "resolved":
        set_status(state, incident, "resolved", agent=agent, channel=CHANNEL)
    return dedup_key, "resolved"


def open_alert(
    state: SandboxState,
    event: dict[str, Any],
    service_id: str,
    dedup_key: str,
    agent: Resource,
    integration: Resource,
) -> Resource:
    payload = event["payload"]
    integration_path = f"services/{service_id}/integrations/{integration['id']}"
    incident = open_incident(
        state,
        service_id=service_id,
        title=payload["summary"],
        incident_key=dedup_key,
        agent=agent,
        channel=CHANNEL,
        severity=payload.get("severity"),
    )
    alert_id = state.unique_id(state.alerts, "A")
    alert: Resource = {
        "id": alert_id,
        "type": "alert",
        "created_at": state.now_iso(),
        "status": "triggered",
        "alert_key": dedup_key,
        "service": state.ref("service", service_id),
        "incident": state.ref("incident", incident["id"]),
        "first_trigger_log_entry": incident["first_trigger_log_entry"],
        "suppressed": False,
        "severity": payload.get("severity", "error"),
        "integration": {
            "id": integration["id"],
            "type": "events_api_v2_inbound_integration_reference",
            "summary": integration["name"],
            "self": f"{state.base_url}/{integration_path}",
            "html_url": f"{state.base_url}/#/{integration_path}",
        },
        "body": {
            "type": "alert_body",
            "contexts": contexts(event),
            "details": payload.get("custom_details") or {},
            "cef_details": {
                "message": payload["summary"],
                "severity": payload.get("severity"),
                "source_origin": payload.get("source"),
                "source_component": payload.get("component"),
                "service_group": payload.get("group"),
                "event_class": payload.get("class"),
                # PagerDuty fills it with the time it received the event when none was given.
                "creation_time": payload.get("timestamp") or state.now_iso(),
                "client": event.get("client"),
                "client_url": event.get("client_url"),
                "dedup_key": dedup_key,
            },
        },
    }
    alert["summary"] = payload["summary"]
    alert["self"] = f"{state.base_url}/incidents/{incident['id']}/alerts/{alert_id}"
    alert["html_url"] = f"{state.base_url}/#/alerts/{alert_id}"
    state.alerts[alert_id] = alert
    state.incident_alerts.setdefault(incident["id"], []).append(alert_id)
    state.open_alerts[alert_index_key(service_id, dedup_key)] = alert_id
    refresh_alert_counts(state, incident)
    return alert


def contexts(event: dict[str, Any]) -> list[Resource]:
    """The alert body's ``contexts``: the event's links and images, each with the ``type``
    (``link`` / ``image``) that PagerDuty's ``Context`` schema requires."""
    links = [{**link, "type": "link"} for link in event.get("links") or []]
    images = [{**image, "type": "image"} for image in event.get("images") or []]
    return links + images
