"""What became of one Events API request: accepted, retry later, or rejected for good.

The sender only *classifies*; the queue owns backoff and deadlines (as in Alertmanager's
PagerDuty notifier). Standard library only: ``pd-send`` and the outbox worker import it.

=====================================  ==========  ===========================================
answer                                 outcome     notes
=====================================  ==========  ===========================================
2xx                                    Accepted    ``dedup_key`` and ``message`` from the body
                                                   (``None``/"" when the body is not JSON)
408 Request Timeout, 425 Too Early     Retry       ``delay`` from the headers, if any
429 Too Many Requests                  Retry       ``delay`` from ``Retry-After`` (seconds or
                                                   an HTTP date), else ``ratelimit-reset``
5xx                                    Retry       same ``delay`` rules as 429
413 Payload Too Large                  Rejected    retrying the same bytes cannot succeed
3xx                                    Rejected    the events URL is wrong (redirects are not
                                                   followed for a POST); ``Location`` is named
other 4xx (400, 401, 403, 404, ...)    Rejected    PagerDuty's ``message`` and ``errors``
1xx or unknown statuses                Retry       nothing final was said
no answer (refused, reset, timeout)    Retry       produced by the client, not by ``classify``
=====================================  ==========  ===========================================

A body that is not JSON (a proxy's HTML page, an empty body) never breaks classification: the
message then quotes the start of the body as text.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: How much of a non-JSON body is quoted in a message.
BODY_QUOTE_MAX = 200
#: Statuses below 500 that still mean "try again later".
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Accepted:
    """PagerDuty took the event (2xx)."""

    dedup_key: str | None
    status: int
    message: str


@dataclass(frozen=True)
class Retry:
    """Not delivered, worth trying again; ``delay`` is the server's hint in seconds, if any."""

    reason: str
    delay: float | None = None
    status: int | None = None


@dataclass(frozen=True)
class Rejected:
    """PagerDuty (or something in front of it) refused for good: dead-letter, keep the text."""

    status: int
    message: str
    errors: list[str] = field(default_factory=list)


Outcome = Accepted | Retry | Rejected


def with_status(status: int | None, text: str) -> str:
    """``HTTP 500: text``, unless ``text`` already names ``HTTP 500`` (then it is kept as is).

    ``classify`` puts the status into its own texts (``HTTP 502: Bad Gateway``, ``HTTP 429 with
    an empty body``); whoever records an outcome calls this so a row never reads
    ``HTTP 500: HTTP 500: …``.
    """
    if status is None:
        return text
    prefix = f"HTTP {status}"
    start = text.find(prefix)
    while start >= 0:
        end = start + len(prefix)
        if end == len(text) or not text[end].isdigit():
            return text
        start = text.find(prefix, end)
    return f"{prefix}: {text}" if text else prefix


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup that works for plain dicts and multidicts alike."""
    value = headers.get(name)
    if value is not None:
        return value
    lower = name.lower()
    for key, val in headers.items():
        if key.lower() == lower:
            return val
    return None


def retry_delay(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait according to ``Retry-After`` (seconds or HTTP date) or ``ratelimit-reset``.

    Returns ``None`` when neither header is present or parseable; never a negative number.
    """
    retry_after = _header(headers, "Retry-After")
    if retry_after is not None:
        delay = _parse_retry_after(retry_after.strip(), time.time() if now is None else now)
        if delay is not None:
            return delay
    reset = _header(headers, "ratelimit-reset")
    if reset is not None:
        try:
            seconds = float(reset.strip())
        except ValueError:
            return None
        if seconds == seconds and seconds != float("inf"):  # not NaN / inf
            return max(0.0, seconds)
    return None


def _parse_retry_after(value: str, now: float) -> float | None:
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds == float("inf"):
            return None
        return max(0.0, seconds)
    from email.utils import parsedate_to_datetime  # only for HTTP dates: keeps start-up cheap

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return max(0.0, when.timestamp() - now)


def _decode(body: bytes) -> tuple[Any, str]:
    """The parsed JSON body (or ``None``) and a short text quote of it."""
    text = body[: BODY_QUOTE_MAX * 4].decode("utf-8", errors="replace").strip()
    quote = text[:BODY_QUOTE_MAX] + ("…" if len(text) > BODY_QUOTE_MAX else "")
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, UnicodeDecodeError):
        parsed = None
    return parsed, quote


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _error_list(value: Any) -> list[str]:
    if isinstance(value, list):
        return [item if isinstance(item, str) else json.dumps(item) for item in value]
    if isinstance(value, str):
        return [value]
    return []


def _describe(status: int, parsed: Any, quote: str) -> tuple[str, list[str]]:
    """PagerDuty's message and errors, or a quote of whatever else answered."""
    if isinstance(parsed, dict):
        message = _text(parsed.get("message")) or _text(parsed.get("status"))
        errors = _error_list(parsed.get("errors"))
        if isinstance(parsed.get("error"), dict):  # REST-style {"error": {...}} bodies
            inner = parsed["error"]
            message = message or _text(inner.get("message"))
            errors = errors or _error_list(inner.get("errors"))
        if message or errors:
            return message or f"HTTP {status}", errors
    if quote:
        return f"HTTP {status}: {quote}", []
    return f"HTTP {status} with an empty body", []


def classify(
    status: int, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> Outcome:
    """Turn one HTTP answer into an outcome (see the table in the module docstring).

    ``now`` (epoch seconds) is the clock used to turn an HTTP-date ``Retry-After`` into a delay.
    """
    parsed, quote = _decode(body)
    if 200 <= status < 300:
        dedup_key = parsed.get("dedup_key") if isinstance(parsed, dict) else None
        message = _text(parsed.get("message")) if isinstance(parsed, dict) else ""
        return Accepted(
            dedup_key=dedup_key if isinstance(dedup_key, str) else None,
            status=status,
            message=message,
        )
    message, errors = _describe(status, parsed, quote)
    if status >= 500 or status in RETRYABLE_4XX or status < 200 or status >= 600:
        detail = f"{message}: {'; '.join(errors)}" if errors else message
        if not detail.startswith("HTTP "):
            detail = f"HTTP {status}: {detail}"
        return Retry(reason=detail, delay=retry_delay(headers, now=now), status=status)
    if 300 <= status < 400:
        location = _header(headers, "Location")
        where = f" to {location}" if location else ""
        return Rejected(
            status=status,
            message=f"HTTP {status}: redirected{where}; check the events URL "
            "(redirects are not followed for events)",
            errors=errors,
        )
    if status == 413:
        return Rejected(
            status=status,
            message=f"{message} (the event is too large; PagerDuty accepts at most 512 KB)",
            errors=errors,
        )
    return Rejected(status=status, message=message, errors=errors)
