"""REST API v2: webhook subscriptions, maintenance windows, change events.

A subscription's signing secret is returned once, in the create response, and kept in the state
(where the webhook dispatcher reads it); reads show ``secret: null`` and redacted header values.
Events to a service inside a maintenance window open no incident (``events_api``).
"""

from __future__ import annotations

import copy
import secrets
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
from pagerbridge.sandbox.state import Resource, SandboxState, iso, parse_time

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


def _check_subscription(state: SandboxState, body: dict[str, Any], partial: bool) -> None:
    method = body.get("delivery_method")
    if method is not None or not partial:
        if not isinstance(method, dict) or not isinstance(method.get("url"), str):
            raise invalid_input("'delivery_method.url' is required")
        if not method["url"].startswith(("http://", "https://")):
            raise invalid_input("'delivery_method.url' must be an http(s) URL")
    events = body.get("events")
    if events is not None or not partial:
        if not isinstance(events, list) or not events:
            raise invalid_input("'events' must be a non-empty array of event types")
        bad = [e for e in events if not str(e).startswith(WEBHOOK_EVENT_PREFIXES)]
        if bad:
            raise invalid_input(f"unknown event type(s): {', '.join(map(str, bad))}")
    flt = body.get("filter")
    if flt is not None or not partial:
        if not isinstance(flt, dict) or flt.get("type") not in FILTER_TYPES:
            raise invalid_input(f"'filter.type' must be one of {', '.join(FILTER_TYPES)}")
        if flt["type"] == "service_reference" and ref_id(flt, "filter") not in state.services:
            raise RestError(404, "Service Not Found", 5002, [])
        if flt["type"] == "team_reference" and ref_id(flt, "filter") not in state.teams:
            raise RestError(404, "Team Not Found", 6001, [])


async def create_subscription(request: Request) -> Response:
    state = state_of(request)
    body = await read_body(request, "webhook_subscription")
    _check_subscription(state, body, partial=False)
    sid = state.unique_id(state.webhook_subscriptions)
    method = body["delivery_method"]
    sub: Resource = {
        "id": sid,
        "type": "webhook_subscription",
        "active": bool(body.get("active", True)),
        "delivery_method": {
            "id": state.unique_id({}, "D"),
            "type": "http_delivery_method",
            "url": method["url"],
            "custom_headers": [
                {"name": str(h.get("name")), "value": str(h.get("value", ""))}
                for h in method.get("custom_headers") or []
                if isinstance(h, dict)
            ],
            "temporarily_disabled": False,
            "secret": secrets.token_urlsafe(48),
        },
        "description": str(body.get("description") or ""),
        "events": [str(e) for e in body["events"]],
        "filter": {k: v for k, v in body["filter"].items() if k in ("id", "type")},
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
    _check_subscription(state, body, partial=True)
    for field in ("description", "events", "filter", "active"):
        if field in body:
            sub[field] = body[field]
    if "delivery_method" in body:
        sub["delivery_method"]["url"] = body["delivery_method"]["url"]
        if "custom_headers" in body["delivery_method"]:
            sub["delivery_method"]["custom_headers"] = body["delivery_method"]["custom_headers"]
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
    if now < parse_time(window["start_time"]):
        return "future"
    if now >= parse_time(window["end_time"]):
        return "past"
    return "ongoing"


async def create_window(request: Request) -> Response:
    state = state_of(request)
    user_id = requester(request)
    body = await read_body(request, "maintenance_window")
    try:
        start = parse_time(str(body.get("start_time")))
        end = parse_time(str(body.get("end_time")))
    except ValueError as exc:
        raise invalid_input("'start_time' and 'end_time' must be ISO 8601 times") from exc
    if end <= start:
        raise invalid_input("'end_time' must be after 'start_time'")
    service_ids = reference_ids(body.get("services"), "services")
    for sid in service_ids:
        if sid not in state.services:
            raise RestError(404, "Service Not Found", 5002, [f"service {sid} not found"])
    wid = state.unique_id(state.maintenance_windows)
    description = str(body.get("description") or "")
    teams = {t["id"]: t for sid in service_ids for t in state.services[sid].get("teams", [])}
    window: Resource = {
        "id": wid,
        "type": "maintenance_window",
        "sequence_number": len(state.maintenance_windows) + 1,
        "start_time": iso(start),
        "end_time": iso(end),
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
    try:
        start = parse_time(str(body.get("start_time", window["start_time"])))
        end = parse_time(str(body.get("end_time", window["end_time"])))
    except ValueError as exc:
        raise invalid_input("'start_time' and 'end_time' must be ISO 8601 times") from exc
    if end <= start:
        raise invalid_input("'end_time' must be after 'start_time'")
    if "services" in body:
        service_ids = reference_ids(body["services"], "services")
        for sid in service_ids:
            if sid not in state.services:
                raise RestError(404, "Service Not Found", 5002, [f"service {sid} not found"])
        window["services"] = [state.ref("service", sid) for sid in service_ids]
    if "description" in body:
        window["description"] = str(body["description"] or "")
        window["summary"] = window["description"] or f"Maintenance window {window['id']}"
    window["start_time"] = iso(start)
    window["end_time"] = iso(end)
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
        if (since is None or parse_time(e["timestamp"]) >= since)
        and (until is None or parse_time(e["timestamp"]) < until)
    ]
    return page(request, "change_events", items)


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
