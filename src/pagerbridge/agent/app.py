"""The agent's HTTP face: plain Starlette routes, because ``/v2/enqueue`` is the hot path.

``POST /v2/enqueue`` and ``POST /v2/change/enqueue`` speak PagerDuty's Events API v2;
``GET /health`` and ``GET /metrics`` are for operators. Bodies larger than 512 KB are refused
from ``Content-Length`` or while streaming, before any parsing. No route answers 500: errors are
turned into PagerDuty-shaped JSON here or in :mod:`pagerbridge.agent.intake`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from pagerbridge.agent.auth import TokenPolicy
from pagerbridge.agent.intake import Intake, Verdict, error, too_large
from pagerbridge.agent.metrics import CONTENT_TYPE, AgentMetrics
from pagerbridge.pagerduty.limits import EVENT_MAX_BYTES

log = logging.getLogger("pagerbridge.agent")

JSON = "application/json"
#: Oversized bodies up to this size are drained so the client can read the 400; larger ones are
#: answered at once (the client may then see the connection close while it sends).
DRAIN_MAX_BYTES = 8 * 1024 * 1024


def _respond(verdict: Verdict) -> Response:
    return Response(verdict.encode(), verdict.status, headers=verdict.headers, media_type=JSON)


def _unauthorized() -> Response:
    return _respond(
        error(
            401,
            "unauthorized",
            "A valid shared token is required",
            ["send Authorization: Bearer <token> or X-Pagerbridge-Token"],
        )
    )


async def _read_limited(request: Request) -> bytes | None:
    """The body, or None as soon as it passes the 512 KB limit (nothing more is buffered)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            size = -1
        if size > EVENT_MAX_BYTES:
            if size <= DRAIN_MAX_BYTES:
                # Read and discard (never parse) so the client, still sending, gets our 400
                # instead of a broken pipe.
                async for _ in request.stream():
                    pass
            return None
        if size >= 0:
            # The HTTP parser frames the body by Content-Length, so it cannot be longer.
            return await request.body()
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > EVENT_MAX_BYTES:
            chunks.clear()  # too large: keep nothing, drain a while, then give up
            if total > DRAIN_MAX_BYTES:
                return None
            continue
        chunks.append(chunk)
    return None if total > EVENT_MAX_BYTES else b"".join(chunks)


def create_agent_app(
    intake: Intake,
    *,
    metrics: AgentMetrics,
    policy: TokenPolicy | None = None,
    health: Callable[[], dict[str, Any]] | None = None,
) -> Starlette:
    """The ASGI app; ``health`` returns the body of ``GET /health`` (``ok`` False → 503)."""
    policy = policy or TokenPolicy(None)

    def allowed(request: Request) -> bool:
        if not policy.enabled:
            return True
        client = request.client.host if request.client else None
        return policy.allows(request.headers, client)

    async def enqueue(request: Request, *, change: bool) -> Response:
        if not allowed(request):
            metrics.refused.labels("unauthorized").inc()
            return _unauthorized()
        try:
            body = await _read_limited(request)
        except ClientDisconnect:
            return Response(status_code=400)
        if body is None:
            declared = request.headers.get("content-length")
            size = int(declared) if declared and declared.isdigit() else None
            return _respond(intake.refuse("too_large", too_large(size)))
        return _respond(await intake.accept(body, change=change))

    async def v2_enqueue(request: Request) -> Response:
        return await enqueue(request, change=False)

    async def v2_change_enqueue(request: Request) -> Response:
        return await enqueue(request, change=True)

    async def get_health(request: Request) -> Response:
        body: dict[str, Any] = health() if health else {"ok": True}
        status = 200 if body.get("ok", True) else 503
        return Response(json.dumps(body).encode(), status, media_type=JSON)

    async def get_metrics(request: Request) -> Response:
        if not allowed(request):
            return _unauthorized()
        # Queue depth is a GROUP BY over the outbox: off the event loop, so intake never waits.
        body = await asyncio.to_thread(metrics.render)
        return Response(body, 200, media_type=CONTENT_TYPE)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        reason = {404: "not found", 405: "method not allowed"}.get(exc.status_code, "error")
        verdict = error(exc.status_code, reason, str(exc.detail), [])
        return Response(verdict.encode(), exc.status_code, headers=exc.headers, media_type=JSON)

    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        verdict = error(503, "unavailable", "The agent could not handle the request", [])
        return Response(verdict.encode(), 503, headers={"Retry-After": "5"}, media_type=JSON)

    routes = [
        Route("/v2/enqueue", v2_enqueue, methods=["POST"]),
        Route("/v2/change/enqueue", v2_change_enqueue, methods=["POST"]),
        Route("/health", get_health, methods=["GET"]),
        Route("/metrics", get_metrics, methods=["GET"]),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: unexpected},
    )
