"""One place where exceptions become HTTP answers: a status, a type and a message; no tracebacks.

Database failures arrive classified by cause (:mod:`pagerbridge.incidents.dberrors`): the
request's fault is 422, a conflict 409, an unavailable database 503, anything else 500. The
database's own text (which may quote SQL, values or the URL) goes to the hub's log, passwords
removed, and never to the client: a 503 or 500 says only what happened and where to look.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from pagerbridge.errors import (
    ConflictError,
    IllegalTransitionError,
    IncidentNotFoundError,
    PagerbridgeError,
    QueueFullError,
    SchemaOutdatedError,
    StorageError,
    StoreError,
)
from pagerbridge.incidents.dberrors import describe, redact
from pagerbridge.incidents.errors import (
    AuthenticationRequiredError,
    InvalidInputError,
    ServiceInUseError,
    ServiceNotFoundError,
    TokenNotFoundError,
)
from pagerbridge.server.allow import AllowedMethods

log = logging.getLogger("pagerbridge.server")

#: exception class -> (HTTP status, error type); the first match in order wins.
STATUS: list[tuple[type[PagerbridgeError], int, str]] = [
    (AuthenticationRequiredError, 401, "unauthorized"),
    (InvalidInputError, 422, "invalid_input"),
    (IncidentNotFoundError, 404, "not_found"),
    (ServiceNotFoundError, 404, "not_found"),
    (TokenNotFoundError, 404, "not_found"),
    (IllegalTransitionError, 409, "illegal_transition"),
    (ServiceInUseError, 409, "conflict"),
    (ConflictError, 409, "conflict"),
    (SchemaOutdatedError, 503, "storage"),
    (QueueFullError, 503, "storage"),
    (StorageError, 503, "storage"),
    (StoreError, 500, "internal"),
]

#: What a client is told instead of a database's own words.
UNAVAILABLE_MESSAGE = (
    "the database is unavailable (connection lost, timed out or busy); try again shortly "
    "(details are in the hub's log)"
)
INTERNAL_MESSAGE = "internal error; see the hub's log"
#: Seconds a client should wait after a 503.
RETRY_AFTER = "5"


def _public_message(exc: PagerbridgeError, status: int) -> str:
    """The message a client may see: a database's own text stays in the log."""
    if isinstance(exc, SchemaOutdatedError | QueueFullError):
        return str(exc)
    if isinstance(exc, StorageError):
        return UNAVAILABLE_MESSAGE
    if isinstance(exc, StoreError):
        return INTERNAL_MESSAGE
    return str(exc)


def _log_cause(request: Request, exc: PagerbridgeError, status: int) -> None:
    """Log what the database said, when it said something (never to the client)."""
    cause = exc.__cause__
    if cause is None and not isinstance(exc, StoreError):
        return
    detail = describe(cause) if cause is not None else redact(str(exc))
    level = logging.ERROR if status >= 500 else logging.WARNING
    log.log(level, "%s %s -> %d: %s", request.method, request.url.path, status, detail)


def error_response(
    status: int,
    kind: str,
    message: str,
    errors: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": {"type": kind, "message": message, "errors": errors or []}}
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = RETRY_AFTER
    return JSONResponse(body, status_code=status, headers=headers or None)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(p) for p in loc if p != "body") or "body"


def _describe(error: dict[str, Any]) -> str:
    loc = error.get("loc", ())
    if error.get("type") == "json_invalid":
        at = loc[-1] if loc and isinstance(loc[-1], int) else "?"
        return f"the request body is not valid JSON (error at character {at})"
    return f"{_location(loc)}: {error.get('msg', 'invalid')}"


def install(app: FastAPI) -> None:
    @app.exception_handler(PagerbridgeError)
    async def domain(request: Request, exc: PagerbridgeError) -> JSONResponse:
        status, kind = next(((s, k) for c, s, k in STATUS if isinstance(exc, c)), (400, "error"))
        _log_cause(request, exc, status)
        return error_response(status, kind, _public_message(exc, status))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_describe(e) for e in exc.errors()]
        return error_response(422, "invalid_input", "; ".join(errors) or "invalid request", errors)

    allowed = AllowedMethods()

    @app.exception_handler(HTTPException)
    async def http(request: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed.header(app.routes, request.scope["path"])
        return error_response(exc.status_code, kind, str(exc.detail), headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unexpected error on %s %s: %s: %s",
            request.method,
            request.url.path,
            type(exc).__name__,
            redact(str(exc)),
        )
        return error_response(500, "internal", INTERNAL_MESSAGE)
