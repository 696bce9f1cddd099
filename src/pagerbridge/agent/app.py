"""The agent's HTTP face: a raw ASGI endpoint for the Events API, Starlette for the rest.

``POST /v2/enqueue`` and ``POST /v2/change/enqueue`` speak PagerDuty's Events API v2;
``GET /health`` and ``GET /metrics`` are for operators. Bodies larger than 512 KB are refused
from ``Content-Length`` or while streaming, before any parsing. No route answers 500: errors are
turned into PagerDuty-shaped JSON here or in :mod:`pagerbridge.agent.intake`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from pagerbridge.agent.auth import TokenPolicy
from pagerbridge.agent.events_v1 import V1_PATH
from pagerbridge.agent.intake import Intake, Verdict, error, too_large
from pagerbridge.agent.intake_v1 import V1Intake
from pagerbridge.agent.metrics import CONTENT_TYPE, AgentMetrics
from pagerbridge.agent.sources.hooks_http import Lookup, source_routes
from pagerbridge.pagerduty.limits import EVENT_MAX_BYTES

log = logging.getLogger("pagerbridge.agent")

JSON = "application/json"
#: Oversized bodies up to this size are drained so the client can read the 400; larger ones are
#: answered at once (the client may then see the connection close while it sends).
DRAIN_MAX_BYTES = 8 * 1024 * 1024


def _respond(verdict: Verdict) -> Response:
    return Response(verdict.encode(), verdict.status, headers=verdict.headers, media_type=JSON)


def _unauthorized() -> Response:
    return _respond(_unauthorized_verdict())


class _Disconnected(Exception):
    """The client went away before its body arrived."""


async def _read_body(receive: Receive, declared: int | None) -> bytes | None:
    """The body, or None as soon as it passes the 512 KB limit (nothing more is buffered).

    Read straight from ASGI messages: one message (the usual case) costs no copy.
    """
    if declared is not None and declared > DRAIN_MAX_BYTES:
        return None  # answered at once; the client may see the connection close
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        if not more and not chunks and total == 0:
            # Oversized bodies up to DRAIN_MAX_BYTES were drained above this point, never parsed.
            return chunk if len(chunk) <= EVENT_MAX_BYTES else None
        total += len(chunk)
        if total > EVENT_MAX_BYTES:
            chunks.clear()  # too large: keep nothing, drain a while, then give up
            if total > DRAIN_MAX_BYTES:
                return None
        else:
            chunks.append(chunk)
        if not more:
            return None if total > EVENT_MAX_BYTES else b"".join(chunks)


def _header(headers: list[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    for name, value in headers:
        if name == wanted:
            return value.decode("latin-1")
    return None


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


class EnqueueEndpoint:
    """``POST /v2/enqueue`` and ``/v2/change/enqueue`` as a raw ASGI app.

    This is the hot path, so it skips Starlette's middleware, ``Request`` and ``Response``
    objects (measured: about a third of the event loop's time per event went to them; see
    docs/benchmarks.md). Answers are the same bytes the Starlette routes gave; an unexpected
    failure is a 503 with Retry-After, as the app's own handler answers.
    """

    def __init__(
        self,
        intake: Intake | V1Intake,
        *,
        metrics: AgentMetrics,
        policy: TokenPolicy,
        change: bool,
    ) -> None:
        self._intake = intake
        self._metrics = metrics
        self._policy = policy
        self._change = change

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, body, extra = await self._handle(scope, receive)
        except Exception:
            log.exception("unexpected error on POST %s", scope.get("path"))
            status, body, extra = 503, _UNAVAILABLE, {"Retry-After": "5"}
        headers = [(b"content-length", str(len(body)).encode("latin-1"))]
        if body:
            headers.append((b"content-type", b"application/json"))
        headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items())
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[int, bytes, dict[str, str]]:
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        if self._policy.enabled:
            headers: dict[str, str] = {}
            for name, value in raw_headers:
                headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
            client = scope.get("client")
            if not self._policy.allows(headers, client[0] if client else None):
                self._metrics.refused.labels("unauthorized").inc()
                return _verdict(_unauthorized_verdict())
        declared = _content_length(raw_headers)
        try:
            body = await _read_body(receive, declared)
        except _Disconnected:
            return 400, b"", {}
        if body is None:
            return _verdict(self._intake.refuse("too_large", too_large(declared)))
        destination = _header(raw_headers, b"x-pagerbridge-destination")
        verdict = await self._intake.accept(body, change=self._change, destination=destination)
        return _verdict(verdict)


def _verdict(verdict: Verdict) -> tuple[int, bytes, dict[str, str]]:
    return verdict.status, verdict.encode(), verdict.headers


def _unauthorized_verdict() -> Verdict:
    return error(
        401,
        "unauthorized",
        "A valid shared token is required",
        ["send Authorization: Bearer <token> or X-Pagerbridge-Token"],
    )


_UNAVAILABLE = error(503, "unavailable", "The agent could not handle the request", []).encode()


class AgentApp:
    """The agent's ASGI app: POSTs to the Events API paths go straight to their
    :class:`EnqueueEndpoint`; everything else (other methods, /health, /metrics, lifespan) to
    Starlette."""

    def __init__(self, router: Starlette, hot: dict[str, EnqueueEndpoint]) -> None:
        self.router = router
        self._hot = hot

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._hot.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.router(scope, receive, send)


def create_agent_app(
    intake: Intake,
    *,
    metrics: AgentMetrics,
    policy: TokenPolicy | None = None,
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    sources: Lookup | None = None,
) -> AgentApp:
    """The ASGI app; ``health`` returns the body of ``GET /health`` (``ok`` False → 503) and is
    also awaited before ``/metrics`` renders, so the health gauges there are current.
    ``sources`` finds a running HTTP source by name (``/alertmanager/<n>``, ``/hooks/<n>``)."""
    policy = policy or TokenPolicy(None)

    def allowed(request: Request) -> bool:
        if not policy.enabled:
            return True
        client = request.client.host if request.client else None
        return policy.allows(request.headers, client)

    hot = {
        "/v2/enqueue": EnqueueEndpoint(intake, metrics=metrics, policy=policy, change=False),
        "/v2/change/enqueue": EnqueueEndpoint(intake, metrics=metrics, policy=policy, change=True),
    }
    # Events API v1 (pdagent's and old scripts' generic endpoint): converted, same intake.
    hot[V1_PATH] = EnqueueEndpoint(V1Intake(intake), metrics=metrics, policy=policy, change=False)

    async def get_health(request: Request) -> Response:
        body: dict[str, Any] = await health() if health else {"ok": True}
        status = 200 if body.get("ok", True) else 503
        return Response(json.dumps(body).encode(), status, media_type=JSON)

    async def get_metrics(request: Request) -> Response:
        if not allowed(request):
            return _unauthorized()
        if health is not None:
            await health()  # sets the pagerbridge_agent_health_ok gauges
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
        # Registered here too, so other methods get Starlette's 405 (POSTs never reach them).
        Route("/v2/enqueue", hot["/v2/enqueue"], methods=["POST"]),
        Route("/v2/change/enqueue", hot["/v2/change/enqueue"], methods=["POST"]),
        Route(V1_PATH, hot[V1_PATH], methods=["POST"]),
        Route("/health", get_health, methods=["GET"]),
        Route("/metrics", get_metrics, methods=["GET"]),
    ]
    if sources is not None:  # the HTTP event sources (agent/sources/hooks_http.py)
        routes += source_routes(sources, allowed)
    router = Starlette(
        routes=routes,
        exception_handlers={HTTPException: http_error, Exception: unexpected},
    )
    return AgentApp(router, hot)
