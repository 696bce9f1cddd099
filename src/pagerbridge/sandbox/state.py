"""The sandbox's in-memory account: every resource kept in PagerDuty's own JSON shape.

Resources are stored as the dicts the REST API returns, so handlers serialise without a mapping
layer and ``--state`` save/load is a plain JSON dump. Behaviour (events, incident transitions,
on-call computation) lives in sibling modules that take this object; this one only stores,
names and references things. All access happens on the server's event loop, so there is no lock.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

Resource = dict[str, Any]
Clock = Callable[[], datetime]
#: ``publish(event_type, resource, *, service_id, team_ids, agent)``: the outgoing webhooks hook.
Publisher = Callable[..., None]

ID_ALPHABET = string.ascii_uppercase + string.digits

#: Collections saved by ``--state`` and shown by ``GET /_sandbox/state``, in that order.
COLLECTIONS = (
    "users",
    "teams",
    "schedules",
    "escalation_policies",
    "services",
    "integrations",
    "priorities",
    "custom_fields",
    "incidents",
    "alerts",
    "notes",
    "custom_field_values",
    "log_entries",
    "webhook_subscriptions",
    "maintenance_windows",
    "change_events",
    "tokens",
    "oauth_clients",
    "audit_records",
)

#: ``type`` of the reference to each resource type (PagerDuty's ``*_reference`` convention).
REFERENCE_TYPES = {
    "user": "user_reference",
    "team": "team_reference",
    "schedule": "schedule_reference",
    "escalation_policy": "escalation_policy_reference",
    "service": "service_reference",
    "incident": "incident_reference",
    "priority": "priority_reference",
    "alert": "alert_reference",
    "maintenance_window": "maintenance_window_reference",
    "events_api_v2_inbound_integration": "events_api_v2_inbound_integration_reference",
}

#: URL path segment of each resource type.
PATHS = {
    "user": "users",
    "team": "teams",
    "schedule": "schedules",
    "escalation_policy": "escalation_policies",
    "service": "services",
    "incident": "incidents",
    "priority": "priorities",
    "maintenance_window": "maintenance_windows",
    "webhook_subscription": "webhook_subscriptions",
}


def utc_now() -> datetime:
    return datetime.now(UTC)


#: The first and last moments a timestamp can name (years 1 to 9999, as RFC 3339 allows).
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    """PagerDuty's timestamp form: RFC 3339, UTC, seconds, ``Z``, always a four-digit year.

    (``strftime("%Y")`` writes year 1 as ``1``, which no parser reads back.)
    """
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"
    )


def parse_time(value: object) -> datetime:
    """Parse an ISO 8601 timestamp (``Z`` or offset; a naive one is taken as UTC), in UTC.

    Raises ``ValueError`` for anything else, including a moment that falls outside years
    1-9999 once moved to UTC (``0001-01-01T00:00:00+01:00``).
    """
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    text = value.strip()
    if text.endswith("Z") or text.endswith("z"):
        text = text[:-1] + "+00:00"
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError(f"{value!r} is outside the years 1 to 9999 in UTC") from exc


def stored_time(value: object) -> datetime | None:
    """A timestamp read back from the account (a saved state may hold anything), or None."""
    try:
        return parse_time(value)
    except ValueError:
        return None


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the ends of the calendar instead of overflowing."""
    try:
        return moment + delta
    except OverflowError:
        return LATEST if delta > timedelta() else EARLIEST


def new_id(prefix: str = "P") -> str:
    """A PagerDuty-looking id: ``P`` and six upper-case letters or digits."""
    return prefix + "".join(secrets.choice(ID_ALPHABET) for _ in range(6))


_JSON_NAMES: dict[type, str] = {dict: "object", list: "array"}


def alert_index_key(service_id: str, dedup_key: str) -> str:
    return f"{service_id}\x00{dedup_key}"


@dataclass
class Arrival:
    """One accepted event, for ``GET /_sandbox/events``: tests check order and duplicates."""

    seq: int
    time: str
    routing_key: str
    dedup_key: str | None
    event_action: str
    change: bool
    outcome: str
    summary: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "routing_key": self.routing_key,
            "dedup_key": self.dedup_key,
            "event_action": self.event_action,
            "change": self.change,
            "outcome": self.outcome,
            "summary": self.summary,
        }


@dataclass
class SandboxState:
    """Everything the sandbox knows; one per app."""

    base_url: str = "http://127.0.0.1:8090"
    clock: Clock = utc_now
    users: dict[str, Resource] = field(default_factory=dict)
    teams: dict[str, Resource] = field(default_factory=dict)
    schedules: dict[str, Resource] = field(default_factory=dict)
    escalation_policies: dict[str, Resource] = field(default_factory=dict)
    services: dict[str, Resource] = field(default_factory=dict)
    #: routing key -> {"id", "service_id", "name", "type", "integration_key"}
    integrations: dict[str, Resource] = field(default_factory=dict)
    priorities: dict[str, Resource] = field(default_factory=dict)
    #: incident custom field definitions, id -> PagerDuty's ``field`` object
    custom_fields: dict[str, Resource] = field(default_factory=dict)
    incidents: dict[str, Resource] = field(default_factory=dict)
    alerts: dict[str, Resource] = field(default_factory=dict)
    #: incident id -> its notes, oldest first
    notes: dict[str, list[Resource]] = field(default_factory=dict)
    #: incident id -> {field id: value} (fields never set read as their ``default_value``)
    custom_field_values: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_entries: dict[str, Resource] = field(default_factory=dict)
    webhook_subscriptions: dict[str, Resource] = field(default_factory=dict)
    maintenance_windows: dict[str, Resource] = field(default_factory=dict)
    change_events: list[Resource] = field(default_factory=list)
    #: REST API token -> {"token", "user_id" (None for an account key)}
    tokens: dict[str, Resource] = field(default_factory=dict)
    oauth_clients: dict[str, Resource] = field(default_factory=dict)
    audit_records: list[Resource] = field(default_factory=list)
    arrivals: list[Arrival] = field(default_factory=list)
    #: "service id NUL dedup key" -> id of the open (triggered) alert with that key
    open_alerts: dict[str, str] = field(default_factory=dict)
    #: incident id -> its alert ids / log entry ids, oldest first (derived; rebuilt on restore)
    incident_alerts: dict[str, list[str]] = field(default_factory=dict)
    incident_log: dict[str, list[str]] = field(default_factory=dict)
    incident_counter: int = 0
    sink_count: int = 0
    publishers: list[Publisher] = field(default_factory=list)
    #: ``hook(incident, level=..., restart=...)`` after every incident change (``timers``).
    change_hooks: list[Callable[..., None]] = field(default_factory=list)
    #: Derived, unsaved helpers kept by other modules (the timers' deadline heap).
    extensions: dict[str, Any] = field(default_factory=dict)

    # -- naming and references ---------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    def now_iso(self) -> str:
        return iso(self.clock())

    def unique_id(self, collection: dict[str, Any], prefix: str = "P") -> str:
        while True:
            candidate = new_id(prefix)
            if candidate not in collection:
                return candidate

    def self_url(self, kind: str, rid: str) -> str:
        return f"{self.base_url}/{PATHS.get(kind, kind + 's')}/{rid}"

    def html_url(self, kind: str, rid: str) -> str:
        return f"{self.base_url}/#/{PATHS.get(kind, kind + 's')}/{rid}"

    def decorate(self, kind: str, resource: Resource, summary: str) -> Resource:
        """Add the fields every PagerDuty object carries: id, type, summary, self, html_url."""
        rid = resource["id"]
        resource.setdefault("type", kind)
        resource["summary"] = summary
        resource["self"] = self.self_url(kind, rid)
        resource["html_url"] = self.html_url(kind, rid)
        return resource

    def ref(self, kind: str, rid: str) -> Resource:
        """A ``*_reference`` object for an existing resource."""
        target = self.collection_for(kind).get(rid, {})
        return {
            "id": rid,
            "type": REFERENCE_TYPES.get(kind, kind + "_reference"),
            "summary": target.get("summary", rid),
            "self": self.self_url(kind, rid),
            "html_url": self.html_url(kind, rid),
        }

    def collection_for(self, kind: str) -> dict[str, Resource]:
        mapping: dict[str, dict[str, Resource]] = {
            "user": self.users,
            "team": self.teams,
            "schedule": self.schedules,
            "escalation_policy": self.escalation_policies,
            "service": self.services,
            "incident": self.incidents,
            "priority": self.priorities,
            "alert": self.alerts,
            "maintenance_window": self.maintenance_windows,
            "webhook_subscription": self.webhook_subscriptions,
            "log_entry": self.log_entries,
        }
        return mapping.get(kind, {})

    # -- lookups ---------------------------------------------------------------------------

    def user_by_email(self, email: str) -> Resource | None:
        wanted = email.strip().lower()
        for user in self.users.values():
            if str(user.get("email", "")).lower() == wanted:
                return user
        return None

    def in_maintenance(self, service_id: str, at: datetime | None = None) -> bool:
        """True if an open maintenance window covers the service at ``at`` (default now)."""
        moment = at or self.now()
        for window in self.maintenance_windows.values():
            if not any(s.get("id") == service_id for s in window.get("services") or []):
                continue
            start = stored_time(window.get("start_time"))
            end = stored_time(window.get("end_time"))
            # A window the sandbox cannot read never stops the Events API (it covers nothing).
            if start is not None and end is not None and start <= moment < end:
                return True
        return False

    # -- hooks -------------------------------------------------------------------------------

    def changed(self, incident: Resource, **kwargs: Any) -> None:
        """Report an incident change (status, escalation level) to the change hooks."""
        for hook in self.change_hooks:
            hook(incident, **kwargs)

    def publish(
        self,
        event_type: str,
        resource: Resource,
        *,
        agent: Resource | None,
        service_id: str | None = None,
    ) -> None:
        """Tell every publisher (the webhook dispatcher) about a change (``incident.*``, ...)."""
        if service_id is None:
            service_id = resource.get("service", {}).get("id", "")
        team_ids = [t["id"] for t in resource.get("teams", [])]
        for publisher in self.publishers:
            publisher(event_type, resource, service_id=service_id, team_ids=team_ids, agent=agent)

    def record_arrival(
        self,
        *,
        routing_key: str,
        dedup_key: str | None,
        event_action: str,
        change: bool,
        outcome: str,
        summary: str | None = None,
    ) -> Arrival:
        arrival = Arrival(
            seq=len(self.arrivals) + 1,
            time=self.now().isoformat(),
            routing_key=routing_key,
            dedup_key=dedup_key,
            event_action=event_action,
            change=change,
            outcome=outcome,
            summary=summary,
        )
        self.arrivals.append(arrival)
        return arrival

    # -- persistence -----------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Everything worth saving, as JSON-ready data (``--state`` and ``/_sandbox/state``)."""
        data: dict[str, Any] = {name: getattr(self, name) for name in COLLECTIONS}
        data["incident_counter"] = self.incident_counter
        data["arrivals"] = [a.as_dict() for a in self.arrivals]
        return data

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the contents with a :meth:`snapshot`'s (unknown keys are ignored)."""
        for name in COLLECTIONS:
            if name in data:
                expected = type(getattr(self, name))
                if not isinstance(data[name], expected):
                    raise ValueError(f"'{name}' must be a JSON {_JSON_NAMES[expected]}")
                setattr(self, name, data[name])
        try:
            self.incident_counter = int(data.get("incident_counter", 0))
            self.arrivals = [Arrival(**a) for a in data.get("arrivals", [])]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"'arrivals' or 'incident_counter' is malformed: {exc}") from exc
        self.open_alerts = {
            alert_index_key(a["service"]["id"], a["alert_key"]): a["id"]
            for a in self.alerts.values()
            if a["status"] == "triggered"
        }
        self.incident_alerts = {}
        for alert in self.alerts.values():
            self.incident_alerts.setdefault(alert["incident"]["id"], []).append(alert["id"])
        self.incident_log = {}
        for entry in self.log_entries.values():
            self.incident_log.setdefault(entry["incident"]["id"], []).append(entry["id"])

    def alerts_of(self, incident_id: str) -> list[Resource]:
        return [self.alerts[a] for a in self.incident_alerts.get(incident_id, [])]

    def log_of(self, incident_id: str) -> list[Resource]:
        return [self.log_entries[e] for e in self.incident_log.get(incident_id, [])]
