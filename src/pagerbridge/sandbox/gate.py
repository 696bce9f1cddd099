"""The sandbox's front door (pure ASGI, so ``--sink`` stays fast): faults, REST auth, REST limits.

Order: injected faults first (as a flaky network or PagerDuty outage would), then for REST paths
authentication (``Authorization: Token token=...`` or ``Bearer ...``; 401 without) and the
per-token rate limit with PagerDuty's ``ratelimit-*`` headers on every REST answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pagerbridge.sandbox.oauth_scopes import required_scope
from pagerbridge.sandbox.options import FaultSpec
from pagerbridge.sandbox.runtime import Runtime
from pagerbridge.sandbox.sink import SINK_PATHS, sink
from pagerbridge.sandbox.timers import advance

#: Paths that are not the REST API (no token needed, no REST limit).
OPEN_PREFIXES = ("/v2/", "/_sandbox", "/oauth/", "/favicon.ico")
PRINCIPAL_KEY = "pagerbridge.principal"
log = logging.getLogger("pagerbridge.sandbox")
_NO_FAULTS = FaultSpec()


def is_rest(path: str) -> bool:
    return path != "/" and not path.startswith(OPEN_PREFIXES)


def rest_error_body(message: str, code: int, errors: list[str] | None = None) -> bytes:
    error: dict[str, Any] = {"message": message, "code": code}
    if errors is not None:
        error["errors"] = errors
    return json.dumps({"error": error}).encode()


async def send_simple(
    send: Send, status: int, body: bytes, headers: dict[str, str] | None = None
) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def drop_connection(send: Send) -> bool:
    """Close the client's connection without an answer (uvicorn exposes the transport)."""
    cycle: Any = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    if hasattr(cycle, "disconnected"):
        # uvicorn learns of the abort one loop turn later and would log the missing answer as
        # an error ("ASGI callable returned without starting response"): this drop is on purpose.
        cycle.disconnected = True
    return True


def missing_scope(principal: dict[str, Any], path: str, method: str) -> str | None:
    """For an OAuth token: the scope this call needs and lacks (PagerDuty's ``x-pd-requires-scope``,
    e.g. ``services.write`` for a maintenance window, not one guessed from the first segment)."""
    grant = principal.get("grant")
    allows = getattr(grant, "allows", None)
    if allows is None:
        return None
    needed = required_scope(method, path)
    return None if needed is None or allows(needed) else needed


class Gate:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        runtime = self.runtime
        if scope["method"] not in ("GET", "HEAD"):
            runtime.version += 1
        faults = runtime.faults
        if faults.spec != _NO_FAULTS or faults.burst_left or faults.outage_until:
            if faults.spec.latency and faults.applies(path):
                await asyncio.sleep(faults.spec.latency)
            if await self.inject(faults.decide(path), path, send):
                return
        if runtime.options.sink and path in SINK_PATHS and scope["method"] == "POST":
            await sink(SINK_PATHS[path], receive, send, runtime)
            return
        try:
            advance(runtime.state)  # deadlines due by now (escalations, timeouts) happen first
        except Exception:  # a bug in the timers must not take the whole API down
            log.exception("applying the sandbox's incident deadlines failed")
        if not is_rest(path):
            await self.app(scope, receive, send)
            return
        principal = self.authenticate(scope)
        if principal is None:
            await send_simple(send, 401, rest_error_body("Authentication failed", 2006))
            return
        missing = missing_scope(principal, path, scope["method"])
        if missing is not None:
            body = rest_error_body("Access Denied", 2010, [f"the token lacks the scope {missing}"])
            await send_simple(send, 403, body)
            return
        scope[PRINCIPAL_KEY] = principal
        if not runtime.options.rate_limits:
            await self.app(scope, receive, send)
            return
        allowed, headers = runtime.rest_limit.take(str(principal.get("key")))
        if not allowed:
            await send_simple(send, 429, rest_error_body("Rate Limit Exceeded", 2020), headers)
            return
        extra = [(k.encode(), v.encode()) for k, v in headers.items()]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def inject(self, decision: str | None, path: str, send: Send) -> bool:
        """Carry out a fault decision; True if the request was answered (or dropped)."""
        if decision is None:
            return False
        rest = is_rest(path)
        if decision == "drop" and drop_connection(send):
            return True
        if decision == "429":
            body = (
                rest_error_body("Rate Limit Exceeded", 2020)
                if rest
                else json.dumps(
                    {"status": "throttle event", "message": "Too many requests", "errors": []}
                ).encode()
            )
            await send_simple(send, 429, body, {"retry-after": "1", "ratelimit-reset": "1"})
            return True
        status = 503 if decision == "outage" else self.runtime.faults.spec.error_status
        message = "Service Unavailable" if decision == "outage" else "Injected fault"
        body = (
            rest_error_body(message, 2000)
            if rest
            else json.dumps({"status": "error", "message": message, "errors": []}).encode()
        )
        await send_simple(send, status, body)
        return True

    def authenticate(self, scope: Scope) -> dict[str, Any] | None:
        """The caller behind the Authorization header, or None."""
        header = ""
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                header = value.decode("latin-1").strip()
                break
        scheme, _, rest = header.partition(" ")
        scheme = scheme.lower()
        state = self.runtime.state
        if scheme == "token":
            token = rest.strip()
            if token.startswith("token="):
                token = token[len("token=") :]
            entry = state.tokens.get(token.strip().strip('"'))
            if entry is None:
                return None
            return {"kind": "token", "key": "token:" + entry["token"], "user_id": entry["user_id"]}
        if scheme == "bearer":
            token = rest.strip()
            for validate in self.runtime.bearer_validators:
                principal = validate(token)
                if principal is not None:
                    user_id = getattr(principal, "user_id", None)
                    client = getattr(principal, "client_id", token)
                    key = f"oauth:{client}:{user_id or ''}"
                    return {"kind": "oauth", "key": key, "user_id": user_id, "grant": principal}
        return None
