"""A loopback Events API target for the outbox's delivery tests, with scripted faults.

Real HTTP (aiohttp) instead of mocking: the delivery worker's real EventsClient talks to it. A
``faults`` callable decides each answer from the request's routing key, dedup key and the number
of requests seen so far; every request is recorded, with the status it got.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass(frozen=True)
class Fault:
    """What to answer instead of 202: a status (with headers/body), a delay, or a dropped line."""

    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    delay: float = 0.0
    drop: bool = False


@dataclass
class Arrival:
    routing_key: str
    dedup_key: str | None
    event: dict[str, Any]
    status: int
    change: bool


FaultRule = Callable[[dict[str, Any], int], Fault | None]


@dataclass
class Target:
    url: str
    arrivals: list[Arrival]
    faults: list[FaultRule]

    def accepted(self) -> list[Arrival]:
        return [a for a in self.arrivals if 200 <= a.status < 300]


@asynccontextmanager
async def running_target() -> AsyncIterator[Target]:
    """Start the target on a free loopback port; ``target.faults`` may be changed at any time."""
    arrivals: list[Arrival] = []
    faults: list[FaultRule] = []
    seen = 0

    async def enqueue(request: web.Request) -> web.StreamResponse:
        nonlocal seen
        seen += 1
        body = await request.read()
        event = json.loads(body)
        change = request.path.endswith("/change/enqueue")
        fault = None
        for rule in faults:
            fault = rule(event, seen)
            if fault is not None:
                break
        fault = fault or Fault()
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.drop:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        arrivals.append(
            Arrival(
                event.get("routing_key", ""), event.get("dedup_key"), event, fault.status, change
            )
        )
        if 200 <= fault.status < 300:
            payload = fault.body or {
                "status": "success",
                "message": "Event processed",
                "dedup_key": event.get("dedup_key"),
            }
        else:
            payload = fault.body or {"status": "error", "message": f"HTTP {fault.status}"}
        return web.json_response(payload, status=fault.status, headers=fault.headers)

    app = web.Application()
    app.router.add_post("/v2/enqueue", enqueue)
    app.router.add_post("/v2/change/enqueue", enqueue)
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield Target(f"http://127.0.0.1:{port}", arrivals, faults)
    finally:
        await runner.cleanup()
