"""One log format for every pagerbridge server (agent, hub, sandbox), text or JSON lines.

Why one module: the agent, the hub and the sandbox used to log through uvicorn's formatter,
``logging.basicConfig`` and nothing at all, so one machine's log had three shapes. Every line
now carries the time (UTC, ISO 8601), the level, the logger and the message; ``--log-format
json`` writes the same as one JSON object per line for log shippers. The servers hand uvicorn
``log_config=None``, so its lines take this format too.

Secrets never reach a log: code does not log them, and :func:`redact` is the safety net every
line passes through (passwords in URLs, ``password=``/``token=``-style settings, bearer and
PagerDuty tokens in headers, routing keys in JSON or ``key=value`` text).

Standard library only. Entry points call :func:`setup`; library code only calls
``logging.getLogger(__name__)``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

LEVELS = ("debug", "info", "warning", "error")
FORMATS = ("text", "json")
#: Defaults for processes started without flags (uvicorn's worker processes of ``im serve``).
LEVEL_ENV = "PAGERBRIDGE_LOG_LEVEL"
FORMAT_ENV = "PAGERBRIDGE_LOG_FORMAT"

#: ``PAGERDUTY_DEBUG=true``: the PagerDuty REST client's requests and answers at debug, redacted
#: (``pagerbridge.pagerduty.rest_debug`` writes them on this logger).
PAGERDUTY_DEBUG_ENV = "PAGERDUTY_DEBUG"
WIRE_LOGGER = "pagerbridge.pagerduty.wire"

#: The choice of the last :func:`setup` (see :func:`environment`).
_chosen: dict[str, str] = {}

#: Loggers whose INFO lines are noise for an operator (Alembic's step-by-step migration lines).
_QUIET = ("alembic",)

_SECRET_KEYS = (
    r"password|passwd|pwd|secret|client_secret|token|access_token|refresh_token|api_key|apikey"
    r"|routing_key|integration_key|service_key"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host
    (re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@"), r"\1***@"),
    # Authorization: Bearer x / Token token=x ; X-Pagerbridge-Token: x
    (
        re.compile(
            r"(?i)(\bauthorization[\"']?\s*[:=]\s*[\"']?(?:bearer|token|basic)\s+)"
            r"[^\s\"',]+"
        ),
        r"\1***",
    ),
    (re.compile(r"(?i)(\bx-pagerbridge-token[\"']?\s*[:=]\s*[\"']?)[^\s\"',]+"), r"\1***"),
    # "routing_key": "abc"  /  'token': 'abc'
    (re.compile(rf"(?i)([\"'](?:{_SECRET_KEYS})[\"']\s*:\s*[\"'])[^\"']*"), r"\1***"),
    # password=abc  token=abc  routing_key=abc (URLs, DSNs, key=value text)
    (re.compile(rf"(?i)(\b(?:{_SECRET_KEYS})=)[^\s&;,'\"]+"), r"\1***"),
)


def redact(text: str) -> str:
    """``text`` with every secret the patterns know replaced by ``***``."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class TextFormatter(logging.Formatter):
    """``2026-05-01T10:00:00.123Z WARNING pagerbridge.outbox.worker: message``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        return redact(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message`` (``exception``)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if record.exc_info:
            data["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=False)


def check_level(value: str) -> str:
    """``value`` as one of :data:`LEVELS`; ValueError naming the choices otherwise."""
    level = value.strip().lower()
    if level not in LEVELS:
        raise ValueError(f"log level {value!r} is not one of {', '.join(LEVELS)}")
    return level


def check_format(value: str) -> str:
    """``value`` as one of :data:`FORMATS`; ValueError naming the choices otherwise."""
    fmt = value.strip().lower()
    if fmt not in FORMATS:
        raise ValueError(f"log format {value!r} is not one of {', '.join(FORMATS)}")
    return fmt


def setup(
    level: str | None = None, fmt: str | None = None, *, stream: TextIO | None = None
) -> None:
    """Send every log record to ``stream`` (stderr) in one format; replaces earlier handlers.

    ``None`` takes ``$PAGERBRIDGE_LOG_LEVEL`` / ``$PAGERBRIDGE_LOG_FORMAT``, else ``info`` /
    ``text``. At ``info`` warnings (a rejected event, a held row, a database outage) show.
    Also exports the choice, so worker processes a server spawns log the same way.
    """
    level = check_level(level or os.environ.get(LEVEL_ENV) or "info")
    fmt = check_format(fmt or os.environ.get(FORMAT_ENV) or "text")
    _chosen.update({LEVEL_ENV: level, FORMAT_ENV: fmt})
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in _QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    pagerduty_debug()
    logging.captureWarnings(True)


def pagerduty_debug() -> bool:
    """``PAGERDUTY_DEBUG=true``: the wire logger at DEBUG, whatever the level (entry points)."""
    if os.environ.get(PAGERDUTY_DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on"):
        logging.getLogger(WIRE_LOGGER).setLevel(logging.DEBUG)
        return True
    return False


def environment() -> dict[str, str]:
    """The last :func:`setup`'s choice as environment variables, for the processes a server
    starts (uvicorn's workers), so they log the same way."""
    return dict(_chosen)
