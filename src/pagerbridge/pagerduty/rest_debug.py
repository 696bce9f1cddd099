"""``PAGERDUTY_DEBUG=true``: every REST request and answer on the log, secrets redacted.

The REST client calls :func:`exchange` at its one request boundary when the ``wire`` logger is
enabled for debug (:func:`pagerbridge.logs.setup` turns it on when ``PAGERDUTY_DEBUG`` is true;
nothing is formatted otherwise). What is logged: method, URL and query, the headers that matter
(``Authorization`` only as its scheme), the JSON body with every secret-looking value replaced by
``***`` (a webhook subscription's signing secret, tokens, keys), the status, the rate-limit
headers and the time taken. :func:`pagerbridge.logs.redact` runs over the line as a second net.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pagerbridge.logs import WIRE_LOGGER, redact

#: The logger of the wire lines (``PAGERDUTY_DEBUG`` sets it to DEBUG).
WIRE: Final = logging.getLogger(WIRE_LOGGER)
MAX_BODY: Final = 4000
_SECRET_KEY: Final = re.compile(
    r"(?i)(secret|token|password|passwd|api_key|apikey|routing_key|integration_key|service_key"
    r"|authorization|private|signature)"
)
_SHOWN_HEADERS: Final = ("accept", "content-type", "from", "x-request-id", "retry-after")


def enabled() -> bool:
    return WIRE.isEnabledFor(logging.DEBUG)


def scrub(value: Any) -> Any:
    """``value`` (decoded JSON) with every secret-looking key's value replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: "***" if _SECRET_KEY.search(str(k)) and v not in (None, "") else scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _body(payload: bytes | None) -> str:
    if not payload:
        return "-"
    try:
        text = json.dumps(scrub(json.loads(payload)), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        text = payload.decode("utf-8", "replace")
    if len(text) > MAX_BODY:
        text = text[:MAX_BODY] + f"… ({len(text)} characters)"
    return text


def _headers(headers: Mapping[str, str]) -> str:
    shown = {}
    for key, value in headers.items():
        lower = key.lower()
        if lower == "authorization":
            shown[key] = value.split(" ", 1)[0] + " ***"
        elif lower in _SHOWN_HEADERS or lower.startswith("ratelimit"):
            shown[key] = value
    return json.dumps(shown, ensure_ascii=False, separators=(",", ":"))


def request(
    method: str,
    url: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes | None,
) -> None:
    """One request, before it is sent."""
    q = "&".join(f"{k}={v}" for k, v in query)
    WIRE.debug(
        redact(
            f"PagerDuty request: {method} {url}{'?' + q if q else ''} headers={_headers(headers)} "
            f"body={_body(body)}"
        )
    )


def response(
    method: str,
    url: str,
    status: int,
    headers: Mapping[str, str],
    payload: bytes,
    seconds: float,
) -> None:
    """The answer to one request."""
    WIRE.debug(
        redact(
            f"PagerDuty response: {method} {url} -> {status} in {seconds * 1000:.0f}ms "
            f"headers={_headers(headers)} body={_body(payload)}"
        )
    )
