"""Plain Starlette endpoints for the hub's hottest routes: ``POST /incidents/{ref}/{action}``.

Why: with the state change itself in SQLAlchemy Core, FastAPI's per-request machinery (dependency
solving, body field validation, the endpoint thread hop through its telemetry wrapper) cost more
CPU than the change (py-spy on bench/bench_api_incidents.py; docs/benchmarks.md), and DESIGN
allows plain routes on the hottest endpoints when measurement says so.

Each route is declared once, here: it carries its own OpenAPI operation
(:class:`~pagerbridge.server.openapi.Operation`), built from the models it validates with
(:class:`~pagerbridge.incidents.schemas.TransitionIn`) and answers in
(:class:`~pagerbridge.incidents.schemas.IncidentAnswer`). It behaves like the FastAPI routes: the
same token check, the same ``From`` actor, the same 422 messages (validation errors are raised as
FastAPI's ``RequestValidationError``, so one handler formats them), ``Commands`` in one worker
thread, and the same body rules (:class:`~pagerbridge.server.guard.BodyGuard` is in front of all).
"""

from __future__ import annotations

import functools
from typing import Any, Final

import anyio
import anyio.to_thread
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from pagerbridge.incidents import schemas
from pagerbridge.incidents.commands import Commands
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.schemas import TransitionIn
from pagerbridge.incidents.views import ERRORS, FROM_HEADER, REF_PARAMETER, actor_for
from pagerbridge.server.auth import principal_of
from pagerbridge.server.guard import BodyRefused, is_json, strict_loads
from pagerbridge.server.openapi import DocumentedRoute, Operation

#: action -> the summary of its operation.
ACTIONS: Final = {
    "ack": "Acknowledge (open → mitigated)",
    "resolve": "Resolve (open/mitigated → resolved)",
    "close": "Close (resolved → closed)",
    "reopen": "Reopen (resolved/closed → open)",
}


async def transition_body(request: Request) -> TransitionIn:
    """The optional JSON body, validated exactly as FastAPI validates ``TransitionIn | None``."""
    raw = await request.body()
    if not raw:
        return TransitionIn()
    data: Any = raw
    if is_json(request.headers.get("content-type")):
        try:
            data = strict_loads(raw)
        except BodyRefused as refused:  # only without the guard in front (it refuses first)
            raise InvalidInputError(refused.message) from None
    if data is None:
        return TransitionIn()
    try:
        return TransitionIn.model_validate(data, from_attributes=True)  # as FastAPI does
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors, body=data) from None


class _Limiter:
    """At most ``size`` state changes run at once per process, so they never need more database
    connections than the pool keeps open (an overflow connection costs a PostgreSQL backend fork
    and is closed again after one request); more requests wait here, on the event loop.
    Created on first use, inside the running event loop."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._limiter: anyio.CapacityLimiter | None = None

    def get(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.size)
        return self._limiter


def _transition_endpoint(action: str, limiter: _Limiter) -> Any:
    async def endpoint(request: Request) -> Response:
        principal = await principal_of(request)
        body = await transition_body(request)
        cmds = Commands(
            request.app.state.sessions,
            actor=actor_for(principal, request.headers.get("from")),
            origin="api",
            listener=request.app.state.listener,
        )
        call = functools.partial(
            cmds.transition,
            request.path_params["ref"],
            action,
            note=body.note,
            expected_version=body.expected_version,
        )
        return JSONResponse(await anyio.to_thread.run_sync(call, limiter=limiter.get()))

    endpoint.__name__ = f"{action}_incident"
    return endpoint


def operation(action: str) -> Operation:
    """The OpenAPI operation of ``POST /incidents/{ref}/<action>``."""
    return Operation(
        summary=ACTIONS[action],
        tags=("incidents",),
        operation_id=f"{action}_incident",
        parameters=(REF_PARAMETER, FROM_HEADER),
        body=TransitionIn,
        body_required=False,
        body_description="Optional; an empty body, `null` and `{}` are the same",
        response=schemas.IncidentAnswer,
        errors={int(status): str(spec["description"]) for status, spec in ERRORS.items()},
    )


def routes(prefix: str, *, concurrency: int) -> list[BaseRoute]:
    """The plain routes (before the FastAPI routes, so they match first); at most
    ``concurrency`` of their state changes run at once (the size of the database pool)."""
    limiter = _Limiter(concurrency)
    return [
        DocumentedRoute(
            f"{prefix}/incidents/{{ref}}/{action}",
            _transition_endpoint(action, limiter),
            method="POST",
            operation=operation(action),
        )
        for action in ACTIONS
    ]
