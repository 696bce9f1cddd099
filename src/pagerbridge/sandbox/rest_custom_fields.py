"""REST API v2 incident custom fields: ``/incidents/custom_fields`` and an incident's values.

As PagerDuty's OpenAPI has them: ``GET``/``POST /incidents/custom_fields`` (``include[]=
field_options``), ``GET``/``DELETE /incidents/custom_fields/{field_id}``, and ``GET``/``PUT
/incidents/{id}/custom_fields/values`` (the PUT answers 201, as the document says). A values
update is all or nothing; an unknown field or a value of the wrong type is a 400 (code 2001).
A change publishes ``incident.custom_field_values.updated``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from pagerbridge.sandbox import custom_fields as cf
from pagerbridge.sandbox.rest_common import (
    RestError,
    includes,
    invalid_input,
    principal,
    read_body,
    state_of,
    wrapped,
)
from pagerbridge.sandbox.rest_incidents import find_incident
from pagerbridge.sandbox.state import Resource, SandboxState


def _present(field: Resource, wanted: set[str]) -> Resource:
    """A field as the API shows it: options only with ``include[]=field_options``."""
    out = dict(field)
    if "field_options" not in wanted:
        out.pop("field_options", None)
    return out


def _find_field(state: SandboxState, field_id: str) -> Resource:
    field = state.custom_fields.get(field_id)
    if field is None:
        raise RestError(404, "Not Found", 2100, [f"custom field {field_id} not found"])
    return field


async def list_fields(request: Request) -> Response:
    state = state_of(request)
    wanted = includes(request)
    return JSONResponse({"fields": [_present(f, wanted) for f in state.custom_fields.values()]})


async def get_field(request: Request) -> Response:
    state = state_of(request)
    field = _find_field(state, request.path_params["field_id"])
    return wrapped("field", _present(field, includes(request)))


async def create_field(request: Request) -> Response:
    state = state_of(request)
    body = await read_body(request, "field")
    try:
        field = cf.new_field(state, body)
    except cf.FieldError as exc:
        raise invalid_input(str(exc)) from exc
    state.custom_fields[field["id"]] = field
    return wrapped("field", field, 201)


async def delete_field(request: Request) -> Response:
    state = state_of(request)
    field = _find_field(state, request.path_params["field_id"])
    cf.forget_field(state, field["id"])
    return Response(status_code=204)


async def get_values(request: Request) -> Response:
    state = state_of(request)
    incident = find_incident(state, request.path_params["id"])
    return JSONResponse({"custom_fields": cf.values_of(state, incident["id"])})


async def put_values(request: Request) -> Response:
    state = state_of(request)
    incident = find_incident(state, request.path_params["id"])
    body = await read_body(request)
    if "custom_fields" not in body:
        raise invalid_input("'custom_fields' is required")
    before = {v["id"]: v["value"] for v in cf.values_of(state, incident["id"])}
    try:
        updated = cf.set_values(state, incident["id"], body["custom_fields"])
    except cf.FieldError as exc:
        raise invalid_input(str(exc)) from exc
    changed = [v for v in updated if before.get(v["id"]) != v["value"]]
    if changed:
        _publish(request, state, incident, changed)
    return JSONResponse({"custom_fields": updated}, status_code=201)


def _publish(
    request: Request, state: SandboxState, incident: Resource, changed: list[Resource]
) -> None:
    """``incident.custom_field_values.updated``, with every value and the changed ones."""
    user_id = principal(request).get("user_id")
    email = request.headers.get("from")
    user = state.user_by_email(email) if email else None
    agent_id = user["id"] if user else user_id
    state.publish(
        "incident.custom_field_values.updated",
        {
            "type": "incident_field_values",
            "incident": incident,
            "custom_fields": cf.values_of(state, incident["id"]),
            "changed_custom_fields": changed,
            "service": incident["service"],
            "teams": incident.get("teams", []),
        },
        agent=state.ref("user", agent_id) if agent_id else None,
    )


def routes() -> list[BaseRoute]:
    """Registered before ``/incidents/{id}`` so ``custom_fields`` is not taken for an id."""
    return [
        Route("/incidents/custom_fields", list_fields, methods=["GET"]),
        Route("/incidents/custom_fields", create_field, methods=["POST"]),
        Route("/incidents/custom_fields/{field_id}", get_field, methods=["GET"]),
        Route("/incidents/custom_fields/{field_id}", delete_field, methods=["DELETE"]),
        Route("/incidents/{id}/custom_fields/values", get_values, methods=["GET"]),
        Route("/incidents/{id}/custom_fields/values", put_values, methods=["PUT"]),
    ]
