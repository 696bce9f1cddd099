"""Turn a REST API v2 error answer into pagerbridge's exceptions, and read its rate-limit headers.

Kept apart from the client so the parsing rules (PagerDuty's ``{"error": {...}}`` body, the
``ratelimit-*`` headers, ``Retry-After`` in seconds or as an HTTP date) are tested on their own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any

from pagerbridge.errors import (
    APIError,
    AuthenticationError,
    ForbiddenError,
    NotFoundError,
    RateLimitedError,
    ServerError,
)

#: How much of an unparseable error body is kept in the message (the rest is noise, often HTML).
BODY_EXCERPT_CHARS = 200


@dataclass(frozen=True)
class RateLimitInfo:
    """The ``ratelimit-limit/remaining/reset`` headers of one answer (``None`` where absent)."""

    limit: int | None = None
    remaining: int | None = None
    reset: float | None = None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if key.lower() == name:
            return value
    return None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimitInfo | None:
    """The rate-limit state PagerDuty reported, or ``None`` if the answer carried no such header."""
    limit = _number(_header(headers, "ratelimit-limit"))
    remaining = _number(_header(headers, "ratelimit-remaining"))
    reset = _number(_header(headers, "ratelimit-reset"))
    if limit is None and remaining is None and reset is None:
        return None
    return RateLimitInfo(
        limit=int(limit) if limit is not None else None,
        remaining=int(remaining) if remaining is not None else None,
        reset=reset,
    )


def retry_delay(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Seconds PagerDuty asked us to wait: ``ratelimit-reset`` first, then ``Retry-After``.

    ``Retry-After`` may be a number of seconds or an HTTP date; a date needs ``now`` (UTC).
    """
    reset = _number(_header(headers, "ratelimit-reset"))
    if reset is not None:
        return reset
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    seconds = _number(raw)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(raw.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def _parse_error_body(body: bytes) -> tuple[str | None, int | None, list[str], Any]:
    """PagerDuty's ``{"error": {"message", "code", "errors"}}``; tolerant of anything else."""
    try:
        data: Any = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        text = body.decode("utf-8", "replace").strip()
        excerpt = text[:BODY_EXCERPT_CHARS] + ("..." if len(text) > BODY_EXCERPT_CHARS else "")
        return (excerpt or None), None, [], text
    if not isinstance(data, dict):
        return None, None, [], data
    error = data.get("error")
    if isinstance(error, str):  # some gateways answer {"error": "text"}
        return error, None, [], data
    if not isinstance(error, dict):
        message = data.get("message")
        return (message if isinstance(message, str) else None), None, [], data
    message = error.get("message")
    code = error.get("code")
    errors = error.get("errors")
    if isinstance(errors, str):
        errors = [errors]
    return (
        message if isinstance(message, str) else None,
        code if isinstance(code, int) and not isinstance(code, bool) else None,
        [str(e) for e in errors] if isinstance(errors, list) else [],
        data,
    )


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def error_from_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    method: str = "",
    path: str = "",
    now: datetime | None = None,
) -> APIError:
    """The ``APIError`` subclass for an error status, carrying PagerDuty's message/code/errors."""
    message, code, errors, parsed = _parse_error_body(body)
    text = message or _reason(status)
    if method and path:
        text = f"{method} {path}: {text}"
    kwargs: dict[str, Any] = {"code": code, "errors": errors, "body": parsed}
    if status == 401:
        return AuthenticationError(status, text, **kwargs)
    if status in (402, 403):  # 402: the account lacks an ability; same remedy class as 403
        return ForbiddenError(status, text, **kwargs)
    if status == 404:
        return NotFoundError(status, text, **kwargs)
    if status == 429:
        return RateLimitedError(status, text, retry_after=retry_delay(headers, now=now), **kwargs)
    if status >= 500:
        return ServerError(status, text, **kwargs)
    return APIError(status, text, **kwargs)
