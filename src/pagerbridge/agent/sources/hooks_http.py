"""What the HTTP sources share: ``POST /alertmanager/<name>`` and ``POST /hooks/<name>``.

These sources have no listener of their own: the agent's app routes the request here, which
finds the running source by name, checks the caller (the agent's shared token, or the hook's
own HMAC/token), reads the body under the agent's size limit, and lets the source decode and
submit. The answer is given only once every event of the request is durable (202), or says why
not: 400 (not JSON, not the expected shape), 401, 404 (no such receiver), 413 (too large), 503
with ``Retry-After`` when the outbox could not store (the sender retries the whole request;
folding and dedup keys make a repeat harmless). Dropped or unmatched messages are final: 200,
counted on ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from pagerbridge.agent.sources.base import Fields, Outcome, Source, SourceSink, Submitted
from pagerbridge.errors import PagerbridgeError
from pagerbridge.pagerduty.limits import EVENT_MAX_BYTES

log = logging.getLogger("pagerbridge.agent.sources")

JSON = "application/json"
#: Oversized bodies up to this size are drained so the client reads the 413 (the same bound as
#: the Events API endpoint's ``agent.app.DRAIN_MAX_BYTES``; app.py imports this module).
DRAIN_MAX_BYTES = 8 * 1024 * 1024
#: Messages of one request submitted at once (they reach the group commit in order).
MAX_PARALLEL = 256


class Malformed(PagerbridgeError, ValueError):
    """The body is not what the source expects; the message says what is wrong (never a secret)."""


@dataclass
class Answer:
    """An HTTP answer of an HTTP source."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> Response:
        return Response(json.dumps(self.body).encode(), self.status, self.headers, media_type=JSON)


def failure(status: int, message: str, *, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"status": "error", "message": message}, headers or {})


@runtime_checkable
class HttpSource(Protocol):
    """A source fed by the agent's HTTP app."""

    name: str
    #: True when the source checks callers itself (then the agent's shared token is not asked).
    own_auth: bool

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        """Authenticate (if ``own_auth``), decode, submit; never raises for bad input."""
        ...


async def submit_all(sink: SourceSink, name: str, messages: Sequence[Fields]) -> Answer:
    """Submit every message (in order, concurrently) and answer once each is durable or final."""
    results: list[Submitted] = []
    for start in range(0, len(messages), MAX_PARALLEL):
        batch = messages[start : start + MAX_PARALLEL]
        results += await asyncio.gather(*(sink.submit(name, m) for m in batch))
    counts: dict[str, int] = {}
    for result in results:
        counts[result.outcome.value] = counts.get(result.outcome.value, 0) + 1
    body: dict[str, Any] = {"status": "success", "messages": len(results), **counts}
    failed = [r for r in results if r.outcome is Outcome.ERROR]
    if failed:
        body["status"] = "error"
        body["message"] = f"{len(failed)} of {len(results)} could not be stored: send again"
        return Answer(503, body, {"Retry-After": "5"})
    if any(r.durable for r in results):
        body["dedup_keys"] = [r.dedup_key for r in results if r.durable]
        return Answer(202, body)
    reasons = sorted({r.reason.value for r in results if r.reason is not None})
    body["message"] = "nothing to send" + (f" ({', '.join(reasons)})" if reasons else "")
    return Answer(200, body)


async def _read(request: Request, limit: int) -> bytes | None:
    """The body, or None once it passes ``limit`` (nothing more is kept). An oversized body up
    to :data:`DRAIN_MAX_BYTES` is read and dropped, so the client can read the 413 (as the
    Events API endpoint does)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_MAX_BYTES:
        return None
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            chunks.clear()
            if total > DRAIN_MAX_BYTES:
                return None
        else:
            chunks.append(chunk)
    return None if total > limit else b"".join(chunks)


Lookup = Callable[[str], Source | None]
Allowed = Callable[[Request], bool]


def source_routes(lookup: Lookup, allowed: Allowed, *, limit: int = EVENT_MAX_BYTES) -> list[Route]:
    """The routes of the HTTP sources: ``lookup`` finds a running source by instance name
    (``hooks/grafana``); ``allowed`` applies the agent's shared-token policy."""

    def endpoint(kind: str, what: str) -> Callable[[Request], Any]:
        async def handle(request: Request) -> Response:
            name = request.path_params["name"]
            source = lookup(f"{kind}/{name}")
            if not isinstance(source, HttpSource):
                return failure(404, f"no {what} named {name!r} is configured").response()
            if not source.own_auth and not allowed(request):
                return failure(401, "a valid shared token is required").response()
            try:
                body = await _read(request, limit)
            except ClientDisconnect:
                return Response(status_code=400)
            if body is None:
                return failure(413, f"the body is larger than {limit} bytes").response()
            headers = {k.lower(): v for k, v in request.headers.items()}
            return (await source.handle(body, headers)).response()

        return handle

    return [
        Route(
            "/alertmanager/{name}",
            endpoint("alertmanager", "Alertmanager receiver"),
            methods=["POST"],
        ),
        Route("/hooks/{name}", endpoint("hooks", "hook"), methods=["POST"]),
    ]


def parse_json(body: bytes) -> Any:
    """Strict JSON (no NaN/Infinity, UTF-8); :class:`Malformed` otherwise."""

    def refuse(token: str) -> Any:
        raise Malformed(f"the body holds {token}, which is not JSON")

    try:
        return json.loads(body.decode("utf-8"), parse_constant=refuse)
    except Malformed:
        raise
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8") from None
    except RecursionError:
        raise Malformed("the body is nested too deeply") from None
    except ValueError as exc:
        raise Malformed(f"the body is not JSON: {exc}") from None


__all__ = [
    "Answer",
    "HttpSource",
    "Malformed",
    "failure",
    "parse_json",
    "source_routes",
    "submit_all",
]
