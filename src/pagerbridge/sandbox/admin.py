"""Admin endpoints under ``/_sandbox/``: what arrived, requests, faults, reset, state
(docs/sandbox.md).

Not part of PagerDuty's API; no token needed, never rate limited or faulted, so a test can always
inspect and steer the sandbox.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pagerbridge.sandbox.runtime import Runtime


def _runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "code": 2001}}, status_code=400)


async def events(request: Request) -> Response:
    """Accepted events in arrival order; ``?routing_key=`` and ``?after=SEQ`` narrow it."""
    state = _runtime(request).state
    routing_key = request.query_params.get("routing_key")
    after_text = request.query_params.get("after", "0")
    if not after_text.isdigit():
        return _bad("'after' must be a non-negative integer (an arrival's seq)")
    after = int(after_text)
    rows = [
        a.as_dict()
        for a in state.arrivals[after:]
        if routing_key is None or a.routing_key == routing_key
    ]
    return JSONResponse({"events": rows, "total": len(rows), "sink_count": state.sink_count})


async def faults(request: Request) -> Response:
    """GET: current faults. POST: replace them (omitted settings go back to off)."""
    runtime = _runtime(request)
    if request.method == "POST":
        try:
            body: Any = json.loads(await request.body() or b"{}")
        except ValueError:
            return _bad("the body must be a JSON object of fault settings")
        if not isinstance(body, dict):
            return _bad("the body must be a JSON object of fault settings")
        try:
            runtime.faults.replace_all(body)
        except ValueError as exc:
            return _bad(str(exc))
    return JSONResponse({"faults": runtime.faults.as_dict()})


async def scripted_faults(request: Request) -> Response:
    """Append scripted rules (one object or an array) after those in force; answers them all."""
    runtime = _runtime(request)
    try:
        body: Any = json.loads(await request.body() or b"null")
    except ValueError:
        return _bad("the body must be a scripted fault object or an array of them")
    items = body if isinstance(body, list) else [body]
    try:
        runtime.faults.add_scripted(items)
    except ValueError as exc:
        return _bad(str(exc))
    return JSONResponse({"scripted": [rule.as_dict() for rule in runtime.faults.scripted]})


async def requests(request: Request) -> Response:
    """GET: API requests received, oldest first (filters: method, path, api, after, token).
    DELETE: forget them."""
    log = _runtime(request).requests
    if request.method == "DELETE":
        log.clear()
        return JSONResponse({"requests": [], "total": 0, "forgotten": 0, "last_seq": log.seq})
    params = request.query_params
    after_text = params.get("after", "0")
    if not after_text.isdigit():
        return _bad("'after' must be a non-negative integer (a request's seq)")
    rows = [
        r.as_dict()
        for r in log.select(
            method=params.get("method"),
            path=params.get("path"),
            api=params.get("api"),
            after=int(after_text),
            token=params.get("token"),
        )
    ]
    return JSONResponse(
        {"requests": rows, "total": len(rows), "forgotten": log.forgotten, "last_seq": log.seq}
    )


async def reset(request: Request) -> Response:
    runtime = _runtime(request)
    runtime.reset()
    dispatcher = getattr(request.app.state, "webhooks", None)
    if dispatcher is not None:
        dispatcher.clear()  # pending deliveries and the delivery record go too
    return JSONResponse({"status": "reset"})


async def state(request: Request) -> Response:
    runtime = _runtime(request)
    snapshot = runtime.state.snapshot()
    snapshot["tokens"] = [
        {"token": "***", "user_id": t["user_id"], "access": t.get("access", "full")}
        for t in runtime.state.tokens.values()
    ]
    snapshot["oauth_clients"] = [
        {"client_id": c["client_id"], "client_secret": "***"}
        for c in runtime.state.oauth_clients.values()
    ]
    return JSONResponse(snapshot)


async def webhooks(request: Request) -> Response:
    """Outgoing webhook deliveries (attempts and outcomes) when the dispatcher is wired in."""
    dispatcher = getattr(request.app.state, "webhooks", None)
    records = dispatcher.record() if dispatcher is not None else []
    return JSONResponse({"deliveries": records})


def admin_routes() -> list[Route]:
    return [
        Route("/_sandbox/events", events, methods=["GET"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST"]),
        Route("/_sandbox/faults/scripted", scripted_faults, methods=["POST"]),
        Route("/_sandbox/requests", requests, methods=["GET", "DELETE"]),
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/state", state, methods=["GET"]),
        Route("/_sandbox/webhooks", webhooks, methods=["GET"]),
    ]
