"""Every API request the sandbox received, for tests that count a client's calls exactly.

A connector test asks "did an ack with a note make exactly one status update and one note, and
nothing for the echo?": ``GET /_sandbox/requests`` answers it. Each record has the method, path,
query, which API (``rest``, ``events``, ``oauth``), the answer's status (None while the answer is
pending or when the connection was dropped), the credential (kind and a fingerprint, never the
token), and the injected fault, if any. Admin calls (``/_sandbox/*``) and the status page are not
recorded. The record is bounded; ``forgotten`` counts what fell off its start.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from starlette.types import Message, Send

#: Records kept (oldest forgotten first), so a long benchmark stays bounded in memory.
RECORD_LIMIT = 50_000
_NOT_RECORDED = ("/_sandbox", "/favicon.ico")


def fingerprint(token: str) -> str:
    """How a REST token shows in the record: ``tok_`` and 10 hex digits of its SHA-256."""
    return "tok_" + hashlib.sha256(token.encode()).hexdigest()[:10]


def api_of(path: str) -> str | None:
    """Which API a path belongs to, or None for what is not recorded."""
    if path == "/" or path.startswith(_NOT_RECORDED):
        return None
    if path.startswith("/v2/"):
        return "events"
    if path.startswith("/oauth/"):
        return "oauth"
    return "rest"


@dataclass
class RequestRecord:
    seq: int
    at: str
    method: str
    path: str
    query: str
    api: str
    status: int | None = None
    #: ``{"kind": "account_token"|"user_token"|"oauth", "id": ..., "read_only": bool}``
    credential: dict[str, Any] | None = None
    #: The injected fault that answered (or delayed) it: error, 429, outage, drop, status,
    #: slow_after_write, drop_after_write.
    fault: str | None = None

    def wrap(self, send: Send) -> Send:
        """``send`` that notes the answer's status on this record."""

        async def recording(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.status = int(message["status"])
            await send(message)

        return recording

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "api": self.api,
            "status": self.status,
            "credential": self.credential,
            "fault": self.fault,
        }


class RequestLog:
    """The bounded, ordered record (by arrival) of API requests."""

    def __init__(self, limit: int = RECORD_LIMIT) -> None:
        self.records: deque[RequestRecord] = deque(maxlen=limit)
        self.seq = 0
        self.forgotten = 0

    def start(self, method: str, path: str, query: str, api: str, at: datetime) -> RequestRecord:
        """Record a request as it arrives (its status is filled in when the answer starts)."""
        self.seq += 1
        if len(self.records) == self.records.maxlen:
            self.forgotten += 1
        record = RequestRecord(
            seq=self.seq,
            at=at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            method=method,
            path=path,
            query=query,
            api=api,
        )
        self.records.append(record)
        return record

    def clear(self) -> None:
        """Forget every record (``seq`` keeps counting, so ``after=`` stays meaningful)."""
        self.records.clear()
        self.forgotten = 0

    def select(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        api: str | None = None,
        after: int = 0,
        token: str | None = None,
    ) -> Iterable[RequestRecord]:
        """Records matching every given filter (``path`` ending in ``*`` is a prefix)."""
        wanted_id = fingerprint(token) if token is not None else None
        for record in self.records:
            if record.seq <= after:
                continue
            if method is not None and record.method != method.upper():
                continue
            if path is not None and not _path_matches(path, record.path):
                continue
            if api is not None and record.api != api:
                continue
            if wanted_id is not None and (record.credential or {}).get("id") != wanted_id:
                continue
            yield record


def _path_matches(pattern: str, path: str) -> bool:
    if pattern.endswith("*"):
        return path.startswith(pattern[:-1])
    return path == pattern


def credential_of(principal: dict[str, Any]) -> dict[str, Any]:
    """The record's view of an authenticated caller (no secret in it)."""
    if principal.get("kind") == "oauth":
        grant = principal.get("grant")
        client = getattr(grant, "client_id", None) or "?"
        return {
            "kind": "oauth",
            "id": f"oauth:{client}",
            "user_id": principal.get("user_id"),
            "read_only": False,
        }
    token = str(principal.get("token", ""))
    return {
        "kind": "user_token" if principal.get("user_id") else "account_token",
        "id": fingerprint(token),
        "user_id": principal.get("user_id"),
        "read_only": bool(principal.get("read_only")),
    }
