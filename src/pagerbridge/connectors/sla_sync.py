"""SLA alignment: a connector's ``sla_mapping`` sets the local SLA policies, and a breach is told
to PagerDuty (a note on each linked incident, and optionally a higher priority).

One source of truth: the local policies (``im sla show``). ``im connector config NAME
--sla-mapping JSON`` writes them through :func:`apply_mapping`, in the transaction that stores
the mapping, with the same checks as ``im sla set``; a later ``im sla set`` wins over the
mapping until it is configured again.

A breach reaches PagerDuty like every other change: the SLA check records an ``sla_breach``
timeline entry and tells the connectors' listener in the same transaction
(:func:`pagerbridge.incidents.sla.check_sla`), which queues an outbox row; the hub's sender
calls :func:`notify_breach`. The note's text is the timeline entry's, so its webhook echo is
recognised as ours and not added again.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from pagerbridge.connectors import links as db
from pagerbridge.connectors.pagerduty import Context
from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.incidents import sla
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.lifecycle import SEVERITIES
from pagerbridge.pagerduty.rest_models import Priority


def targets(mapping: Mapping[str, Any]) -> dict[str, tuple[int | None, int | None]]:
    """``{"SEV-1": {"ack": "15m", "resolve": "1h"}, …}`` → severity → (ack s, resolve s), with
    ``im sla set``'s rules (a known severity, 1 s to the maximum); a missing key keeps the
    current target. Accepts the stored ``SlaTarget`` models or plain dicts."""
    out: dict[str, tuple[int | None, int | None]] = {}
    for severity, target in mapping.items():
        if severity not in SEVERITIES:
            raise InvalidInputError(
                f"sla_mapping: unknown severity {severity!r} (use {', '.join(SEVERITIES)})"
            )
        values = target if isinstance(target, Mapping) else target.model_dump()
        ack, resolve = values.get("ack"), values.get("resolve")
        out[severity] = (
            sla.parse_duration(str(ack)) if ack else None,
            sla.parse_duration(str(resolve)) if resolve else None,
        )
    return out


def apply_mapping(
    conn: sa.Connection, mapping: Mapping[str, Any], *, now: datetime | None = None
) -> list[sla.Target]:
    """Write the mapping's targets as the local SLA policies, in ``conn``'s transaction (the
    caller commits). InvalidInputError (exit 2) names what is wrong; nothing is written then."""
    wanted = targets(mapping)
    written: list[sla.Target] = []
    with Session(bind=conn) as session:
        for severity in SEVERITIES:
            if severity in wanted:
                ack, resolve = wanted[severity]
                written.append(
                    sla.set_policy(
                        session=session,
                        severity=severity,
                        ack_seconds=ack,
                        resolve_seconds=resolve,
                        now=now,
                    )
                )
        session.flush()
    return written


def apply_record(conn: sa.Connection, record: ConnectorRecord) -> list[sla.Target]:
    """The connector's stored ``custom.sla_mapping`` as the local policies (none: no change)."""
    return apply_mapping(conn, record.settings.custom.sla_mapping)


# -- a breach, told to PagerDuty (the hub's sender) ----------------------------------------------


async def _priority(ctx: Context, wanted: str) -> tuple[Priority | None, list[str]]:
    """The account's priority named or numbered ``wanted``, and every priority id, highest
    first (the order ``GET /priorities`` lists them in)."""
    found = await ctx.client.list_priorities()
    order = [p.id for p in found]
    match = next((p for p in found if wanted in (p.id, p.name)), None)
    return match, order


def _ref(link: db.Link) -> str:
    return f"#{link.pd_incident_number}" if link.pd_incident_number else str(link.pd_incident_id)


async def notify_breach(ctx: Context, linked: list[db.Link], body: str, actor: str) -> list[str]:
    """A note with the breach on every linked PagerDuty incident, then, with
    ``custom.sla_breach_priority``, that priority on those still open below it (never lowered).
    Returns the timeline lines."""
    sender = await ctx.from_for(actor)
    wanted = ctx.record.settings.custom.sla_breach_priority
    priority: Priority | None = None
    order: list[str] = []
    said: list[str] = []
    if wanted:
        priority, order = await _priority(ctx, wanted)
        if priority is None:
            said.append(f"PagerDuty has no priority {wanted!r}: priorities left as they are")
    for link in linked:
        assert link.pd_incident_id is not None
        await ctx.client.create_note(link.pd_incident_id, body, from_email=sender)
        said.append(f"SLA breach noted on PagerDuty incident {_ref(link)}")
        if priority is None or link.pd_status == "resolved":
            continue
        current = await ctx.client.get_incident(link.pd_incident_id)
        have = current.priority.id if current.priority else None
        if have in order and order.index(have) <= order.index(priority.id):
            continue  # already as high or higher
        await ctx.client.update_incident(
            link.pd_incident_id, priority_id=priority.id, from_email=sender
        )
        said.append(
            f"PagerDuty incident {_ref(link)} priority raised to {priority.name or priority.id}"
        )
    return said
