"""The hub's OpenAPI document, generated from the routes that serve: nothing is declared twice.

Why: the hottest routes are plain Starlette routes (:mod:`pagerbridge.server.hot`), which FastAPI
does not describe; they used to have FastAPI twins that never ran and existed only for this
document, so every change had to be made twice. Now a plain route carries its own
:class:`Operation` (built from the pydantic models it validates with and answers in), and
:func:`document` adds those operations to what FastAPI generates for its own routes. It also
declares the bearer-token scheme (Swagger UI's Authorize button; ``/health`` needs none) and the
JSON value schema that custom fields refer to.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import Route

from pagerbridge.incidents import schemas
from pagerbridge.server.routes import served

BEARER: Final = "bearerAuth"
SECURITY_SCHEME: Final = {
    "type": "http",
    "scheme": "bearer",
    "description": "An API token: `im token create NAME` prints one (`pbt_...`); "
    "send it as `Authorization: Bearer <token>`",
}
#: Paths anyone may call without a token.
#: Paths served without an API token: the probe, and PagerDuty's two ways in (a connector's
#: signed webhooks; the OAuth redirect, tied to its grant by ``state``).
OPEN_PATHS: Final = frozenset(
    {"/health", "/connectors/{name}/webhook", "/connectors/{name}/oauth/callback"}
)
_REF_TEMPLATE: Final = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Operation:
    """What a plain route's OpenAPI operation says; ``body`` and ``response`` are the very models
    the route validates with and answers in."""

    summary: str
    response: type[BaseModel]
    tags: tuple[str, ...] = ()
    body: type[BaseModel] | None = None
    body_required: bool = True
    body_description: str = ""
    status: int = 200
    parameters: tuple[dict[str, Any], ...] = ()
    errors: dict[int, str] = field(default_factory=dict)
    operation_id: str = ""


class DocumentedRoute(Route):
    """A plain Starlette route (one method) that describes itself for the OpenAPI document."""

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, method: str, operation: Operation
    ) -> None:
        super().__init__(path, endpoint, methods=[method])
        self.method = method.lower()
        self.operation = operation


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF_TEMPLATE.format(model=model.__name__)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def operation_object(route: DocumentedRoute) -> dict[str, Any]:
    """The OpenAPI operation object of ``route``."""
    op = route.operation
    out: dict[str, Any] = {
        "tags": list(op.tags),
        "summary": op.summary,
        "operationId": op.operation_id or f"{route.name}_{route.method}",
        "parameters": list(op.parameters),
    }
    if op.body is not None:
        out["requestBody"] = {
            "required": op.body_required,
            "description": op.body_description,
            "content": _json(_ref(op.body)),
        }
    responses: dict[str, Any] = {
        str(op.status): {"description": "Successful Response", "content": _json(_ref(op.response))}
    }
    for status, description in sorted(op.errors.items()):
        responses[str(status)] = {
            "description": description,
            "content": _json(_ref(schemas.ErrorOut)),
        }
    out["responses"] = responses
    return out


def _definitions(routes: Sequence[DocumentedRoute]) -> dict[str, Any]:
    """JSON Schemas of the models the plain routes name, as FastAPI would write them."""
    models: list[tuple[type[BaseModel], Any]] = []
    for route in routes:
        op = route.operation
        if op.body is not None:
            models.append((op.body, "validation"))
        models.append((op.response, "serialization"))
        if op.errors:
            models.append((schemas.ErrorOut, "serialization"))
    if not models:
        return {}
    _, found = models_json_schema(list(dict.fromkeys(models)), ref_template=_REF_TEMPLATE)
    return dict(found.get("$defs", {}))


def documented_routes(app: FastAPI) -> list[DocumentedRoute]:
    return [s.route for s in served(app.routes) if isinstance(s.route, DocumentedRoute)]


def document(app: FastAPI, generate: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """FastAPI's document (``generate()``) plus the plain routes' operations, bearer auth and the
    shared JSON value schema. Raises if a plain route's path and method are already described.

    A model FastAPI has described already keeps FastAPI's text (it leaves out the defaults of
    response fields); every model is a class of :mod:`pagerbridge.incidents.schemas`, so one name
    is one model."""
    doc = generate()
    routes = documented_routes(app)
    paths: dict[str, Any] = doc.setdefault("paths", {})
    for route in routes:
        methods = paths.setdefault(route.path, {})
        if route.method in methods:
            raise RuntimeError(f"{route.method.upper()} {route.path} is declared twice")
        methods[route.method] = operation_object(route)
    components: dict[str, Any] = doc.setdefault("components", {})
    known: dict[str, Any] = components.setdefault("schemas", {})
    extra = {**_definitions(routes), schemas.JSON_VALUE: schemas.JSON_VALUE_SCHEMA}
    for name, schema in extra.items():
        known.setdefault(name, schema)
    components["schemas"] = dict(sorted(known.items()))
    components["securitySchemes"] = {BEARER: SECURITY_SCHEME}
    doc["security"] = [{BEARER: []}]
    for path in OPEN_PATHS:
        for operation in paths.get(path, {}).values():
            operation["security"] = []
    return doc


def install(app: FastAPI) -> None:
    """Serve :func:`document` at ``app.openapi_url`` (built once, on first request)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app, generate)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
