"""A small REST API v2 stand-in on loopback that records every request it gets.

Used by the REST client's unit and contract tests: the client talks real HTTP to it, the tests
inspect exactly what went over the wire. It answers with minimal valid wrapped bodies, serves
paginated collections (classic or cursor), plays scripted answers (429s, errors) first, and
issues tokens at ``POST /oauth/token`` (echoing the requested scope).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

SAMPLES: dict[str, dict[str, Any]] = {
    "incident": {
        "id": "PINC001",
        "type": "incident",
        "incident_number": 1,
        "title": "Disk full on db1",
        "status": "triggered",
        "urgency": "high",
        "service": {"id": "PSVC001", "type": "service_reference", "summary": "Demo"},
        "assignments": [],
    },
    "note": {"id": "PNOTE01", "content": "looking", "created_at": "2026-01-01T00:00:00Z"},
    "log_entry": {"id": "PLOG001", "type": "trigger_log_entry", "summary": "Triggered"},
    "service": {"id": "PSVC001", "type": "service", "name": "Demo"},
    "escalation_policy": {"id": "PEP0001", "type": "escalation_policy", "name": "Default"},
    "user": {"id": "PUSR001", "type": "user", "name": "On Call", "email": "oncall@example.com"},
    "oncall": {"escalation_level": 1, "user": {"id": "PUSR001", "type": "user_reference"}},
    "schedule": {"id": "PSCH001", "type": "schedule", "name": "Primary"},
    "priority": {"id": "PPRI001", "type": "priority", "name": "P1"},
    "webhook_subscription": {
        "id": "PWHS001",
        "type": "webhook_subscription",
        "events": ["incident.triggered"],
        "filter": {"type": "account_reference"},
        "delivery_method": {"type": "http_delivery_method", "url": "https://example.com/hook"},
    },
    "maintenance_window": {
        "id": "PMW0001",
        "type": "maintenance_window",
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-01-01T01:00:00Z",
        "services": [{"id": "PSVC001", "type": "service_reference"}],
    },
    "record": {"id": "PREC001", "action": "create"},
}

#: collection path segment -> singular root key
COLLECTIONS = {
    "incidents": "incident",
    "notes": "note",
    "log_entries": "log_entry",
    "services": "service",
    "escalation_policies": "escalation_policy",
    "users": "user",
    "oncalls": "oncall",
    "schedules": "schedule",
    "priorities": "priority",
    "webhook_subscriptions": "webhook_subscription",
    "maintenance_windows": "maintenance_window",
    "records": "record",
}


@dataclass
class Recorded:
    """One request exactly as it arrived."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    raw_path: str = ""

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def params(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]


@dataclass
class Scripted:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Collection:
    key: str
    items: list[Any]
    cursor: bool = False


class RestRecorder:
    """Start with ``async with RestRecorder() as rec``; ``rec.url`` is the base URL."""

    def __init__(self, *, token_lifetime: int = 3600) -> None:
        self.requests: list[Recorded] = []
        self.token_lifetime = token_lifetime
        self.tokens_issued = 0
        self._script: deque[Scripted] = deque()
        self._collections: dict[str, Collection] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> RestRecorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def script(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Answer the next request with this (FIFO), before any default behaviour."""
        self._script.append(Scripted(status, body, dict(headers or {})))

    def collection(self, path: str, items: list[Any], *, key: str, cursor: bool = False) -> None:
        """Serve ``items`` at ``path`` with real offset/limit (or cursor) pagination."""
        self._collections[path] = Collection(key, list(items), cursor)

    @property
    def last(self) -> Recorded:
        return self.requests[-1]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec = Recorded(
            method=request.method,
            path=request.path,
            query=list(request.query.items()),
            headers=dict(request.headers),
            body=body,
            raw_path=request.raw_path.split("?", 1)[0],
        )
        self.requests.append(rec)
        if self._script:
            s = self._script.popleft()
            if s.body is None:
                return web.Response(status=s.status, headers=s.headers)
            raw = s.body if isinstance(s.body, bytes) else json.dumps(s.body).encode()
            return web.Response(
                status=s.status, body=raw, headers=s.headers, content_type="application/json"
            )
        if rec.method == "POST" and rec.path == "/oauth/token":
            return self._token(rec)
        if rec.method == "GET" and rec.path in self._collections:
            return web.json_response(self._page(self._collections[rec.path], rec))
        return self._default(rec)

    def _token(self, rec: Recorded) -> web.Response:
        self.tokens_issued += 1
        form = rec.form
        answer = {
            "access_token": f"token-{self.tokens_issued}",
            "token_type": "bearer",
            "expires_in": self.token_lifetime,
            "scope": form.get("scope", "openid write"),
        }
        if form.get("grant_type") != "client_credentials":
            answer["refresh_token"] = f"refresh-{self.tokens_issued}"
        return web.json_response(answer)

    @staticmethod
    def _page(coll: Collection, rec: Recorded) -> dict[str, Any]:
        q = dict(rec.query)
        limit = int(q.get("limit", 25))
        if coll.cursor:
            start = int(q.get("cursor", "0"))
            chunk = coll.items[start : start + limit]
            nxt = start + len(chunk)
            return {
                coll.key: chunk,
                "limit": limit,
                "next_cursor": str(nxt) if nxt < len(coll.items) else None,
            }
        offset = int(q.get("offset", 0))
        chunk = coll.items[offset : offset + limit]
        return {
            coll.key: chunk,
            "limit": limit,
            "offset": offset,
            "more": offset + len(chunk) < len(coll.items),
            "total": len(coll.items) if q.get("total") == "true" else None,
        }

    def _default(self, rec: Recorded) -> web.Response:
        parts = [p for p in rec.path.split("/") if p]
        if parts[:1] == ["abilities"]:
            if len(parts) == 1:
                return web.json_response({"abilities": ["teams", "urgencies"]})
            return web.Response(status=204)
        if rec.method == "DELETE":
            return web.Response(status=204)
        if parts == ["users", "me"]:
            return web.json_response({"user": SAMPLES["user"]})
        last = parts[-1] if parts else ""
        sent = rec.json if rec.body else None
        if last in COLLECTIONS and (len(parts) % 2 == 1 or parts[:1] == ["audit"]):
            singular = COLLECTIONS[last]
            sample = SAMPLES[singular]
            if rec.method == "GET":
                page: dict[str, Any] = {last: [sample], "limit": 25}
                if last == "records":
                    page["next_cursor"] = None
                else:
                    page.update(offset=0, more=False, total=None)
                return web.json_response(page)
            if rec.method == "PUT" and isinstance(sent, dict) and last in sent:
                return web.json_response({last: [{**sample, **i} for i in sent[last]]})
            entity = sent.get(singular, {}) if isinstance(sent, dict) else {}
            return web.json_response({singular: {**sample, **entity}}, status=201)
        if len(parts) >= 2 and parts[-2] in COLLECTIONS:
            singular = COLLECTIONS[parts[-2]]
            entity = sent.get(singular, {}) if isinstance(sent, dict) else {}
            return web.json_response({singular: {**SAMPLES[singular], **entity, "id": last}})
        return web.json_response({"error": {"message": "Not Found", "code": 2100}}, status=404)
