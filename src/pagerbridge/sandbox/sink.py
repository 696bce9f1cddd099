"""``--sink``: validate and count events on a bare ASGI path (no routing, no Request objects).

The sink is the target of delivery benchmarks, so it skips everything the answer does not need;
the answers are the same bytes the full Events API gives.
"""

from __future__ import annotations

import json
import uuid

from starlette.types import Receive, Send

from pagerbridge.errors import EventValidationError
from pagerbridge.pagerduty.event_rules import normalise_event
from pagerbridge.pagerduty.limits import EVENT_MAX_BYTES
from pagerbridge.sandbox.runtime import Runtime

SINK_PATHS = {"/v2/enqueue": False, "/v2/change/enqueue": True}
_HEADERS = [(b"content-type", b"application/json")]


async def _body(receive: Receive) -> bytes:
    chunks = []
    more = True
    while more:
        message = await receive()
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def answer(body: bytes, change: bool, runtime: Runtime) -> tuple[int, dict[str, object]]:
    """The status and body PagerDuty would give, counting accepted events."""
    if len(body) > EVENT_MAX_BYTES:
        errors = [f"event is larger than {EVENT_MAX_BYTES} bytes"]
        return 400, {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": errors,
        }
    try:
        data = json.loads(body)
    except ValueError:
        return 400, {
            "status": "Unrecognized object",
            "message": "Event object format is unrecognized",
            "errors": ["JSON parse error"],
        }
    try:
        event = normalise_event(data, change=change)
    except EventValidationError as exc:
        return 400, {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": exc.errors,
        }
    if runtime.options.rate_limits and not runtime.events_limit.allow(event["routing_key"]):
        return 429, {
            "status": "throttle event",
            "message": "Requests for this service are arriving too quickly. Please retry later.",
            "errors": ["Too many requests"],
        }
    runtime.state.sink_count += 1
    if change:
        return 202, {"status": "success", "message": "Change event processed"}
    dedup_key = event.get("dedup_key") or uuid.uuid4().hex
    return 202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key}


async def sink(change: bool, receive: Receive, send: Send, runtime: Runtime) -> None:
    status, payload = answer(await _body(receive), change, runtime)
    data = json.dumps(payload, separators=(",", ":")).encode()
    headers = [*_HEADERS, (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})
