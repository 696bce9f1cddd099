"""A webhook receiver for tests: a real loopback HTTP server with scripted answers.

Tests of the sandbox's outgoing webhooks (ours, and those of anyone who builds on the sandbox)
need a destination that fails on purpose: ``WebhookReceiver`` answers each request with the next
entry of its script (an HTTP status, ``"hang"`` to time the sender out, or ``"close"`` to drop the
connection), then 200 once the script is spent, and records every request it saw.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

Answer = int | str
#: Chooses the answer from the raw body and headers instead of the script, when given.
Decider = Callable[[bytes, Mapping[str, str]], Answer]


@dataclass(frozen=True)
class ReceivedWebhook:
    """One request as it arrived: raw body, headers, and what the receiver answered."""

    body: bytes
    headers: dict[str, str]
    answer: Answer
    path: str

    @property
    def event(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.body)
        event: dict[str, Any] = payload["event"]
        return event


class WebhookReceiver:
    """``async with WebhookReceiver() as rx: rx.url ...`` (listens on a free loopback port)."""

    def __init__(
        self,
        script: Iterable[Answer] = (),
        *,
        decide: Decider | None = None,
        hang_for: float = 30.0,
        retry_after: str | None = "0",
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._script: deque[Answer] = deque(script)
        self.decide = decide
        self.hang_for = hang_for
        self.retry_after = retry_after
        self.ssl_context = ssl_context
        self.received: list[ReceivedWebhook] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._arrived = asyncio.Condition()

    def script(self, answers: Iterable[Answer]) -> None:
        """Append answers for the next requests."""
        self._script.extend(answers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if self.decide is not None:
            answer = self.decide(body, request.headers)
        else:
            answer = self._script.popleft() if self._script else 200
        self.received.append(ReceivedWebhook(body, dict(request.headers), answer, request.path))
        async with self._arrived:
            self._arrived.notify_all()
        if answer == "hang":
            await asyncio.sleep(self.hang_for)
            return web.Response(status=200)
        if answer == "close":
            transport = request.transport
            if transport is not None:
                transport.abort()
            return web.Response(status=200)
        if isinstance(answer, str):
            raise ValueError(f"unknown scripted answer {answer!r}")
        headers = {"Retry-After": self.retry_after} if answer == 429 and self.retry_after else {}
        return web.Response(status=answer, text="{}", headers=headers)

    async def wait_for(self, count: int, within: float = 10.0) -> list[ReceivedWebhook]:
        """Wait until at least ``count`` requests arrived; returns them all."""
        async with asyncio.timeout(within), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return list(self.received)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        scheme = "https" if self.ssl_context is not None else "http"
        self.url = f"{scheme}://{host}:{port}/webhooks"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookReceiver:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def sample_incident(
    incident_id: str = "Q1ABCDE",
    *,
    number: int = 1,
    status: str = "triggered",
    service_id: str = "PDEMO01",
    team_ids: Iterable[str] = ("PDEMOT1",),
    base_url: str = "http://127.0.0.1:8090",
) -> dict[str, Any]:
    """An incident in the sandbox's REST shape (as ``GET /incidents/{id}`` returns it), for tests
    that publish webhooks without running the whole sandbox."""

    def ref(kind: str, path: str, rid: str, summary: str) -> dict[str, Any]:
        return {
            "id": rid,
            "type": f"{kind}_reference",
            "summary": summary,
            "self": f"{base_url}/{path}/{rid}",
            "html_url": f"{base_url}/#/{path}/{rid}",
        }

    user = ref("user", "users", "PDEMOU1", "On-call Person")
    return {
        "id": incident_id,
        "type": "incident",
        "summary": f"[#{number}] Disk full on db1",
        "self": f"{base_url}/incidents/{incident_id}",
        "html_url": f"{base_url}/#/incidents/{incident_id}",
        "incident_number": number,
        "title": "Disk full on db1",
        "description": "Disk full on db1",
        "created_at": "2026-01-02T03:04:05Z",
        "updated_at": "2026-01-02T03:04:05Z",
        "status": status,
        "incident_key": f"key-{incident_id}",
        "service": ref("service", "services", service_id, "Demo Service"),
        "assignments": [{"at": "2026-01-02T03:04:05Z", "assignee": user}],
        "escalation_policy": ref("escalation_policy", "escalation_policies", "PDEMOEP", "Demo"),
        "teams": [ref("team", "teams", t, "Demo Team") for t in team_ids],
        "priority": None,
        "urgency": "high",
        "resolve_reason": None,
        "alert_counts": {"all": 1, "triggered": 1, "resolved": 0},
    }
