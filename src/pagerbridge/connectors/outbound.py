"""Queue "tell PagerDuty" in the same transaction as the incident change that causes it.

:class:`OutboundSync` is the incidents domain's ``ChangeListener`` (:mod:`incidents.hooks`).
For every active connector that sends (``outbound`` or ``bidirectional``) it inserts one outbox row
of kind ``pd_rest`` naming the change — not the PagerDuty request: the hub's sender
(:mod:`pagerbridge.connectors.sync`) reads the incident, the timeline entry and the connector's
mappings when it sends, so this path stays one small INSERT per connector and imports nothing
heavy (``im declare`` runs it).

Rows of one incident share an ordering key, so PagerDuty sees the changes strictly in order:
``pd:<connector id>:<incident number>``. Their routing key, ``rest:<connector id>``, names the
REST budget they draw from (960 requests a minute per credential, shared by every process), and
their destination, ``connector:<id>``, lets ``im connector sync NAME`` send one connector's rows.
A change whose origin is PagerDuty is never sent back (no loops).
"""

from __future__ import annotations

import json
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors.models import connectors_table
from pagerbridge.incidents.hooks import IncidentChange
from pagerbridge.outbox.types import REST_KIND

#: The row format's version, so a newer sender can read an older row.
ROW_VERSION: Final = 1
SENDING_DIRECTIONS: Final = ("outbound", "bidirectional")
#: Timeline kinds that become a PagerDuty call (``sla_breach``: a note, maybe a priority, by
#: :mod:`pagerbridge.connectors.sla_sync`).
SENT_KINDS: Final = ("declared", "status", "note", "assigned", "sla_breach")


def ordering_key(connector_id: int, incident_id: int) -> str:
    return f"pd:{connector_id}:{incident_id}"


def ordering_prefix(connector_id: int) -> str:
    """Every row of one connector has an ordering key starting with this (``remove`` drops them)."""
    return f"pd:{connector_id}:"


def budget_key(connector_id: int) -> str:
    return f"rest:{connector_id}"


def destination(connector_id: int) -> str:
    """The rows' destination: a worker for one connector (``im connector sync``) claims only its
    own; the hub's worker (no destination) claims every connector's."""
    return f"connector:{connector_id}"


def row_payload(connector_id: int, change: IncidentChange) -> dict[str, Any]:
    return {
        "v": ROW_VERSION,
        "connector_id": connector_id,
        "incident_id": change.incident_id,
        "kind": change.kind,
        "action": change.action,
        "entry_id": change.entry_id,
    }


class OutboundSync:
    """Enqueues one row per sending connector for each change made here (not in PagerDuty)."""

    def after_change(self, conn: sa.Connection, change: IncidentChange) -> None:
        if change.origin == "pagerduty" or change.kind not in SENT_KINDS:
            return
        t = connectors_table
        senders = conn.execute(
            sa.select(t.c.id, t.c.settings).where(
                t.c.status == "active", t.c.sync_direction.in_(SENDING_DIRECTIONS)
            )
        ).all()
        if not senders:
            return
        # Loaded only when a connector sends: the outbox's table definitions pull in the
        # PostgreSQL dialect (~25 ms that `im declare` without connectors need not pay).
        from pagerbridge.outbox.tables import enqueue_in_transaction

        for connector_id, settings_text in senders:
            if change.kind == "note" and not _sync_notes(settings_text):
                continue
            enqueue_in_transaction(
                conn,
                REST_KIND,
                row_payload(connector_id, change),
                ordering_key(connector_id, change.incident_id),
                routing_key=budget_key(connector_id),
                destination=destination(connector_id),
            )


def _sync_notes(settings_text: str) -> bool:
    custom = json.loads(settings_text).get("custom") or {}
    return bool(custom.get("sync_notes", True))
