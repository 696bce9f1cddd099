"""One place where exceptions become HTTP answers: a status, a type and a message; no tracebacks."""

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
    StoreError,
)
from pagerbridge.incidents.errors import (
    AuthenticationRequiredError,
    InvalidInputError,
    ServiceInUseError,
    ServiceNotFoundError,
    TokenNotFoundError,
)

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
    (StoreError, 503, "storage"),
]


def error_response(
    status: int, kind: str, message: str, errors: list[str] | None = None
) -> JSONResponse:
    body: dict[str, Any] = {"error": {"type": kind, "message": message, "errors": errors or []}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


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
    async def domain(_: Request, exc: PagerbridgeError) -> JSONResponse:
        for cls, status, kind in STATUS:
            if isinstance(exc, cls):
                return error_response(status, kind, str(exc))
        return error_response(400, "error", str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_describe(e) for e in exc.errors()]
        return error_response(422, "invalid_input", "; ".join(errors) or "invalid request", errors)

    @app.exception_handler(HTTPException)
    async def http(_: Request, exc: HTTPException) -> JSONResponse:
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return error_response(exc.status_code, kind, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error: %s: %s", type(exc).__name__, exc)
        return error_response(500, "internal", "internal error; see the hub's log")
