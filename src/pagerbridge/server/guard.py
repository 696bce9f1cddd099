"""The hub refuses, before any handler runs, a request body it would not store or could not serve.

Why: FastAPI parses bodies with Python's lenient ``json`` (``NaN``, ``Infinity``, ``1e400``,
integers of any size, ``"\\u0000"``, lone surrogates all pass), and what passed was stored by one
database, refused by the other with its own error text, or broke every later read. Here, for every
route (the FastAPI ones and the plain ones in :mod:`pagerbridge.server.hot`):

- a body over :data:`BODY_MAX_BYTES` is answered 413 (from ``Content-Length`` at once, else
  while it streams), and nothing more of it is buffered;
- a JSON body (``application/json``, ``+json`` or no content type, as FastAPI decides) must be
  strict JSON in UTF-8: no NaN or Infinity, integers within 64 bits, no NUL characters or lone
  surrogates in any string or key, nesting at most :data:`BODY_DEPTH_MAX` levels; otherwise 422
  naming the place (``custom_fields.n: NaN and Infinity are not JSON numbers ...``).

Field limits (title, description, notes) are the domain's (:mod:`pagerbridge.incidents.limits`),
so ``im`` without a hub refuses the same values.
"""

from __future__ import annotations

import json
from email.message import Message
from typing import Any, Final

from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.types import Message as AsgiMessage

from pagerbridge.incidents import jsonvalues
from pagerbridge.incidents.limits import INT64_MAX, JSON_DEPTH_MAX
from pagerbridge.server.errors import error_response

#: Request bodies: 1 MiB.
BODY_MAX_BYTES: Final = 1024 * 1024
#: An oversized body up to this size is read and dropped so the client (which may send it all
#: before reading) gets the 413; a larger one is answered at once.
DRAIN_MAX_BYTES: Final = 16 * 1024 * 1024
#: The body object plus a custom field nested JSON_DEPTH_MAX levels.
BODY_DEPTH_MAX: Final = JSON_DEPTH_MAX + 1
#: Digits beyond any 64-bit integer: longer literals are refused before conversion (Python
#: refuses to convert more than 4300 digits at all, with a ValueError).
_INT_DIGITS_MAX: Final = len(str(INT64_MAX)) + 1
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class BodyRefused(Exception):
    """A body the hub will not take: its HTTP status, error type and message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI would parse a body with this content type as JSON (none counts)."""
    if not content_type or content_type == "application/json":  # the common case, parsed fast
        return True
    message = Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def _int(text: str) -> int:
    digits = text.lstrip("-")
    return int(text) if len(digits) <= _INT_DIGITS_MAX else INT64_MAX + 1  # refused below


def strict_loads(raw: bytes) -> Any:
    """The JSON in ``raw``, or BodyRefused (422) saying what is wrong and where."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(
            422, "invalid_input", f"the request body is not UTF-8 (bad byte at {exc.start})"
        ) from None
    try:
        value = json.loads(text, parse_int=_int)
    except json.JSONDecodeError as exc:
        raise BodyRefused(
            422,
            "invalid_input",
            f"the request body is not valid JSON (error at character {exc.pos})",
        ) from None
    except RecursionError:
        raise BodyRefused(
            422, "invalid_input", f"body: nested more than {BODY_DEPTH_MAX} levels deep"
        ) from None
    found = jsonvalues.problem(value, root="body", depth_max=BODY_DEPTH_MAX)
    if found:
        raise BodyRefused(422, "invalid_input", found)
    return value


def too_large() -> BodyRefused:
    return BodyRefused(
        413,
        "too_large",
        f"the request body is larger than {BODY_MAX_BYTES:,} bytes (1 MiB), the hub's limit",
    )


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope["headers"]:
        if name == wanted:
            return bytes(value).decode("latin-1")
    return None


async def _drain(receive: Receive, seen: int) -> None:
    """Read and drop the rest of a body, up to DRAIN_MAX_BYTES in all."""
    more = True
    while more and seen <= DRAIN_MAX_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        more = message.get("more_body", False)


class BodyGuard:
    """ASGI middleware: buffers a request body (at most BODY_MAX_BYTES), refuses it with 413 or
    422 as above, or hands it on unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        try:
            raw = await self._read(scope, receive)
            if raw is None:
                return  # the client went away
            if raw and is_json(_header(scope, b"content-type")):
                strict_loads(raw)
        except BodyRefused as refused:
            await error_response(refused.status, refused.kind, refused.message)(
                scope, receive, send
            )
            return
        delivered = False

        async def replay() -> AsgiMessage:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": raw, "more_body": False}

        await self.app(scope, replay, send)

    async def _read(self, scope: Scope, receive: Receive) -> bytes | None:
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > BODY_MAX_BYTES:
            expect = (_header(scope, b"expect") or "").lower()
            if expect != "100-continue":  # a client waiting for 100 Continue sends nothing
                await _drain(receive, 0)
            raise too_large()
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None
            chunk: bytes = message.get("body", b"")
            more = message.get("more_body", False)
            size += len(chunk)
            if size > BODY_MAX_BYTES:
                if more:
                    await _drain(receive, size)
                raise too_large()
            chunks.append(chunk)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
