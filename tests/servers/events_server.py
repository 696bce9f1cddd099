"""A scriptable Events API v2 stand-in on loopback, and a tiny HTTP forward proxy.

The EventsClient's tests talk real HTTP to these (no HTTP mocking): the server plays scripted
answers (statuses, bodies, ``Retry-After`` headers, slow answers, dropped connections) and
records every request exactly as it arrived; the proxy forwards absolute-form requests and
records what it relayed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web


@dataclass
class Answer:
    """One scripted answer. ``body`` None means PagerDuty's success body; ``drop`` closes the
    connection without answering; ``delay`` waits before answering (for timeouts)."""

    status: int = 202
    body: bytes | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


class EventsServer:
    """``async with EventsServer() as server:`` → ``server.url``, ``server.play(...)``."""

    def __init__(self) -> None:
        self.script: deque[Answer] = deque()
        self.received: list[Received] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    def play(self, *answers: Answer) -> None:
        """Queue answers for the next requests; afterwards every request gets a 202."""
        self.script.extend(answers)

    async def __aenter__(self) -> EventsServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner, self.url = await _start(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.received.append(Received(request.method, request.path, dict(request.headers), body))
        answer = self.script.popleft() if self.script else Answer()
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.drop:
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError  # nothing more to say on a dead connection
        payload = answer.body
        if payload is None:
            try:
                sent = json.loads(body)
                dedup = sent.get("dedup_key") if isinstance(sent, dict) else None
            except ValueError:
                dedup = None
            payload = {
                "status": "success",
                "message": "Event processed",
                "dedup_key": dedup or uuid.uuid4().hex,
            }
        raw = json.dumps(payload).encode() if isinstance(payload, dict) else payload
        content_type = "application/json" if isinstance(payload, dict) else "text/html"
        headers = {"Content-Type": content_type, **answer.headers}
        return web.Response(status=answer.status, body=raw, headers=headers)


class ForwardProxy:
    """A minimal plain-HTTP forward proxy: relays absolute-form requests, records their URLs."""

    def __init__(self) -> None:
        self.relayed: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ForwardProxy:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._relay)
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._runner, self.url = await _start(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    async def _relay(self, request: web.Request) -> web.Response:
        # absolute-form request target ("POST http://host:port/path"): relay to exactly that
        target = request.raw_path
        if not target.startswith("http://"):
            return web.Response(status=400, text="not a proxy request")
        self.relayed.append(target)
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in {"host"}}
        headers["Via"] = "1.1 test-proxy"
        async with self._session.request(
            request.method,
            target,
            data=await request.read(),
            headers=headers,
            allow_redirects=False,
        ) as upstream:
            body = await upstream.read()
            keep = {
                k: v
                for k, v in upstream.headers.items()
                if k.lower() not in {"content-length", "transfer-encoding", "connection"}
            }
            return web.Response(status=upstream.status, body=body, headers=keep)
