"""A connector with only a routing key: incidents become Events API alerts.

declare → ``trigger`` with the dedup key ``pagerbridge/<install>/INC-n/events``; ack →
``acknowledge``; resolve and close → ``resolve``; reopen → ``trigger`` again (PagerDuty opens a
new incident for a resolved key). Notes and assignment do not exist in the Events API: those
rows are done with nothing sent, and ``im connector test`` says so.
"""

from __future__ import annotations

from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors import links as db
from pagerbridge.pagerduty.event_rules import encode_event, normalise_event
from pagerbridge.pagerduty.events import EventsClient
from pagerbridge.pagerduty.outcome import Accepted, Outcome

#: The Events API's severities for ours.
SEVERITY: Final = {"SEV-1": "critical", "SEV-2": "error", "SEV-3": "warning", "SEV-4": "info"}
ACTIONS: Final = {
    ("declared", None): "trigger",
    ("status", "ack"): "acknowledge",
    ("status", "resolve"): "resolve",
    ("status", "close"): "resolve",
    ("status", "reopen"): "trigger",
}


def event_for(
    row: dict[str, Any], incident: dict[str, Any], routing_key: str, dedup_key: str
) -> dict[str, Any] | None:
    """The Events API v2 event for one connector row, or None (notes, assignment)."""
    action = ACTIONS.get((row["kind"], row.get("action")))
    if action is None:
        return None
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key,
    }
    if action == "trigger":
        event["payload"] = {
            "summary": incident["title"],
            "source": "pagerbridge",
            "severity": SEVERITY.get(incident["severity"], "error"),
            "component": ",".join(incident["services"]) or None,
            "custom_details": {
                "incident": f"INC-{incident['id']}",
                "description": incident.get("description") or "",
            },
        }
        if event["payload"]["component"] is None:
            del event["payload"]["component"]
    return event


async def send(
    engine: sa.Engine,
    events_url: str,
    routing_key: str,
    row: dict[str, Any],
    incident: dict[str, Any],
) -> tuple[Outcome, str | None]:
    """Send one row's event; (outcome, timeline line or None)."""

    def key(conn: sa.Connection) -> str:
        return db.incident_key(db.install_id(conn), incident["id"], "events")

    with engine.begin() as conn:
        dedup_key = key(conn)
    event = event_for(row, incident, routing_key, dedup_key)
    if event is None:
        return Accepted(dedup_key=None, status=200, message="not in the Events API"), None
    body = encode_event(normalise_event(event))
    async with EventsClient(base_url=events_url) as client:
        outcome = await client.send_raw(body)
    if isinstance(outcome, Accepted):
        return outcome, f"PagerDuty event sent: {event['event_action']} (dedup key {dedup_key})"
    return outcome, None
