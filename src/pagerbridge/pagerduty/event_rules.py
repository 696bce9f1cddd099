"""The Events API v2 rules, in one place: every caller (models, pd-send, agent, sandbox) uses this.

Standard library only, because ``pd-send`` validates on its start-up path before it writes the
outbox. The rules come from PagerDuty's developer docs (``events-API-v2/02-Trigger-Events.md``,
``03-Change-Events.md``, ``01-Overview.md``); the limits are named in ``limits``.

What ``normalise_event`` does, beyond checking:

- a ``payload.summary`` longer than ``SUMMARY_MAX`` is truncated and ends with
  ``TRUNCATION_MARKER`` (truncation, not rejection: a page with a cut summary beats no page);
- an event over ``EVENT_MAX_BYTES`` gets its ``payload.custom_details`` replaced by a note that
  says so; if it is still too large, that is an error;
- ``payload.timestamp`` is filled with ``now`` (ISO 8601, UTC) when absent and ``now`` is given;
  a ``datetime`` is written as ISO 8601;
- optional fields whose value is ``None`` are dropped; unknown fields pass through untouched
  (PagerDuty ignores them).

Errors are collected, not stopped at the first, and phrased like PagerDuty's own
(``'payload.severity' is invalid (must be one of critical, error, warning, info)``).

Change events: the OpenAPI document allows ``images`` on them while the docs list only
``links``; we follow the OpenAPI here (accept and check them), because PagerDuty's own example
change event carries images and is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from pagerbridge.errors import ConfigError, EventValidationError
from pagerbridge.pagerduty import jsonfast
from pagerbridge.pagerduty.limits import (
    CHANGE_ENQUEUE_PATH,
    DEDUP_KEY_MAX,
    ENQUEUE_PATH,
    EVENT_ACTIONS,
    EVENT_MAX_BYTES,
    ROUTING_KEY_LENGTH,
    SEVERITIES,
    SUMMARY_MAX,
    TRUNCATION_MARKER,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "encode_event",
    "events_base",
    "events_url",
    "format_timestamp",
    "normalise_event",
    "normalise_event_text",
    "truncate_summary",
]

#: The object that replaces ``payload.custom_details`` when the event is too large.
OVERSIZE_NOTE_KEY = "pagerbridge_note"


def encode_event(event: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the exact bytes sent, and the bytes the 512 KB limit counts."""
    return jsonfast.dumps(
        event, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def events_url(base: str, *, change: bool = False) -> str:
    """The enqueue URL for ``base``, which may be a bare base or already end in an enqueue path."""
    return events_base(base) + (CHANGE_ENQUEUE_PATH if change else ENQUEUE_PATH)


def events_base(url: str) -> str:
    """The canonical Events API base of ``url``: what an outbox row records as its destination.

    ``HTTPS://Events.PagerDuty.com/v2/enqueue/`` and ``https://events.pagerduty.com`` are one
    destination: scheme and host are lower-cased, the enqueue path and trailing slashes dropped.
    """
    text = url.strip().rstrip("/")
    scheme, sep, rest = text.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest:
        raise ConfigError(f"events URL {url!r} must start with http:// or https://")
    host, slash, path = rest.partition("/")
    path = slash + path
    for suffix in (CHANGE_ENQUEUE_PATH, ENQUEUE_PATH, "/v2"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return f"{scheme.lower()}://{host.lower()}{path.rstrip('/')}"


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def truncate_summary(summary: str) -> str:
    """``summary`` cut to ``SUMMARY_MAX`` characters, ending with the marker if it was cut."""
    if len(summary) <= SUMMARY_MAX:
        return summary
    return summary[: SUMMARY_MAX - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER


class _Checker:
    """Collects every problem, so one round-trip tells the user all of them."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def missing(self, field: str, why: str = "") -> None:
        self.errors.append(f"'{field}' is missing or blank" + (f" ({why})" if why else ""))

    def invalid(self, field: str, why: str) -> None:
        self.errors.append(f"'{field}' is invalid ({why})")

    def required_text(self, obj: dict[str, Any], key: str, field: str, why: str = "") -> bool:
        value = obj.get(key)
        if value is not None and not isinstance(value, str):
            self.invalid(field, f"must be a string, got {_kind(value)}")
            return False
        if not value or not value.strip():
            self.missing(field, why)
            return False
        return True

    def optional_text(self, obj: dict[str, Any], key: str, field: str) -> None:
        if key in obj and obj[key] is None:
            del obj[key]
        elif key in obj and not isinstance(obj[key], str):
            self.invalid(field, f"must be a string, got {_kind(obj[key])}")


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def normalise_event(
    data: Mapping[str, Any], *, change: bool = False, now: datetime | None = None
) -> dict[str, Any]:
    """Check an alert event (or, with ``change=True``, a change event); return it normalised.

    Raises ``EventValidationError`` listing every problem. The input is never modified.
    """
    return normalise_event_text(data, change=change, now=now)[0]


def normalise_event_text(
    data: Mapping[str, Any], *, change: bool = False, now: datetime | None = None
) -> tuple[dict[str, Any], str]:
    """:func:`normalise_event`, plus the compact JSON text of the result.

    The size check has to encode the event anyway; callers that store or send it (the outbox)
    reuse that text instead of encoding a second time. ``text.encode()`` equals
    ``encode_event(event)``.
    """
    if not isinstance(data, Mapping):
        raise EventValidationError([f"the event must be a JSON object, got {_kind(data)}"])
    event = dict(data)
    check = _Checker()

    if check.required_text(event, "routing_key", "routing_key"):
        length = len(event["routing_key"])
        if length != ROUTING_KEY_LENGTH:
            check.invalid("routing_key", f"must be {ROUTING_KEY_LENGTH} characters, got {length}")
        elif not _storable_key(event["routing_key"]):
            check.invalid("routing_key", KEY_CHARACTERS)

    action: str | None = None
    if not change:
        action = _check_action(event, check)
        _check_dedup_key(event, action, check)

    if change or action == "trigger":
        payload = _check_payload(event, change=change, now=now, check=check)
        if payload is not None:
            event["payload"] = payload
    elif event.get("payload") is not None and not isinstance(event["payload"], Mapping):
        # PagerDuty ignores an acknowledge's or resolve's payload, but answers 400 when it is
        # not an object: refused here, not retried against PagerDuty for a day.
        check.invalid("payload", f"must be an object, got {_kind(event['payload'])}")
    _check_images(event, check)
    _check_links(event, check)
    if not change:
        check.optional_text(event, "client", "client")
        check.optional_text(event, "client_url", "client_url")

    text = _check_size(event, check) if not check.errors else None
    if check.errors or text is None:
        raise EventValidationError(check.errors)
    return event, text


def _check_action(event: dict[str, Any], check: _Checker) -> str | None:
    action = event.get("event_action")
    if action is None or action == "":
        check.missing("event_action", f"must be one of {', '.join(EVENT_ACTIONS)}")
        return None
    if action not in EVENT_ACTIONS:
        check.invalid("event_action", f"must be one of {', '.join(EVENT_ACTIONS)}")
        return None
    return str(action)


def _check_dedup_key(event: dict[str, Any], action: str | None, check: _Checker) -> None:
    if event.get("dedup_key", "") is None:
        del event["dedup_key"]
    if "dedup_key" not in event:
        if action in ("acknowledge", "resolve"):
            check.missing("dedup_key", f"required for {action} events")
        return
    key = event["dedup_key"]
    if not isinstance(key, str):
        check.invalid("dedup_key", f"must be a string, got {_kind(key)}")
    elif not key.strip():
        if action in ("acknowledge", "resolve"):
            check.missing("dedup_key", f"required for {action} events")
        else:
            check.invalid(
                "dedup_key", "must not be blank; leave it out to let PagerDuty generate one"
            )
    elif len(key) > DEDUP_KEY_MAX:
        check.invalid("dedup_key", f"must be at most {DEDUP_KEY_MAX} characters, got {len(key)}")
    elif not _storable_key(key):
        check.invalid("dedup_key", KEY_CHARACTERS)


#: Why a key with a NUL byte or a lone surrogate is refused: keys are stored and matched as text
#: (PostgreSQL's text cannot hold NUL; neither can be encoded as UTF-8 to send on).
KEY_CHARACTERS = "must not contain NUL bytes or unpaired surrogates"


def _storable_key(key: str) -> bool:
    if "\x00" in key:
        return False
    try:
        key.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_payload(
    event: dict[str, Any], *, change: bool, now: datetime | None, check: _Checker
) -> dict[str, Any] | None:
    raw = event.get("payload")
    if raw is None:
        check.missing("payload", "required for change events" if change else "required to trigger")
        return None
    if not isinstance(raw, Mapping):
        check.invalid("payload", f"must be an object, got {_kind(raw)}")
        return None
    payload = dict(raw)
    if check.required_text(payload, "summary", "payload.summary"):
        payload["summary"] = truncate_summary(payload["summary"])
    if change:
        check.optional_text(payload, "source", "payload.source")
    else:
        check.required_text(payload, "source", "payload.source")
        severity = payload.get("severity")
        if severity is None or severity == "":
            check.missing("payload.severity", f"must be one of {', '.join(SEVERITIES)}")
        elif severity not in SEVERITIES:
            check.invalid("payload.severity", f"must be one of {', '.join(SEVERITIES)}")
        for key in ("component", "group", "class"):
            check.optional_text(payload, key, f"payload.{key}")
    _check_timestamp(payload, now, check)
    details = payload.get("custom_details")
    if details is None:
        payload.pop("custom_details", None)
    elif not isinstance(details, Mapping):
        check.invalid("payload.custom_details", f"must be an object, got {_kind(details)}")
    return payload


def _check_timestamp(payload: dict[str, Any], now: datetime | None, check: _Checker) -> None:
    stamp = payload.get("timestamp")
    if stamp is None:
        payload.pop("timestamp", None)
        if now is not None:
            payload["timestamp"] = format_timestamp(now)
    elif isinstance(stamp, datetime):
        payload["timestamp"] = format_timestamp(stamp)
    elif not isinstance(stamp, str) or not _is_iso_datetime(stamp):
        check.invalid(
            "payload.timestamp",
            "must be an ISO 8601 date-time such as 2015-07-17T08:42:58.315+0000",
        )


def _is_iso_datetime(text: str) -> bool:
    if len(text) < 11 or text[10] not in "Tt ":
        return False
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _objects(event: dict[str, Any], key: str, check: _Checker) -> list[tuple[int, Any]]:
    """The objects of the array ``event[key]`` with their indexes (``None`` values dropped).

    Items that are not objects are returned as they are, for the caller to report in order.
    """
    value = event.get(key)
    if value is None:
        event.pop(key, None)
        return []
    if not isinstance(value, list):
        check.invalid(key, f"must be an array of objects, got {_kind(value)}")
        return []
    items = [
        {k: v for k, v in item.items() if v is not None} if isinstance(item, Mapping) else item
        for item in value
    ]
    event[key] = items
    return [(index, item) for index, item in enumerate(items)]


def _check_images(event: dict[str, Any], check: _Checker) -> None:
    for index, image in _objects(event, "images", check):
        where = f"images[{index}]"
        if not isinstance(image, dict):
            check.invalid(where, f"must be an object, got {_kind(image)}")
            continue
        if check.required_text(image, "src", f"{where}.src") and not image[
            "src"
        ].lower().startswith("https://"):
            check.invalid(
                f"{where}.src", "must be an https:// URL; PagerDuty shows only HTTPS images"
            )
        check.optional_text(image, "href", f"{where}.href")
        check.optional_text(image, "alt", f"{where}.alt")


def _check_links(event: dict[str, Any], check: _Checker) -> None:
    for index, link in _objects(event, "links", check):
        if not isinstance(link, dict):
            check.invalid(f"links[{index}]", f"must be an object, got {_kind(link)}")
            continue
        check.required_text(link, "href", f"links[{index}].href")
        check.optional_text(link, "text", f"links[{index}].text")


def _encoded_text(event: Mapping[str, Any]) -> tuple[str, int]:
    """The compact JSON text of ``event`` and its size in UTF-8 bytes (``encode_event``'s)."""
    text = jsonfast.dumps(event, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text, len(text) if text.isascii() else len(text.encode())


def _check_size(event: dict[str, Any], check: _Checker) -> str | None:
    """The event's JSON text when it fits (after replacing oversized custom_details), else None."""
    try:
        text, size = _encoded_text(event)
    except (TypeError, ValueError) as exc:
        check.invalid("event", f"cannot be encoded as JSON: {exc}")
        return None
    if size <= EVENT_MAX_BYTES:
        return text
    payload = event.get("payload")
    if isinstance(payload, Mapping) and "custom_details" in payload:
        payload = event["payload"] = dict(payload)  # never modify the caller's objects
        payload["custom_details"] = {
            OVERSIZE_NOTE_KEY: (
                f"custom_details removed: the event was {size} bytes, over PagerDuty's "
                f"limit of {EVENT_MAX_BYTES} bytes (512 KB)"
            )
        }
        text, trimmed = _encoded_text(event)
        if trimmed <= EVENT_MAX_BYTES:
            return text
        check.invalid(
            "event",
            f"too large: {trimmed} bytes even without payload.custom_details; "
            f"PagerDuty accepts at most {EVENT_MAX_BYTES} bytes (512 KB)",
        )
        return None
    check.invalid(
        "event",
        f"too large: {size} bytes; PagerDuty accepts at most {EVENT_MAX_BYTES} bytes (512 KB)",
    )
    return None
