"""The sandbox's front door (pure ASGI, so ``--sink`` stays fast): faults, REST auth, REST limits.

Order: every API request is recorded (``request_log``); injected faults come first (as a flaky
network or PagerDuty outage would), then for REST paths authentication (``Authorization: Token
token=...`` or ``Bearer ...``; 401 without), access (an OAuth scope, a read-only key's writes:
403) and the per-token rate limit with PagerDuty's ``ratelimit-*`` headers on every REST answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pagerbridge.sandbox.faults_scripted import (
    DROP,
    DROP_AFTER_WRITE,
    SLOW_AFTER_WRITE,
    ScriptedFault,
)
from pagerbridge.sandbox.oauth_scopes import required_scope
from pagerbridge.sandbox.options import FaultSpec
from pagerbridge.sandbox.request_log import RequestRecord, api_of, credential_of
from pagerbridge.sandbox.runtime import Runtime
from pagerbridge.sandbox.sink import SINK_PATHS, sink
from pagerbridge.sandbox.timers import advance

#: Paths that are not the REST API (no token needed, no REST limit).
OPEN_PREFIXES = ("/v2/", "/_sandbox", "/oauth/", "/favicon.ico")
PRINCIPAL_KEY = "pagerbridge.principal"
log = logging.getLogger("pagerbridge.sandbox")
_NO_FAULTS = FaultSpec()
#: The ``errors`` detail of a write refused to a read-only API key.
READ_ONLY = "this API key has read-only access: it cannot create, change or delete anything"


def _note_fault(record: RequestRecord | None, fault: str) -> None:
    if record is not None:
        record.fault = fault


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
        api = None if runtime.options.sink else api_of(path)
        if api is None:
            await self.serve(scope, receive, send, send, None)
            return
        query = scope.get("query_string", b"").decode("latin-1")
        record = runtime.requests.start(scope["method"], path, query, api, runtime.clock())
        await self.serve(scope, receive, record.wrap(send), send, record)

    async def serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_send: Send,
        record: RequestRecord | None,
    ) -> None:
        """Faults, then (REST) authentication, access and limits, then the handler.

        ``raw_send`` is the server's own ``send`` (a dropped-connection fault needs its
        transport); ``send`` may wrap it to record the answer.
        """
        path: str = scope["path"]
        method: str = scope["method"]
        runtime = self.runtime
        faults = runtime.faults
        if faults.spec != _NO_FAULTS or faults.burst_left or faults.outage_until or faults.scripted:
            rule = faults.take_before(method, path)
            if rule is not None:
                _note_fault(record, rule.do)
                await self.inject_scripted(rule, path, send, raw_send)
                return
            if faults.spec.latency and faults.applies(path):
                await asyncio.sleep(faults.spec.latency)
            decision = faults.decide(path)
            if decision is not None:
                _note_fault(record, decision)
                await self.inject(decision, path, send, raw_send)
                return
        if runtime.options.sink and path in SINK_PATHS and method == "POST":
            await sink(SINK_PATHS[path], receive, send, runtime)
            return
        try:
            advance(runtime.state)  # deadlines due by now (escalations, timeouts) happen first
        except Exception:  # a bug in the timers must not take the whole API down
            log.exception("applying the sandbox's incident deadlines failed")
        if not is_rest(path):
            await self.handle(scope, receive, send, raw_send, record)
            return
        principal = self.authenticate(scope)
        if principal is None:
            await send_simple(send, 401, rest_error_body("Authentication failed", 2006))
            return
        if record is not None:
            record.credential = credential_of(principal)
        missing = missing_scope(principal, path, method)
        if missing is not None:
            body = rest_error_body("Access Denied", 2010, [f"the token lacks the scope {missing}"])
            await send_simple(send, 403, body)
            return
        if principal.get("read_only") and method not in ("GET", "HEAD"):
            await send_simple(send, 403, rest_error_body("Access Denied", 2010, [READ_ONLY]))
            return
        scope[PRINCIPAL_KEY] = principal
        if not runtime.options.rate_limits:
            await self.handle(scope, receive, send, raw_send, record)
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

        await self.handle(scope, receive, send_with_headers, raw_send, record)

    async def handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        raw_send: Send,
        record: RequestRecord | None,
    ) -> None:
        """Run the handler; a scripted ``slow_after_write``/``drop_after_write`` rule lets the
        change happen and then holds or drops its answer (a client that timed out)."""
        faults = self.runtime.faults
        rule = faults.take_after(scope["method"], scope["path"]) if faults.scripted else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        held: list[Message] = []

        async def hold(message: Message) -> None:
            held.append(message)

        await self.app(scope, receive, hold)
        _note_fault(record, rule.do)
        if rule.do == DROP_AFTER_WRITE and drop_connection(raw_send):
            return
        if rule.do == SLOW_AFTER_WRITE:
            await asyncio.sleep(rule.seconds)
        for message in held:  # uvicorn ignores these if the client has gone meanwhile
            await send(message)

    async def inject_scripted(
        self, rule: ScriptedFault, path: str, send: Send, raw_send: Send
    ) -> None:
        """Carry out a scripted ``drop`` or ``status`` rule."""
        if rule.do == DROP and drop_connection(raw_send):
            return
        await self.answer_error(rule.status, "Injected fault", path, send)

    async def inject(self, decision: str, path: str, send: Send, raw_send: Send) -> None:
        """Carry out a fault decision (drop, outage, 429 or error)."""
        if decision == "drop" and drop_connection(raw_send):
            return
        if decision == "429":
            await self.answer_error(429, "Rate Limit Exceeded", path, send)
            return
        if decision == "outage":
            await self.answer_error(503, "Service Unavailable", path, send)
            return
        await self.answer_error(self.runtime.faults.spec.error_status, "Injected fault", path, send)

    async def answer_error(self, status: int, message: str, path: str, send: Send) -> None:
        """An injected error in the shape of the API it hits (REST or Events)."""
        rest = is_rest(path)
        if status == 429:
            body = (
                rest_error_body("Rate Limit Exceeded", 2020)
                if rest
                else json.dumps(
                    {"status": "throttle event", "message": "Too many requests", "errors": []}
                ).encode()
            )
            await send_simple(send, 429, body, {"retry-after": "1", "ratelimit-reset": "1"})
            return
        body = (
            rest_error_body(message, 2000)
            if rest
            else json.dumps({"status": "error", "message": message, "errors": []}).encode()
        )
        await send_simple(send, status, body)

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
            return {
                "kind": "token",
                "key": "token:" + entry["token"],
                "token": entry["token"],
                "user_id": entry["user_id"],
                "read_only": entry.get("access") == "read_only",
            }
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
