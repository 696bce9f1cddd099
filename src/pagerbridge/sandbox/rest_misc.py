"""REST API v2: webhook subscriptions, maintenance windows, change events.

A subscription's signing secret is returned once, in the create response, and kept in the state
(where the webhook dispatcher reads it); reads show ``secret: null`` and redacted header values.
Events to a service inside a maintenance window open no incident (``events_api``).
"""

from __future__ import annotations

import copy
import secrets
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from pagerbridge.sandbox.rest_common import (
    RestError,
    invalid_input,
    multi,
    page,
    read_body,
    ref_id,
    reference_ids,
    requester,
    state_of,
    time_range,
    wrapped,
)
from pagerbridge.sandbox.state import Resource, SandboxState, iso, parse_time, stored_time

FILTER_TYPES = ("account_reference", "service_reference", "team_reference")
WEBHOOK_EVENT_PREFIXES = ("incident.", "service.")
REDACTED = "redacted"


def _public_subscription(sub: Resource) -> Resource:
    out = copy.deepcopy(sub)
    method = out["delivery_method"]
    method["secret"] = None
    method.pop("secrets", None)
    for header in method.get("custom_headers") or []:
        header["value"] = REDACTED
    return out


def _find_subscription(state: SandboxState, sid: str) -> Resource:
    sub = state.webhook_subscriptions.get(sid)
    if sub is None:
        raise RestError(404, "Webhook Not Found", 5001, [])
    return sub


def _text(value: Any, field: str) -> str:
    """A string without control characters (they cannot go into a URL or an HTTP header)."""
    if not isinstance(value, str):
        raise invalid_input(f"'{field}' must be a string")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise invalid_input(f"'{field}' must not contain control characters")
    return value


def _check_headers(value: Any) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_input("'delivery_method.custom_headers' must be an array")
    headers = []
    for index, header in enumerate(value):
        where = f"delivery_method.custom_headers[{index}]"
        if not isinstance(header, dict):
            raise invalid_input(f"'{where}' must be an object with 'name' and 'value'")
        name = _text(header.get("name"), f"{where}.name")
        if not name.strip():
            raise invalid_input(f"'{where}.name' must not be blank")
        headers.append({"name": name, "value": _text(header.get("value", ""), f"{where}.value")})
    return headers


def _check_method(value: Any, partial: bool) -> dict[str, Any]:
    """The ``delivery_method`` fields a request may set: ``url`` and ``custom_headers``."""
    if not isinstance(value, dict):
        raise invalid_input("'delivery_method' must be an object with a 'url'")
    if value.get("type", "http_delivery_method") != "http_delivery_method":
        raise invalid_input("'delivery_method.type' must be http_delivery_method")
    method: dict[str, Any] = {}
    if "url" in value or not partial:
        url = _text(value.get("url"), "delivery_method.url")
        if not url.startswith(("http://", "https://")):
            raise invalid_input("'delivery_method.url' must be an http(s) URL")
        method["url"] = url
    if "custom_headers" in value or not partial:
        method["custom_headers"] = _check_headers(value.get("custom_headers"))
    return method


def _check_filter(state: SandboxState, flt: Any) -> dict[str, str]:
    if not isinstance(flt, dict) or flt.get("type") not in FILTER_TYPES:
        raise invalid_input(f"'filter.type' must be one of {', '.join(FILTER_TYPES)}")
    if flt["type"] == "account_reference":
        return {"type": "account_reference"}
    fid = ref_id(flt, "filter")
    if flt["type"] == "service_reference" and fid not in state.services:
        raise RestError(404, "Service Not Found", 5002, [])
    if flt["type"] == "team_reference" and fid not in state.teams:
        raise RestError(404, "Team Not Found", 6001, [])
    return {"id": fid, "type": flt["type"]}


def _check_subscription(state: SandboxState, body: dict[str, Any], partial: bool) -> dict[str, Any]:
    """The checked fields of a create (``partial=False``) or update body, in stored form.

    Creates and updates go through the same checks, so nothing an update stores can break a
    later read: ``events`` a non-empty list of known event types (duplicates dropped),
    ``filter`` a known reference, ``description`` a string, ``active`` a boolean.
    """
    if body.get("type", "webhook_subscription") != "webhook_subscription":
        raise invalid_input("'type' must be webhook_subscription")
    fields: dict[str, Any] = {}
    if "delivery_method" in body or not partial:
        fields["delivery_method"] = _check_method(body.get("delivery_method"), partial)
    if "events" in body or not partial:
        events = body.get("events")
        if not isinstance(events, list) or not events:
            raise invalid_input("'events' must be a non-empty array of event types")
        bad = [
            e for e in events if not isinstance(e, str) or not e.startswith(WEBHOOK_EVENT_PREFIXES)
        ]
        if bad:
            raise invalid_input(f"unknown event type(s): {', '.join(map(repr, bad))}")
        fields["events"] = list(dict.fromkeys(events))
    if "filter" in body or not partial:
        fields["filter"] = _check_filter(state, body.get("filter"))
    if "description" in body or not partial:
        description = body.get("description")
        if description is not None and not isinstance(description, str):
            raise invalid_input("'description' must be a string")
        fields["description"] = description or ""
    if "active" in body or not partial:
        active = body.get("active", True)
        if not isinstance(active, bool):
            raise invalid_input("'active' must be true or false")
        fields["active"] = active
    return fields


async def create_subscription(request: Request) -> Response:
    state = state_of(request)
    body = await read_body(request, "webhook_subscription")
    fields = _check_subscription(state, body, partial=False)
    sid = state.unique_id(state.webhook_subscriptions)
    sub: Resource = {
        "id": sid,
        "type": "webhook_subscription",
        "active": fields["active"],
        "delivery_method": {
            "id": state.unique_id({}, "D"),
            "type": "http_delivery_method",
            **fields["delivery_method"],
            "temporarily_disabled": False,
            "secret": secrets.token_urlsafe(48),
        },
        "description": fields["description"],
        "events": fields["events"],
        "filter": fields["filter"],
    }
    state.webhook_subscriptions[sid] = sub
    return wrapped("webhook_subscription", copy.deepcopy(sub))


async def list_subscriptions(request: Request) -> Response:
    state = state_of(request)
    wanted_type = request.query_params.get("filter_type")
    wanted_id = request.query_params.get("filter_id")
    items = [
        _public_subscription(s)
        for s in state.webhook_subscriptions.values()
        if (not wanted_type or s["filter"]["type"] == wanted_type)
        and (not wanted_id or s["filter"].get("id") == wanted_id)
    ]
    return page(request, "webhook_subscriptions", items)


async def get_subscription(request: Request) -> Response:
    sub = _find_subscription(state_of(request), request.path_params["id"])
    return wrapped("webhook_subscription", _public_subscription(sub))


async def update_subscription(request: Request) -> Response:
    state = state_of(request)
    sub = _find_subscription(state, request.path_params["id"])
    body = await read_body(request, "webhook_subscription")
    fields = _check_subscription(state, body, partial=True)
    sub["delivery_method"].update(fields.pop("delivery_method", {}))
    sub.update(fields)
    return wrapped("webhook_subscription", _public_subscription(sub))


async def delete_subscription(request: Request) -> Response:
    state = state_of(request)
    _find_subscription(state, request.path_params["id"])
    del state.webhook_subscriptions[request.path_params["id"]]
    return Response(status_code=204)


async def ping_subscription(request: Request) -> Response:
    """Send ``pagey.ping`` to the subscription's URL; PagerDuty answers 202 with no body."""
    sid = request.path_params["id"]
    _find_subscription(state_of(request), sid)
    dispatcher = getattr(request.app.state, "webhooks", None)
    if dispatcher is not None and dispatcher.ping(sid) is None:
        raise RestError(404, "Webhook Not Found", 5001, [])
    return Response(status_code=202)


async def enable_subscription(request: Request) -> Response:
    state = state_of(request)
    sub = _find_subscription(state, request.path_params["id"])
    dispatcher = getattr(request.app.state, "webhooks", None)
    if dispatcher is not None:
        dispatcher.enable(sub["id"])
    sub["active"] = True
    sub["delivery_method"]["temporarily_disabled"] = False
    return wrapped("webhook_subscription", _public_subscription(sub))


def _window_state(window: Resource, state: SandboxState) -> str:
    now = state.now()
    start = stored_time(window.get("start_time"))
    end = stored_time(window.get("end_time"))
    if start is not None and now < start:
        return "future"
    if end is None or now >= end:
        return "past"  # a window the sandbox cannot read is over (it suppresses nothing)
    return "ongoing"


def _window_time(body: dict[str, Any], field: str) -> datetime:
    try:
        return parse_time(body.get(field))
    except ValueError as exc:
        raise invalid_input(
            f"'{field}' must be an ISO 8601 date-time such as 2015-11-09T20:00:00-05:00"
        ) from exc


def _window_times(
    state: SandboxState, body: dict[str, Any], window: Resource | None
) -> tuple[str, str]:
    """Checked ``start_time`` and ``end_time`` (RFC 3339, UTC) for a create or an update.

    As PagerDuty's ``MaintenanceWindow`` says: the end must be in the future and after the
    start, and a start in the past becomes the current time.
    """
    now = state.now()
    if window is None or "start_time" in body:
        start = max(_window_time(body, "start_time"), now)
    else:
        start = stored_time(window["start_time"]) or now
    end = _window_time(body, "end_time") if window is None or "end_time" in body else None
    if end is None:
        end = stored_time(window["end_time"]) if window is not None else None
    if end is None or end <= now:
        raise invalid_input("'end_time' must be in the future")
    if end <= start:
        raise invalid_input("'end_time' must be after 'start_time'")
    return iso(start), iso(end)


def _window_description(body: dict[str, Any]) -> str:
    description = body.get("description")
    if description is not None and not isinstance(description, str):
        raise invalid_input("'description' must be a string")
    return description or ""


async def create_window(request: Request) -> Response:
    state = state_of(request)
    user_id = requester(request)
    body = await read_body(request, "maintenance_window")
    start, end = _window_times(state, body, None)
    service_ids = reference_ids(body.get("services"), "services")
    for sid in service_ids:
        if sid not in state.services:
            raise RestError(404, "Service Not Found", 5002, [f"service {sid} not found"])
    wid = state.unique_id(state.maintenance_windows)
    description = _window_description(body)
    teams = {t["id"]: t for sid in service_ids for t in state.services[sid].get("teams", [])}
    window: Resource = {
        "id": wid,
        "type": "maintenance_window",
        "sequence_number": len(state.maintenance_windows) + 1,
        "start_time": start,
        "end_time": end,
        "description": description,
        "created_by": state.ref("user", user_id) if user_id else None,
        "services": [state.ref("service", sid) for sid in service_ids],
        "teams": list(teams.values()),
    }
    state.maintenance_windows[wid] = state.decorate(
        "maintenance_window", window, description or f"Maintenance window {wid}"
    )
    return wrapped("maintenance_window", window, 201)


async def update_window(request: Request) -> Response:
    """Change times, description or services; a window that has ended cannot change."""
    state = state_of(request)
    window = _find_window(state, request.path_params["id"])
    if _window_state(window, state) == "past":
        raise invalid_input("a maintenance window in the past cannot be updated")
    body = await read_body(request, "maintenance_window")
    start, end = _window_times(state, body, window)
    description = _window_description(body) if "description" in body else None
    service_ids = reference_ids(body["services"], "services") if "services" in body else None
    for sid in service_ids or []:
        if sid not in state.services:
            raise RestError(404, "Service Not Found", 5002, [f"service {sid} not found"])
    # Everything checked: from here on nothing can fail halfway.
    if service_ids is not None:
        window["services"] = [state.ref("service", sid) for sid in service_ids]
    if description is not None:
        window["description"] = description
        window["summary"] = description or f"Maintenance window {window['id']}"
    window["start_time"] = start
    window["end_time"] = end
    return wrapped("maintenance_window", window)


async def list_windows(request: Request) -> Response:
    state = state_of(request)
    service_ids = set(multi(request, "service_ids"))
    wanted = request.query_params.get("filter")
    if wanted not in (None, "past", "future", "ongoing", "open", "all"):
        raise invalid_input("'filter' must be past, future, ongoing, open or all")
    items = []
    for window in state.maintenance_windows.values():
        when = _window_state(window, state)
        if wanted in ("past", "future", "ongoing") and when != wanted:
            continue
        if wanted == "open" and when == "past":
            continue
        if service_ids and not service_ids & {s["id"] for s in window["services"]}:
            continue
        items.append(window)
    return page(request, "maintenance_windows", items)


def _find_window(state: SandboxState, wid: str) -> Resource:
    window = state.maintenance_windows.get(wid)
    if window is None:
        raise RestError(404, "Maintenance Window Not Found", 5001, [])
    return window


async def get_window(request: Request) -> Response:
    return wrapped("maintenance_window", _find_window(state_of(request), request.path_params["id"]))


async def delete_window(request: Request) -> Response:
    """Ends an ongoing window now, deletes a future one; a past one cannot be cancelled."""
    state = state_of(request)
    window = _find_window(state, request.path_params["id"])
    when = _window_state(window, state)
    if when == "past":
        raise RestError(400, "Cannot cancel a maintenance window from the past", 5003, [])
    if when == "ongoing":
        window["end_time"] = state.now_iso()
    else:
        del state.maintenance_windows[window["id"]]
    return Response(status_code=204)


async def list_change_events(request: Request) -> Response:
    state = state_of(request)
    since, until = time_range(request, default_days=None)
    items = [
        e
        for e in state.change_events
        if (since is None and until is None) or _between(e.get("timestamp"), since, until)
    ]
    return page(request, "change_events", items)


def _between(stamp: Any, since: datetime | None, until: datetime | None) -> bool:
    """A change event's own timestamp (any ISO 8601 text the sender gave) within the range."""
    moment = stored_time(stamp)
    if moment is None:
        return False
    return (since is None or moment >= since) and (until is None or moment < until)


def routes() -> list[BaseRoute]:
    sub = "/webhook_subscriptions/{id}"
    return [
        Route("/webhook_subscriptions", create_subscription, methods=["POST"]),
        Route("/webhook_subscriptions", list_subscriptions, methods=["GET"]),
        Route(sub, get_subscription, methods=["GET"]),
        Route(sub, update_subscription, methods=["PUT"]),
        Route(sub, delete_subscription, methods=["DELETE"]),
        Route(sub + "/enable", enable_subscription, methods=["POST"]),
        Route(sub + "/ping", ping_subscription, methods=["POST"]),
        Route("/maintenance_windows", create_window, methods=["POST"]),
        Route("/maintenance_windows", list_windows, methods=["GET"]),
        Route("/maintenance_windows/{id}", get_window, methods=["GET"]),
        Route("/maintenance_windows/{id}", update_window, methods=["PUT"]),
        Route("/maintenance_windows/{id}", delete_window, methods=["DELETE"]),
        Route("/change_events", list_change_events, methods=["GET"]),
    ]
