"""REST API v2 incidents: list with filters, get, create, update, bulk update.

Updates go through ``incident_ops`` (the same code the Events API uses), so a status set over REST
writes the same log entries and webhooks as one set by an event.
"""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass
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
    sort_items,
    state_of,
    time_range,
    wrapped,
)
from pagerbridge.sandbox.state import Resource, SandboxState, parse_time

BULK_MAX = 250
#: PagerDuty's answer (400, code 2002) to a create whose ``incident_key`` matches an open
#: incident of the service; a resolved incident's key may be used again.
DUPLICATE_KEY = "Open incident with matching dedup key already exists on this service"
WEB_CHANNEL = {"type": "web_api", "summary": "The PagerDuty REST API"}
URGENCY_ORDER = {"low": 0, "high": 1}
SORTS = {
    "incident_number": lambda i: i["incident_number"],
    "created_at": lambda i: i["created_at"],
    "resolved_at": lambda i: i.get("resolved_at") or "",
    "urgency": lambda i: URGENCY_ORDER.get(i["urgency"], 0),
}


def find_incident(state: SandboxState, incident_id: str) -> Resource:
    """By id, or by incident number (PagerDuty accepts both)."""
    incident = state.incidents.get(incident_id)
    if incident is None and incident_id.isdigit():
        number = int(incident_id)
        incident = next(
            (i for i in state.incidents.values() if i["incident_number"] == number), None
        )
    if incident is None:
        raise RestError(404, "Not Found", 2100, [f"incident {incident_id} not found"])
    return incident


def expand(state: SandboxState, incident: Resource, wanted: set[str]) -> Resource:
    """The incident as the API shows it; ``include[]`` replaces references with full objects.

    ``body`` only with ``include[]=body``, and ``priority``/``resolve_reason`` left out when
    empty, as the OpenAPI document describes them.
    """
    out = copy.deepcopy(incident)
    if "body" not in wanted:
        out.pop("body", None)
    for field in ("priority", "resolve_reason", "conference_bridge"):
        if out.get(field) is None:
            out.pop(field, None)
    if not wanted:
        return out
    if "services" in wanted and out["service"]["id"] in state.services:
        out["service"] = state.services[out["service"]["id"]]
    if "escalation_policies" in wanted:
        out["escalation_policy"] = state.escalation_policies.get(
            out["escalation_policy"]["id"], out["escalation_policy"]
        )
    if "teams" in wanted:
        out["teams"] = [state.teams.get(t["id"], t) for t in out["teams"]]
    if "assignees" in wanted or "users" in wanted:
        for a in out["assignments"]:
            a["assignee"] = state.users.get(a["assignee"]["id"], a["assignee"])
    if "acknowledgers" in wanted or "users" in wanted:
        for a in out["acknowledgements"]:
            who = a["acknowledger"]
            if who.get("type") == "service_reference":
                if "acknowledgers" in wanted:
                    a["acknowledger"] = state.services.get(who["id"], who)
            else:
                a["acknowledger"] = state.users.get(who["id"], who)
    if "first_trigger_log_entries" in wanted and out.get("first_trigger_log_entry"):
        entry = state.log_entries.get(out["first_trigger_log_entry"]["id"])
        if entry is not None:
            out["first_trigger_log_entry"] = entry
    return out


def filtered(request: Request, state: SandboxState) -> list[Resource]:
    statuses = multi(request, "statuses")
    for status in statuses:
        if status not in ops.STATUSES:
            raise invalid_input(f"'statuses[]' has an invalid value {status!r}")
    urgencies = multi(request, "urgencies")
    for urgency in urgencies:
        if urgency not in ops.URGENCIES:
            raise invalid_input(f"'urgencies[]' has an invalid value {urgency!r}")
    service_ids = set(multi(request, "service_ids"))
    team_ids = set(multi(request, "team_ids"))
    user_ids = set(multi(request, "user_ids"))
    key = request.query_params.get("incident_key")
    since, until = time_range(request, max_months=MAX_RANGE_MONTHS)
    out: list[Resource] = []
    for incident in state.incidents.values():
        if statuses and incident["status"] not in statuses:
            continue
        if urgencies and incident["urgency"] not in urgencies:
            continue
        if service_ids and incident["service"]["id"] not in service_ids:
            continue
        if team_ids and not team_ids & {t["id"] for t in incident["teams"]}:
            continue
        if user_ids and not user_ids & {a["assignee"]["id"] for a in incident["assignments"]}:
            continue
        if key is not None and incident.get("incident_key") != key:
            continue
        if since is not None or until is not None:
            created = parse_time(incident["created_at"])
            if (since and created < since) or (until and created >= until):
                continue
        out.append(incident)
    out.sort(key=lambda i: i["incident_number"])
    return sort_items(out, request.query_params.get("sort_by"), SORTS)


async def list_incidents(request: Request) -> Response:
    state = state_of(request)
    wanted = includes(request)
    items = filtered(request, state)
    return page(request, "incidents", items, present=lambda i: expand(state, i, wanted))


async def get_incident(request: Request) -> Response:
    state = state_of(request)
    incident = find_incident(state, request.path_params["id"])
    return wrapped("incident", expand(state, incident, includes(request)))


def _check_ref(state: SandboxState, collection: dict[str, Resource], value: Any, field: str) -> str:
    rid = ref_id(value, field)
    if rid not in collection:
        what = field.replace("_", " ")
        code = {"service": 5002, "escalation_policy": 1014, "priority": 1020}.get(field, 2001)
        raise RestError(
            404 if code == 5002 else 400,
            f"{what.title()} Not Found",
            code,
            [f"{what} {rid} not found"],
        )
    return rid


async def create_incident(request: Request) -> Response:
    state = state_of(request)
    user_id = requester(request)
    body = await read_body(request, "incident")
    if body.get("type") not in ("incident", None):
        raise invalid_input("'incident.type' must be 'incident'")
    title = body.get("title")
    if not isinstance(title, str) or not title.strip():
        raise invalid_input("'incident.title' is required")
    service_id = _check_ref(state, state.services, body.get("service"), "service")
    key = body.get("incident_key")
    if key is not None and not isinstance(key, str):
        raise invalid_input("'incident.incident_key' must be a string")
    if key:
        for other in state.incidents.values():
            if (
                other["service"]["id"] == service_id
                and other.get("incident_key") == key
                and other["status"] != "resolved"
            ):
                raise RestError(400, "Arguments Caused Error", 2002, [DUPLICATE_KEY])
    urgency = body.get("urgency")
    if urgency is not None and urgency not in ops.URGENCIES:
        raise invalid_input("'incident.urgency' must be high or low")
    if body.get("escalation_policy") and body.get("assignments"):
        raise invalid_input("give either 'assignments' or 'escalation_policy', not both")
    policy_id = (
        _check_ref(state, state.escalation_policies, body["escalation_policy"], "escalation_policy")
        if body.get("escalation_policy")
        else None
    )
    assignees = _assignees(state, body["assignments"]) if body.get("assignments") else None
    priority_id = (
        _check_ref(state, state.priorities, body["priority"], "priority")
        if body.get("priority")
        else None
    )
    details = (
        (body.get("body") or {}).get("details") if isinstance(body.get("body"), dict) else None
    )
    incident = ops.open_incident(
        state,
        service_id=service_id,
        title=title.strip(),
        incident_key=key or uuid.uuid4().hex,
        agent=state.ref("user", user_id) if user_id else None,
        channel=WEB_CHANNEL,
        urgency=urgency,
        details=details if isinstance(details, str) else None,
        escalation_policy_id=policy_id,
        assignee_ids=assignees,
        priority_id=priority_id,
    )
    return wrapped("incident", expand(state, incident, set()), 201)


def _assignees(state: SandboxState, value: Any) -> list[str]:
    if not isinstance(value, list) or not value:
        raise invalid_input("'assignments' must be a non-empty array")
    ids: list[str] = []
    for item in value:
        assignee = item.get("assignee") if isinstance(item, dict) else None
        uid = ref_id(assignee, "assignments[].assignee")
        if uid not in state.users:
            raise RestError(400, "Assigned To User Not Found", 1007, [f"no user {uid}"])
        ids.append(uid)
    return ids


UPDATABLE = {
    "id", "type", "status", "resolution", "title", "priority", "escalation_level",
    "assignments", "escalation_policy", "urgency", "conference_bridge", "summary",
    "self", "html_url",
}  # fmt: skip


@dataclass
class Update:
    """A checked incident update: every value valid, so applying it cannot fail halfway."""

    title: str | None = None
    urgency: str | None = None
    priority: tuple[str | None] | None = None  # (id or None to clear), or None: unchanged
    policy_id: str | None = None
    level: int | None = None
    assignees: list[str] | None = None
    bridge: tuple[Resource | None] | None = None
    status: str | None = None
    resolution: str | None = None


def check_update(state: SandboxState, incident: Resource, changes: dict[str, Any]) -> Update:
    """Validate one incident update body; raises ``RestError`` before anything changes."""
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise invalid_input(f"unknown incident field(s): {', '.join(unknown)}")
    update = Update()
    if "title" in changes:
        if not isinstance(changes["title"], str) or not changes["title"].strip():
            raise invalid_input("'title' must be a non-empty string")
        update.title = changes["title"].strip()
    if "urgency" in changes:
        if changes["urgency"] not in ops.URGENCIES:
            raise invalid_input("'urgency' must be high or low")
        update.urgency = changes["urgency"]
    if "priority" in changes:
        priority = changes["priority"]
        pid = (
            None if priority is None else _check_ref(state, state.priorities, priority, "priority")
        )
        update.priority = (pid,)
    if changes.get("escalation_policy"):
        update.policy_id = _check_ref(
            state, state.escalation_policies, changes["escalation_policy"], "escalation_policy"
        )
    if changes.get("escalation_level") is not None:
        level = changes["escalation_level"]
        if not isinstance(level, int) or isinstance(level, bool):
            raise invalid_input("'escalation_level' must be an integer")
        policy = state.escalation_policies[update.policy_id or incident["escalation_policy"]["id"]]
        if not 1 <= level <= len(policy["escalation_rules"]):
            raise RestError(
                400,
                "Cannot Escalate",
                1006,
                [f"escalation_level must be between 1 and {len(policy['escalation_rules'])}"],
            )
        update.level = level
    if changes.get("assignments"):
        update.assignees = _assignees(state, changes["assignments"])
    if "conference_bridge" in changes:
        update.bridge = (_check_bridge(changes["conference_bridge"]),)
    if "status" in changes:
        status = changes["status"]
        if status not in ops.STATUSES:
            raise RestError(400, "Invalid Status Provided", 1003, [f"status {status!r}"])
        if status == "acknowledged" and incident["status"] == "resolved":
            raise RestError(400, "Incident Already Resolved", 1001, [])
        update.status = status
        resolution = changes.get("resolution")
        update.resolution = resolution if isinstance(resolution, str) else None
    return update


BRIDGE_FIELDS = ("conference_number", "conference_url")


def _check_bridge(bridge: Any) -> Resource | None:
    """PagerDuty's ``ConferenceBridge``: an object of two strings (or null to remove it)."""
    if bridge is None:
        return None
    if not isinstance(bridge, dict):
        raise invalid_input("'conference_bridge' must be an object")
    unknown = sorted(set(bridge) - set(BRIDGE_FIELDS))
    if unknown:
        raise invalid_input(f"unknown conference_bridge field(s): {', '.join(unknown)}")
    for field in BRIDGE_FIELDS:
        if field in bridge and not isinstance(bridge[field], str):
            raise invalid_input(f"'conference_bridge.{field}' must be a string")
    return {field: bridge[field] for field in BRIDGE_FIELDS if field in bridge}


def apply_update(
    state: SandboxState, incident: Resource, update: Update, user_id: str | None
) -> None:
    """Apply a checked update (title, urgency, priority, policy, level, assignees, status)."""
    agent = state.ref("user", user_id) if user_id else None
    channel = WEB_CHANNEL
    if update.title is not None:
        incident["title"] = update.title
        incident["summary"] = f"[#{incident['incident_number']}] {update.title}"
    if update.urgency is not None:
        ops.set_urgency(state, incident, update.urgency, agent=agent, channel=channel)
    if update.priority is not None:
        ops.set_priority(state, incident, update.priority[0], agent=agent)
    if update.policy_id is not None:
        ops.set_escalation_policy(state, incident, update.policy_id, agent=agent, channel=channel)
    if update.level is not None:
        ops.escalate(state, incident, update.level, agent=agent, channel=channel)
    if update.assignees is not None:
        ops.reassign(state, incident, update.assignees, agent=agent, channel=channel)
    if update.bridge is not None:
        incident["conference_bridge"] = update.bridge[0]
        state.publish("incident.conference_bridge.updated", incident, agent=agent)
    if update.status is not None:
        ops.set_status(
            state, incident, update.status, agent=agent, channel=channel,
            resolution=update.resolution,
        )  # fmt: skip
    incident["updated_at"] = state.now_iso()


async def update_incident(request: Request) -> Response:
    state = state_of(request)
    user_id = requester(request)
    incident = find_incident(state, request.path_params["id"])
    changes = await read_body(request, "incident")
    apply_update(state, incident, check_update(state, incident, changes), user_id)
    return wrapped("incident", expand(state, incident, set()))


async def bulk_update(request: Request) -> Response:
    state = state_of(request)
    user_id = requester(request)
    body = await read_body(request)
    items = body.get("incidents")
    if not isinstance(items, list) or not items:
        raise invalid_input("'incidents' must be a non-empty array")
    if len(items) > BULK_MAX:
        raise invalid_input(f"at most {BULK_MAX} incidents per request")
    targets: list[tuple[Resource, Update]] = []
    for index, item in enumerate(items):
        incident = find_incident(state, ref_id(item, f"incidents[{index}]"))
        targets.append((incident, check_update(state, incident, item)))
    for incident, update in targets:  # every item checked first: all or nothing
        apply_update(state, incident, update, user_id)
    return JSONResponse({"incidents": [expand(state, i, set()) for i, _ in targets]})


def routes() -> list[BaseRoute]:
    from pagerbridge.sandbox import rest_incident_parts

    return [
        Route("/incidents", list_incidents, methods=["GET"]),
        Route("/incidents", create_incident, methods=["POST"]),
        Route("/incidents", bulk_update, methods=["PUT"]),
        Route("/incidents/{id}", get_incident, methods=["GET"]),
        Route("/incidents/{id}", update_incident, methods=["PUT"]),
        *rest_incident_parts.routes(),
    ]


__all__ = ["apply_update", "check_update", "expand", "find_incident", "routes"]
