"""PagerDuty: one alert per host, kept current while updates are pending, resolved when clean.

The notifier only *decides* (trigger, resolve or nothing) and *builds* the event; the outbox owns
durability, retries and backoff. ``run`` enqueues, then drains what it queued for a bounded time
so a host without a running agent still delivers; anything left stays in the outbox for the next
run or the agent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pagerbridge.pagerduty.limits import EVENTS_REGIONS, ROUTING_KEY_LENGTH, SEVERITIES
from pagerbridge.updates.models import RunReport, Update
from pagerbridge.updates.notifiers.policy import Policy, cut_short, summary_line
from pagerbridge.updates.state import StateFile

log = logging.getLogger(__name__)

Severity = Literal["info", "warning", "error", "critical"]
Action = Literal["trigger", "resolve"]

#: Updates listed per checker in custom_details; the rest are counted, not listed.
MAX_LISTED_PER_CHECKER = 300
COMPONENT = "Update Watcher"
CLIENT = "pagerbridge update-watcher"


class PagerDutyOptions(BaseModel):
    """``options:`` of ``- type: pagerduty`` (or the same keys straight under it)."""

    model_config = ConfigDict(extra="forbid")

    routing_key: str
    severity: Severity = "warning"
    security_severity: Severity | None = "error"
    region: Literal["us", "eu"] = "us"
    events_url: str | None = None
    dedup_key: str | None = None
    component: str = COMPONENT
    delivery_timeout: float | None = Field(None, ge=0)

    @field_validator("routing_key")
    @classmethod
    def _routing_key(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("routing_key is empty")
        if len(value) != ROUTING_KEY_LENGTH:
            raise ValueError(
                f"routing_key must be {ROUTING_KEY_LENGTH} characters (an Events API v2 "
                f"integration key), got {len(value)}"
            )
        return value

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, value: str | None) -> str | None:
        from pagerbridge.errors import ConfigError
        from pagerbridge.pagerduty.event_rules import events_base

        if value is None:
            return None
        try:
            events_base(value)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        return value

    def base_url(self) -> str:
        return self.events_url or EVENTS_REGIONS[self.region]


def dedup_key_for(hostname: str, options: PagerDutyOptions) -> str:
    """Stable across runs: one alert per host (and per routing key)."""
    return options.dedup_key or f"update-watcher/{hostname}"


def decide(report: RunReport, policy: Policy, *, alert_open: bool) -> Action | None:
    """trigger while relevant updates are pending; resolve a clean host's open alert whatever
    the send_policy; ``always`` also triggers for a clean host; nothing when the checkers that
    failed leave the answer unknown."""
    if report.filtered(policy.min_priority):
        return "trigger"
    if report.failures:
        return None
    if alert_open:
        return "resolve"
    return "trigger" if policy.send_policy == "always" else None


def severity_for(updates: list[Update], options: PagerDutyOptions) -> str:
    if not updates:
        return "info"
    severity = options.severity
    if options.security_severity and any(u.security for u in updates):
        raised = options.security_severity
        if SEVERITIES.index(raised) < SEVERITIES.index(severity):  # SEVERITIES: highest first
            severity = raised
    return severity


def _item(update: Update) -> dict[str, Any]:
    item: dict[str, Any] = {
        "package": update.package,
        "current_version": update.current_version,
        "available_version": update.available_version,
        "security": update.security,
    }
    if update.kind != "package":
        item["kind"] = update.kind
    if update.detail:
        item["detail"] = update.detail
    return item


def custom_details(report: RunReport, updates: list[Update]) -> dict[str, Any]:
    """Updates by checker; a checker with more than MAX_LISTED_PER_CHECKER lists its security
    updates first (``cut_short``) and counts the rest, so none of them is among the unlisted
    unless there are more security updates than that."""
    groups: dict[str, list[Update]] = {}
    for update in updates:
        groups.setdefault(update.checker, []).append(update)
    by_checker: dict[str, dict[str, Any]] = {}
    for name, group in groups.items():
        listed, rest = cut_short(group, MAX_LISTED_PER_CHECKER)
        entry: dict[str, Any] = {
            "count": len(group),
            "security": sum(1 for u in group if u.security),
            "updates": [_item(u) for u in listed],
        }
        if rest:
            entry["not_listed"] = len(rest)
        by_checker[name] = entry
    details: dict[str, Any] = {
        "hostname": report.hostname,
        "total_updates": len(updates),
        "security_updates": sum(1 for u in updates if u.security),
        "checkers": by_checker,
    }
    if report.failures:
        details["failed_checkers"] = {r.checker: r.error for r in report.failures}
    return details


def build_event(
    action: Action,
    report: RunReport,
    policy: Policy,
    options: PagerDutyOptions,
    *,
    now: datetime,
) -> dict[str, Any]:
    dedup_key = dedup_key_for(report.hostname, options)
    if action == "resolve":
        return {
            "routing_key": options.routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key,
        }
    updates = report.filtered(policy.min_priority)
    return {
        "routing_key": options.routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key,
        "client": CLIENT,
        "payload": {
            "summary": summary_line(report.hostname, updates, len(report.failures)),
            "source": report.hostname,
            "severity": severity_for(updates, options),
            "component": options.component,
            "group": "updates",
            "class": "pending updates",
            "timestamp": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "custom_details": custom_details(report, updates),
        },
    }


@dataclass
class Delivery:
    """What happened to this run's event: always queued; ``state`` is its outbox state after the
    bounded drain (``delivered``, ``pending``, ``dead``...), ``error`` PagerDuty's last answer."""

    action: str
    dedup_key: str
    row_id: int
    state: str = "pending"
    error: str | None = None

    @property
    def delivered(self) -> bool:
        return self.state == "delivered"


async def drain(database_url: str, events_url: str, limit: float, row_id: int) -> Delivery:
    """Deliver what is pending in the outbox for at most ``limit`` seconds; our row's fate."""
    from pagerbridge.outbox import EVENT_KINDS, DeliveryWorker, open_outbox

    outbox = open_outbox(database_url)
    try:
        # Events API rows only: a connector's REST rows on this database wait for the hub.
        worker = DeliveryWorker(outbox, events_url=events_url, kinds=EVENT_KINDS)
        await worker.drain(limit)
        row = outbox.get(row_id)
        if row is None:  # already cleaned up: only delivered rows are purged
            return Delivery("", "", row_id, "delivered")
        return Delivery("", "", row_id, row.state, row.last_error)
    finally:
        outbox.close()


class PagerDutyNotifier:
    """Decide, enqueue (durable), remember the alert state, and deliver for a bounded time."""

    def __init__(
        self,
        options: PagerDutyOptions,
        policy: Policy,
        *,
        database_url: str,
        state: StateFile,
        delivery_timeout: float,
    ) -> None:
        self.options = options
        self.policy = policy
        self.database_url = database_url
        self.state = state
        self.delivery_timeout = (
            options.delivery_timeout if options.delivery_timeout is not None else delivery_timeout
        )

    def notify(self, report: RunReport, *, now: datetime | None = None) -> Delivery | None:
        from pagerbridge.outbox import open_outbox

        moment = now or datetime.now(UTC)
        dedup_key = dedup_key_for(report.hostname, self.options)
        alert_open = self.state.get(self.options.routing_key, dedup_key) is not None
        action = decide(report, self.policy, alert_open=alert_open)
        if action is None:
            return None
        event = build_event(action, report, self.policy, self.options, now=moment)
        from pagerbridge.pagerduty.event_rules import events_base

        # Meant for this notifier's PagerDuty: an agent on the same database that delivers
        # elsewhere (a sandbox, another region) holds the row instead of sending it there.
        outbox = open_outbox(self.database_url, destination=events_base(self.options.base_url()))
        try:
            row = outbox.enqueue_event(event)
        finally:
            outbox.close()
        if action == "trigger":
            summary = event["payload"]["summary"]
            self.state.set_open(
                self.options.routing_key,
                dedup_key,
                now=moment.isoformat(),
                action=action,
                summary=summary,
            )
        else:
            self.state.set_closed(self.options.routing_key, dedup_key)
        delivery = Delivery(action, dedup_key, row.id)
        if self.delivery_timeout > 0:
            after = asyncio.run(
                drain(self.database_url, self.options.base_url(), self.delivery_timeout, row.id)
            )
            delivery.state, delivery.error = after.state, after.error
        return delivery


def options_from(entry_options: Mapping[str, Any]) -> PagerDutyOptions:
    return PagerDutyOptions.model_validate(dict(entry_options))
