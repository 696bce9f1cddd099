"""PagerDuty's documented limits and endpoints, as named constants (standard library only).

Sources: developer-docs ``events-API-v2/01-Overview.md`` (512 KB), ``02-Trigger-Events.md``
(routing key, summary, dedup_key, severities, actions), ``05-Rate-Limits.md`` (~120 events per
minute per integration key) and ``REST-API/04-Rate-Limits.md`` (960 requests per minute).
Named here once so the rules, the sandbox and the docs cannot drift apart.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from typing import Final

#: An integration ("routing") key is exactly 32 characters.
ROUTING_KEY_LENGTH: Final = 32
#: ``payload.summary`` may hold at most this many characters; longer ones are truncated.
SUMMARY_MAX: Final = 1024
#: Appended to a truncated summary (the result still fits in ``SUMMARY_MAX``).
TRUNCATION_MARKER: Final = "…"
#: ``dedup_key`` may hold at most this many characters.
DEDUP_KEY_MAX: Final = 255
#: A whole event (the JSON request body) may be at most 512 KB.
EVENT_MAX_BYTES: Final = 512 * 1024

#: ``payload.severity`` values, most severe first.
SEVERITIES: Final = ("critical", "error", "warning", "info")
#: ``event_action`` values of alert events (change events have none).
EVENT_ACTIONS: Final = ("trigger", "acknowledge", "resolve")

#: Events API v2 base URLs by region; clients append ``/v2/enqueue`` or ``/v2/change/enqueue``.
EVENTS_REGIONS: Final = {
    "us": "https://events.pagerduty.com",
    "eu": "https://events.eu.pagerduty.com",
}
#: REST API v2 base URLs by region.
REST_REGIONS: Final = {
    "us": "https://api.pagerduty.com",
    "eu": "https://api.eu.pagerduty.com",
}

#: Paths appended to an events base URL.
ENQUEUE_PATH: Final = "/v2/enqueue"
CHANGE_ENQUEUE_PATH: Final = "/v2/change/enqueue"

#: Events API: about this many events per minute per integration key.
EVENTS_PER_MINUTE_PER_KEY: Final = 120
#: REST API: this many requests per minute per API token.
REST_REQUESTS_PER_MINUTE: Final = 960

#: PagerDuty expects a webhook receiver to answer 2xx within this many seconds.
WEBHOOK_RESPONSE_TIMEOUT: Final = 5.0
#: The header that carries webhook signatures, and the signature scheme version we produce.
SIGNATURE_HEADER: Final = "X-PagerDuty-Signature"
SIGNATURE_VERSION: Final = "v1"
#: The header whose value is unique per webhook (repeated on every delivery attempt).
WEBHOOK_ID_HEADER: Final = "X-Webhook-Id"
