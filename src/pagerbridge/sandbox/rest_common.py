"""What every REST API v2 handler shares: errors, wrapping, classic pagination, filters, ``From``.

Shapes follow PagerDuty's developer docs (REST-API/09-Pagination.md, 12-Wrapped-Entities.md,
14-Errors.md): errors are ``{"error": {"message", "code", "errors"}}``; lists are wrapped in the
plural resource name with ``limit``/``offset``/``more``/``total``; ``offset + limit`` may not pass
10,000.
"""

from __future__ import annotations

import json
import math
from calendar import monthrange
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from pagerbridge.sandbox.gate import PRINCIPAL_KEY
from pagerbridge.sandbox.runtime import Runtime
from pagerbridge.sandbox.state import LATEST, Resource, SandboxState, parse_time, shifted

PAGE_DEFAULT = 25
PAGE_MAX = 100
PAGINATION_CAP = 10_000


class RestError(Exception):
    """Raised by handlers; turned into PagerDuty's error body by :func:`rest_error_handler`."""

    def __init__(
        self, status: int, message: str, code: int, errors: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.errors = errors


def invalid_input(*errors: str) -> RestError:
    return RestError(400, "Invalid Input Provided", 2001, list(errors))


async def rest_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RestError)
    error: dict[str, Any] = {"message": exc.message, "code": exc.code}
    if exc.errors is not None:
        error["errors"] = exc.errors
    return JSONResponse({"error": error}, status_code=exc.status)


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own 404/405 (no such route or method) in PagerDuty's error shape."""
    status = int(getattr(exc, "status_code", 500))
    message = {404: "Not Found", 405: "Method Not Allowed"}.get(status, "Error")
    code = 2100 if status == 404 else 2001
    errors = [f"{request.method} {request.url.path} is not an operation of this API"]
    return JSONResponse({"error": {"message": message, "code": code, "errors": errors}}, status)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def state_of(request: Request) -> SandboxState:
    return runtime_of(request).state


def principal(request: Request) -> dict[str, Any]:
    found: dict[str, Any] = request.scope.get(PRINCIPAL_KEY) or {}
    return found


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is out of range")
    return number


def parse_json(raw: bytes) -> Any:
    """Strict JSON: ``NaN``/``Infinity`` (and numbers that overflow to them) are errors.

    Python's parser accepts them, but they are not JSON, PagerDuty refuses them, and once
    stored they would make every later answer that shows them fail to encode.
    """
    return json.loads(raw, parse_constant=_no_constant, parse_float=_finite)


async def read_body(request: Request, wrapper: str | None = None) -> dict[str, Any]:
    """The JSON object body; with ``wrapper``, the object under that key (required)."""
    raw = await request.body()
    try:
        data = parse_json(raw) if raw else None
    except ValueError as exc:
        raise invalid_input(f"the body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise invalid_input("the body must be a JSON object")
    if wrapper is None:
        return data
    inner = data.get(wrapper)
    if not isinstance(inner, dict):
        raise invalid_input(f"'{wrapper}' must be an object")
    return inner


def requester(request: Request, *, required: bool = True) -> str | None:
    """The acting user: the ``From`` header's email (account tokens) or the token's user."""
    who = principal(request)
    state = state_of(request)
    email = request.headers.get("from")
    if email:
        user = state.user_by_email(email)
        if user is None:
            raise RestError(400, "Requester User Not Found", 1008, [f"no user has email {email}"])
        return str(user["id"])
    if who.get("user_id"):
        return str(who["user_id"])
    if required:
        raise RestError(
            400,
            "You must specify a requester_id to perform this action",
            2011,
            ["the 'From' header must hold the email address of a valid user"],
        )
    return None


def multi(request: Request, name: str) -> list[str]:
    """A list filter: ``name[]=a&name[]=b`` (also accepts ``name=a,b``)."""
    values = request.query_params.getlist(name + "[]")
    if not values and name in request.query_params:
        values = [v for v in request.query_params[name].split(",") if v]
    return values


def flag(request: Request, name: str) -> bool:
    return request.query_params.get(name, "false").lower() == "true"


def includes(request: Request) -> set[str]:
    return set(multi(request, "include"))


def int_param(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise invalid_input(f"'{name}' must be an integer, got {text!r}") from exc


def time_param(request: Request, name: str) -> datetime | None:
    text = request.query_params.get(name)
    if not text:
        return None
    try:
        return parse_time(text)
    except ValueError as exc:
        raise RestError(
            400,
            "Invalid time values in 'since' and/or 'until' parameters",
            2004,
            [f"'{name}' is not an ISO 8601 date: {text!r}"],
        ) from exc


#: PagerDuty's widest ``since``/``until`` search on ``/incidents`` ("Maximum range is 6 months").
MAX_RANGE_MONTHS = 6
RANGE_TOO_LONG = "the date range is too long: 'since' and 'until' may be at most 6 months apart"


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months later (the day held to the month's
    end: Aug 31 + 6 months is Feb 28/29), held at year 9999."""
    years, month0 = divmod(moment.month - 1 + months, 12)
    year = moment.year + years
    if year > LATEST.year:
        return LATEST
    month = month0 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, monthrange(year, month)[1]))


def time_range(
    request: Request, *, default_days: int | None = 30, max_months: int | None = None
) -> tuple[datetime | None, datetime | None]:
    """``since``/``until`` (``date_range=all`` ignores them); default: the last month.

    With ``max_months`` (``/incidents``, ``/log_entries``), a range wider than that is a 400
    as PagerDuty answers it (code 2001), the end of a range given only by ``since`` is now, and
    ``until`` alone searches the month before it.
    """
    if request.query_params.get("date_range") == "all":
        return None, None
    since = time_param(request, "since")
    until = time_param(request, "until")
    now = state_of(request).now()
    if since is None and until is None and default_days is not None:
        return now - timedelta(days=default_days), None
    if since is not None and until is not None and since > until:
        raise RestError(400, "Invalid Query Date Range", 2005, ["'since' is after 'until'"])
    if max_months is not None:
        if since is None and until is not None and default_days is not None:
            since = shifted(until, -timedelta(days=default_days))
        end = until if until is not None else now
        if since is not None and end > add_months(since, max_months):
            raise invalid_input(RANGE_TOO_LONG)
    return since, until


def page(
    request: Request,
    plural: str,
    items: list[Resource],
    *,
    extra: dict[str, Any] | None = None,
    present: Callable[[Resource], Resource] | None = None,
) -> JSONResponse:
    """Classic pagination over ``items`` (already filtered and sorted); ``present`` shapes only
    the page that is returned."""
    limit = int_param(request, "limit", PAGE_DEFAULT)
    offset = int_param(request, "offset", 0)
    if limit < 1 or offset < 0:
        raise invalid_input("'limit' must be positive and 'offset' not negative")
    limit = min(limit, PAGE_MAX)
    if offset + limit > PAGINATION_CAP:
        raise invalid_input(
            f"offset + limit must not exceed {PAGINATION_CAP} (classic pagination's maximum)"
        )
    chunk = items[offset : offset + limit]
    if present is not None:
        chunk = [present(item) for item in chunk]
    body: dict[str, Any] = {
        plural: chunk,
        "limit": limit,
        "offset": offset,
        "more": offset + len(chunk) < len(items),
        "total": len(items) if flag(request, "total") else None,
    }
    if extra:
        body.update(extra)
    return JSONResponse(body)


def wrapped(name: str, resource: Resource, status: int = 200) -> JSONResponse:
    return JSONResponse({name: resource}, status_code=status)


def by_query(request: Request, items: Iterable[Resource], *fields: str) -> list[Resource]:
    """PagerDuty's ``query`` filter: case-insensitive substring of any of ``fields``."""
    query = request.query_params.get("query", "").lower()
    if not query:
        return list(items)
    return [i for i in items if any(query in str(i.get(f, "")).lower() for f in fields)]


def sort_items(
    items: list[Resource], sort_by: str | None, allowed: dict[str, Callable[[Resource], Any]]
) -> list[Resource]:
    """``sort_by=field[:asc|:desc]`` over the ``allowed`` keys; unknown fields are a 400."""
    if not sort_by:
        return items
    for part in reversed(sort_by.split(",")):
        name, _, direction = part.partition(":")
        if name not in allowed or direction not in ("", "asc", "desc"):
            raise invalid_input(
                f"'sort_by' {part!r} is not supported (one of {', '.join(sorted(allowed))})"
            )
        items = sorted(items, key=allowed[name], reverse=direction == "desc")
    return items


def ref_id(value: Any, field: str) -> str:
    """The id of a ``{"id": ...}`` reference in a request body (a non-empty string)."""
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise invalid_input(f"'{field}' must be a reference object with a string 'id'")
    rid: str = value["id"]
    return rid


def reference_ids(value: Any, field: str) -> list[str]:
    """Ids from a list of ``{"id": ...}`` references in a request body."""
    if not isinstance(value, list):
        raise invalid_input(f"'{field}' must be an array of references with an 'id'")
    return [ref_id(v, f"{field}[{index}]") for index, v in enumerate(value)]


async def client_gone_handler(request: Request, exc: Exception) -> Response:
    """The client hung up before its body arrived (a killed sender, a timeout): nobody is left
    to answer, and it is no sandbox error, so no traceback is logged."""
    return Response(status_code=400)


async def internal_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A bug in the sandbox still answers like PagerDuty (500, code 2000), never HTML."""
    return JSONResponse(
        {
            "error": {
                "message": "An internal error has occurred. PagerDuty team has been notified.",
                "code": 2000,
                "errors": [f"sandbox bug: {type(exc).__name__}"],
            }
        },
        status_code=500,
    )
