"""Events API v1 → v2, in one place: for the agent's v1 endpoint and for ``pd-nagios``,
``pd-zabbix`` and ``pd-sensu``, which build v1 events as pdagent-integrations did.

Why a conversion and not a second validator: a v1 event becomes the v2 event PagerDuty would
make of it, and the one set of Events API v2 rules (:mod:`pagerbridge.pagerduty.event_rules`)
judges it; :func:`v1_errors` then names the fields as the v1 sender wrote them
(``'service_key' is invalid …``). Standard library only: the commands load it on start-up.

The mapping: ``service_key`` → ``routing_key``, ``event_type`` → ``event_action``,
``incident_key`` → ``dedup_key`` (generated for a trigger without one, as PagerDuty v1 did),
``description`` → ``payload.summary`` (cut at 1,024 characters with a marker), ``details`` →
``payload.custom_details`` (a value that is not an object goes under ``"details"``), ``client`` and
``client_url`` as they are, ``contexts`` → ``links`` and ``images``. v1 has no source or severity:
the source is the first of ``details.source``, ``host``, ``hostname``, ``host_name``,
``HOSTNAME``, else ``client``, else the caller's default (this host's name); the severity is the
caller's (the commands map Nagios, Zabbix and Sensu states), else a valid ``details.severity``,
else ``error`` (``pd-send``'s default). Acknowledge and resolve carry no payload, as in v2.
"""

from __future__ import annotations

from pagerbridge.pagerduty.limits import SEVERITIES

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the commands' start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

#: PagerDuty's Events API v1 generic endpoint, served by the agent.
V1_PATH = "/generic/2010-04-15/create_event.json"
EVENT_TYPES = ("trigger", "acknowledge", "resolve")
DEFAULT_SEVERITY = "error"
#: Where a v1 event's details usually name the affected host, in order of preference.
SOURCE_KEYS = ("source", "host", "hostname", "host_name", "HOSTNAME")
#: v2 field names in the shared rules' messages, and the v1 names the sender used.
_V1_NAMES = (
    ("'routing_key'", "'service_key'"),
    ("'event_action'", "'event_type'"),
    ("'dedup_key'", "'incident_key'"),
    ("'payload.summary'", "'description'"),
    ("'payload.custom_details", "'details"),
    ("'links", "'contexts"),
    ("'images", "'contexts"),
)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def source_of(details: Any, client: Any, default: str) -> str:
    """The v2 ``payload.source`` of a v1 event (see the module's docstring)."""
    if isinstance(details, dict):
        for key in SOURCE_KEYS:
            found = _text(details.get(key))
            if found:
                return found
    return _text(client) or default


def _severity(details: Any, severity: str | None) -> str:
    if severity:
        return severity
    if isinstance(details, dict):
        named = details.get("severity")
        if isinstance(named, str) and named.lower() in SEVERITIES:
            return named.lower()
    return DEFAULT_SEVERITY


def _contexts(contexts: Any, event: dict[str, Any]) -> None:
    """v1 ``contexts`` (``{"type": "link"|"image", …}``) as v2 ``links`` and ``images``; anything
    else is passed on as a link, for the v2 rules to report."""
    if contexts is None:
        return
    if not isinstance(contexts, list):
        event["links"] = contexts
        return
    links: list[Any] = []
    images: list[Any] = []
    for item in contexts:
        if isinstance(item, dict) and item.get("type") == "image":
            images.append({k: v for k, v in item.items() if k in ("src", "href", "alt")})
        elif isinstance(item, dict):
            links.append({k: v for k, v in item.items() if k in ("href", "text")})
        else:
            links.append(item)
    if links:
        event["links"] = links
    if images:
        event["images"] = images


def to_v2(
    event: Mapping[str, Any], *, default_source: str, severity: str | None = None
) -> dict[str, Any]:
    """The Events API v2 event for the v1 ``event``; not validated here (the caller's
    ``prepare_event`` is). Unknown v1 fields are dropped."""
    action = event.get("event_type")
    v2: dict[str, Any] = {"routing_key": event.get("service_key"), "event_action": action}
    incident_key = event.get("incident_key")
    if incident_key is not None and not (action == "trigger" and incident_key == ""):
        v2["dedup_key"] = incident_key
    details = event.get("details")
    if action == "trigger":
        payload: dict[str, Any] = {
            "summary": event.get("description"),
            "source": source_of(details, event.get("client"), default_source),
            "severity": _severity(details, severity),
        }
        if details is not None:
            payload["custom_details"] = (
                details if isinstance(details, dict) else {"details": details}
            )
        v2["payload"] = payload
        for key in ("client", "client_url"):
            if event.get(key) is not None:
                v2[key] = event[key]
        _contexts(event.get("contexts"), v2)
    return v2


def v1_errors(errors: Iterable[str]) -> list[str]:
    """The v2 rules' messages with the fields named as in v1 (``'service_key'``, not
    ``'routing_key'``)."""
    out = []
    for message in errors:
        for v2_name, v1_name in _V1_NAMES:
            message = message.replace(v2_name, v1_name)
        out.append(message)
    return out
