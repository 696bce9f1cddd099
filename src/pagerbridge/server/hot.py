"""Plain Starlette endpoints for the hub's hottest routes: ``POST /incidents/{ref}/{action}``.

Why: with the state change itself in SQLAlchemy Core, FastAPI's per-request machinery (dependency
solving, body field validation, the endpoint thread hop through its telemetry wrapper) cost more
CPU than the change (py-spy on bench/bench_api_incidents.py; docs/benchmarks.md), and DESIGN
allows plain routes on the hottest endpoints when measurement says so.

These routes sit in front of the FastAPI ones, which stay declared so the OpenAPI document keeps
describing them. Behaviour is the same: the same token check, the same ``From`` actor, the same
body model (:class:`~pagerbridge.incidents.schemas.TransitionIn`) with the same 422 messages (errors
are raised as FastAPI's ``RequestValidationError``, so one handler formats them), the same
``Commands.transition`` in one worker thread, and the same body rules
(:class:`~pagerbridge.server.guard.BodyGuard` sits in front of both).
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
from starlette.routing import BaseRoute, Route

from pagerbridge.incidents.commands import Commands
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.schemas import TransitionIn
from pagerbridge.incidents.views import actor_for
from pagerbridge.server.auth import principal_of
from pagerbridge.server.guard import BodyRefused, is_json, strict_loads

ACTIONS: Final = ("ack", "resolve", "close", "reopen")


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


def routes(prefix: str, *, concurrency: int) -> list[BaseRoute]:
    """The plain routes, to put before the FastAPI routes of the same paths; at most
    ``concurrency`` of their state changes run at once (the size of the database pool)."""
    limiter = _Limiter(concurrency)
    return [
        Route(path, _transition_endpoint(action, limiter), methods=["POST"])
        for action in ACTIONS
        for path in [f"{prefix}/incidents/{{ref}}/{action}"]
    ]
