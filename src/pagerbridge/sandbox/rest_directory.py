"""REST API v2 directory: services, escalation policies, users, teams, priorities, abilities.

Mostly read-only (the seed defines the account); services can be created and updated so a client
can set up its own, and a service's ``status`` can be set to ``disabled``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pagerbridge.sandbox.rest_audit import audit
from pagerbridge.sandbox.rest_common import (
    RestError,
    by_query,
    invalid_input,
    multi,
    page,
    principal,
    read_body,
    ref_id,
    sort_items,
    state_of,
    wrapped,
)
from pagerbridge.sandbox.state import Resource, SandboxState

#: What the sandbox's account can do (``GET /abilities``).
ABILITIES = (
    "teams",
    "read_only_users",
    "urgencies",
    "manage_schedules",
    "manage_api_keys",
    "event_rules",
    "preview_incident_alert_grouping",
    "response_plays",
    "service_support_hours",
)
SERVICE_STATUSES = ("active", "warning", "critical", "maintenance", "disabled")
Getter = Callable[[SandboxState], dict[str, Resource]]


def lister(plural: str, getter: Getter, *query_fields: str) -> Callable[[Request], object]:
    async def handler(request: Request) -> Response:
        state = state_of(request)
        items = by_query(request, getter(state).values(), *query_fields)
        team_ids = set(multi(request, "team_ids"))
        if team_ids:
            items = [i for i in items if team_ids & {t["id"] for t in i.get("teams", [])}]
        items = sort_items(items, request.query_params.get("sort_by"), {"name": _name})
        return page(request, plural, items)

    return handler


def _name(item: Resource) -> str:
    return str(item.get("name", "")).lower()


def getter_route(singular: str, getter: Getter, label: str, code: int) -> Callable[..., object]:
    async def handler(request: Request) -> Response:
        item = getter(state_of(request)).get(request.path_params["id"])
        if item is None:
            raise RestError(404, f"{label} Not Found", code, [])
        return wrapped(singular, item)

    return handler


async def current_user(request: Request) -> Response:
    """``GET /users/me``: only for user-level tokens, as on PagerDuty."""
    user_id = principal(request).get("user_id")
    state = state_of(request)
    if not user_id or user_id not in state.users:
        raise RestError(
            400,
            "Invalid Input Provided",
            2001,
            ["/users/me needs a user-level API token or user OAuth token"],
        )
    return wrapped("user", state.users[user_id])


async def create_service(request: Request) -> Response:
    state = state_of(request)
    body = await read_body(request, "service")
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid_input("'service.name' is required")
    if any(s["name"] == name for s in state.services.values()):
        raise invalid_input("Name already exists")
    policy_id = ref_id(body.get("escalation_policy"), "service.escalation_policy")
    if policy_id not in state.escalation_policies:
        raise RestError(400, "Escalation Policy Not Found", 1014, [])
    sid = state.unique_id(state.services)
    template = next(iter(state.services.values()), {})
    service: Resource = {
        **{
            k: v
            for k, v in template.items()
            if k not in ("teams", "integrations", "last_incident_timestamp")
        },
        "id": sid,
        "type": "service",
        "name": name.strip(),
        "description": str(body.get("description") or ""),
        "status": "active",
        "created_at": state.now_iso(),
        "updated_at": state.now_iso(),
        "escalation_policy": state.ref("escalation_policy", policy_id),
        "teams": [],
        "integrations": [],
    }
    state.services[sid] = state.decorate("service", service, service["name"])
    state.escalation_policies[policy_id]["services"].append(state.ref("service", sid))
    state.publish("service.created", service, agent=_agent(request), service_id=sid)
    audit(request, "create", "service", sid, [{"name": "name", "value": service["name"]}])
    return wrapped("service", service, 201)


async def update_service(request: Request) -> Response:
    state = state_of(request)
    service = state.services.get(request.path_params["id"])
    if service is None:
        raise RestError(404, "Service Not Found", 5002, [])
    body = await read_body(request, "service")
    before = {
        f: service.get(f)
        for f in (
            "name",
            "description",
            "status",
            "acknowledgement_timeout",
            "auto_resolve_timeout",
        )
    }
    if "status" in body:
        if body["status"] not in SERVICE_STATUSES:
            raise invalid_input(f"'service.status' must be one of {', '.join(SERVICE_STATUSES)}")
        service["status"] = body["status"]
    for field in ("name", "description"):
        if field in body:
            if not isinstance(body[field], str):
                raise invalid_input(f"'service.{field}' must be a string")
            service[field] = body[field]
    for field in ("acknowledgement_timeout", "auto_resolve_timeout"):
        if field in body:
            value = body[field]
            if value is not None and (
                not isinstance(value, int) or isinstance(value, bool) or value <= 0
            ):
                raise invalid_input(
                    f"'service.{field}' must be a positive number of seconds or null"
                )
            service[field] = value
    service["summary"] = service["name"]
    service["updated_at"] = state.now_iso()
    changed = [
        {"name": f, "value": str(service[f]), "before_value": str(old)}
        for f, old in before.items()
        if service.get(f) != old
    ]
    audit(request, "update", "service", service["id"], changed)
    state.publish("service.updated", service, agent=_agent(request), service_id=service["id"])
    return wrapped("service", service)


def _agent(request: Request) -> Resource | None:
    user_id = principal(request).get("user_id")
    return state_of(request).ref("user", user_id) if user_id else None


async def abilities(request: Request) -> Response:
    return JSONResponse({"abilities": list(ABILITIES)})


async def ability(request: Request) -> Response:
    if request.path_params["id"] in ABILITIES:
        return Response(status_code=204)
    raise RestError(402, "Account does not have the ability", 2014, [request.path_params["id"]])


def routes() -> list[BaseRoute]:
    def services(s: SandboxState) -> dict[str, Resource]:
        return s.services

    def policies(s: SandboxState) -> dict[str, Resource]:
        return s.escalation_policies

    def users(s: SandboxState) -> dict[str, Resource]:
        return s.users

    def teams(s: SandboxState) -> dict[str, Resource]:
        return s.teams

    def priorities(s: SandboxState) -> dict[str, Resource]:
        return s.priorities

    return [
        Route("/services", lister("services", services, "name"), methods=["GET"]),
        Route("/services", create_service, methods=["POST"]),
        Route(
            "/services/{id}",
            getter_route("service", services, "Service", 5002),
            methods=["GET"],
        ),
        Route("/services/{id}", update_service, methods=["PUT"]),
        Route(
            "/escalation_policies",
            lister("escalation_policies", policies, "name"),
            methods=["GET"],
        ),
        Route(
            "/escalation_policies/{id}",
            getter_route("escalation_policy", policies, "Escalation Policy", 5001),
            methods=["GET"],
        ),
        Route("/users", lister("users", users, "name", "email"), methods=["GET"]),
        Route("/users/me", current_user, methods=["GET"]),
        Route("/users/{id}", getter_route("user", users, "User", 2013), methods=["GET"]),
        Route("/teams", lister("teams", teams, "name"), methods=["GET"]),
        Route("/teams/{id}", getter_route("team", teams, "Team", 6001), methods=["GET"]),
        Route("/priorities", lister("priorities", priorities), methods=["GET"]),
        Route("/abilities", abilities, methods=["GET"]),
        Route("/abilities/{id}", ability, methods=["GET"]),
    ]
