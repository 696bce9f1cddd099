"""What each local change asks of PagerDuty's REST API, for one connector (the mapping tables).

=================  =====================================================================
local change       PagerDuty
=================  =====================================================================
declare            one incident per mapped service (title, body details, urgency from
                   ``urgency_mapping``, priority from ``priority_mapping``, the service's
                   escalation policy), ``incident_key`` = ``pagerbridge/<install>/INC-n/<svc>``
ack                status ``acknowledged`` (+ the note, when there is one)
resolve            status ``resolved`` with the resolution note
close              ``resolved``, unless PagerDuty has it resolved already
reopen             status ``triggered`` on a resolved incident
note               a note (when ``sync_notes``)
assign             assignment to the PagerDuty user with the assignee's email
=================  =====================================================================

Creating is idempotent: before a create that was tried before (its link exists), and on
PagerDuty's 400 for an open incident with the same ``incident_key``, the incident is looked up
by key (``date_range=all``) and linked instead of created twice. Every side effect is written on
the local timeline with the PagerDuty incident number and link.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, TypeVar

import sqlalchemy as sa

from pagerbridge.connectors import links as db
from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.errors import APIError, PagerbridgeError
from pagerbridge.pagerduty.rest import RestClient
from pagerbridge.pagerduty.rest_models import Incident as PDIncident

log = logging.getLogger(__name__)

#: PagerDuty's incident body details are a string; ours is at most 64 KiB already.
DETAILS_MAX: Final = 60_000
#: How long a user or priority looked up in PagerDuty is taken as current.
LOOKUP_SECONDS: Final = 600.0
#: A ``custom_field_mappings`` target with this prefix goes into the body details.
DETAILS_PREFIX: Final = "custom_details."
#: PagerDuty's statuses for our lifecycle actions.
STATUS_FOR: Final = {"ack": "acknowledged", "resolve": "resolved", "close": "resolved"}

T = TypeVar("T")


@dataclass
class Lookups:
    """What a connector's rows look up in PagerDuty and rarely changes (users by email, the
    priorities), kept by the sender across rows for :data:`LOOKUP_SECONDS`, so an ack or a
    note does not cost a ``GET /users`` each time."""

    users: dict[str, tuple[str | None, float]] = field(default_factory=dict)
    priorities: tuple[list[tuple[str, str]], float] | None = None


@dataclass
class Context:
    """What one row's work needs: the connector, its client, the database, its lookups."""

    record: ConnectorRecord
    client: RestClient
    engine: sa.Engine
    lookups: Lookups = field(default_factory=Lookups)
    #: Lines for the timeline besides the calls' own (e.g. a custom field PagerDuty refused).
    notes: list[str] = field(default_factory=list)

    async def db(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run ``fn`` in one transaction in a thread (the event loop never waits on the DB)."""

        def run() -> T:
            with self.engine.begin() as conn:
                return fn(conn)

        return await asyncio.to_thread(run)

    @property
    def default_from(self) -> str | None:
        return self.record.settings.custom.from_email

    async def user_id(self, email: str) -> str | None:
        """The PagerDuty user with this email (looked up at most every few minutes), or None."""
        if "@" not in email:
            return None
        cached = self.lookups.users.get(email)
        if cached is not None and time.monotonic() - cached[1] < LOOKUP_SECONDS:
            return cached[0]
        found = None
        async for user in self.client.list_users(query=email):
            if (user.email or "").lower() == email.lower():
                found = user.id
                break
        self.lookups.users[email] = (found, time.monotonic())
        return found

    async def priorities(self) -> list[tuple[str, str]]:
        """(id, name) of the account's priorities (looked up at most every few minutes)."""
        cached = self.lookups.priorities
        if cached is None or time.monotonic() - cached[1] >= LOOKUP_SECONDS:
            found = [(p.id, p.name or "") for p in await self.client.list_priorities()]
            self.lookups.priorities = cached = (found, time.monotonic())
        return cached[0]

    async def from_for(self, actor: str) -> str | None:
        """From = the acting user when they are a PagerDuty user, else ``from_email``."""
        if await self.user_id(actor):
            return actor
        return self.default_from


def _details(incident: dict[str, Any], mappings: dict[str, str], correlation: str) -> str:
    """The incident body: description, mapped ``custom_details.*`` fields, correlation id."""
    lines = [incident.get("description") or ""]
    fields = incident.get("custom_fields") or {}
    for local, target in mappings.items():
        if local in fields and target.startswith(DETAILS_PREFIX):
            lines.append(f"{target.removeprefix(DETAILS_PREFIX)}: {fields[local]}")
    if correlation:
        lines.append(f"correlation id: {correlation}")
    lines.append(f"pagerbridge incident: INC-{incident['id']} ({incident['severity']})")
    return "\n".join(x for x in lines if x)[:DETAILS_MAX]


def pd_custom_fields(incident: dict[str, Any], mappings: dict[str, str]) -> list[dict[str, Any]]:
    """Fields mapped to a PagerDuty incident custom field (a target without the prefix)."""
    fields = incident.get("custom_fields") or {}
    return [
        {"name": target, "value": fields[local]}
        for local, target in mappings.items()
        if local in fields and not target.startswith(DETAILS_PREFIX)
    ]


async def _find_by_key(ctx: Context, key: str, service_id: str) -> PDIncident | None:
    async for found in ctx.client.list_incidents(
        incident_key=key, service_ids=[service_id], date_range="all"
    ):
        if found.incident_key == key:
            return found
    return None


async def _priority_id(ctx: Context, severity: str) -> str | None:
    wanted = ctx.record.settings.custom.priority_mapping.get(severity)
    if not wanted:
        return None
    for priority_id, name in await ctx.priorities():
        if wanted in (priority_id, name):
            return priority_id
    return None


async def declare(ctx: Context, incident: dict[str, Any], actor: str) -> list[str]:
    """Create (or find and link) one PagerDuty incident per mapped service; the timeline lines."""
    record = ctx.record
    services = incident["services"] or ["default"]
    wanted: list[str] = []
    for name in services:
        pd_service = record.pd_service_for(name)
        if pd_service and pd_service not in wanted:
            wanted.append(pd_service)
    if not wanted:
        return []
    correlation = incident.get("correlation_id") or ""
    install = await ctx.db(db.install_id)
    done: list[str] = []
    for pd_service in wanted:
        key = db.incident_key(install, incident["id"], pd_service)
        link, fresh = await ctx.db(
            partial(
                db.ensure_link,
                connector_id=record.id,
                incident_id=incident["id"],
                pd_service_id=pd_service,
                key=key,
                correlation_id=correlation or f"INC-{incident['id']}",
            )
        )
        if link.pd_incident_id:
            continue
        found = None if fresh else await _find_by_key(ctx, key, pd_service)
        how = "linked (it existed already)"
        if found is None:
            try:
                found = await _create(ctx, incident, pd_service, key, correlation, actor)
                how = "created"
            except APIError as exc:
                if exc.status != 400:
                    raise
                found = await _find_by_key(ctx, key, pd_service)
                if found is None:
                    raise
        await ctx.db(
            partial(
                db.record_pd_incident,
                link_id=link.id,
                pd_incident_id=found.id,
                number=found.incident_number,
                html_url=found.html_url,
                status=found.status,
            )
        )
        done.append(_say(f"PagerDuty incident {how}", found, pd_service))
    return done + ctx.notes


async def _create(
    ctx: Context,
    incident: dict[str, Any],
    pd_service: str,
    key: str,
    correlation: str,
    actor: str,
) -> PDIncident:
    custom = ctx.record.settings.custom
    service_name = next(
        (n for n in incident["services"] if ctx.record.pd_service_for(n) == pd_service), "default"
    )
    created = await ctx.client.create_incident(
        title=incident["title"],
        service_id=pd_service,
        urgency=custom.urgency_mapping.get(incident["severity"]),
        details=_details(incident, custom.custom_field_mappings, correlation),
        incident_key=key,
        priority_id=await _priority_id(ctx, incident["severity"]),
        escalation_policy_id=ctx.record.escalation_policy_for(service_name),
        from_email=await ctx.from_for(actor),
    )
    values = pd_custom_fields(incident, custom.custom_field_mappings)
    if values:
        try:
            await ctx.client.request(
                "PUT",
                f"/incidents/{created.id}/custom_fields/values",
                json={"custom_fields": values},
                from_email=await ctx.from_for(actor),
            )
        except PagerbridgeError as exc:
            # The incident stands (a retry would find it by its key and not set them either):
            # say on the timeline that its fields are missing, e.g. one the account lacks.
            ctx.notes.append(
                f"custom fields not set in PagerDuty ({exc}): check custom_field_mappings"
            )
    return created


def _say(what: str, incident: PDIncident, pd_service: str) -> str:
    number = f"#{incident.incident_number}" if incident.incident_number else incident.id
    url = f" {incident.html_url}" if incident.html_url else ""
    return f"{what}: {number} ({incident.id}) on service {pd_service}{url}"


async def status_change(
    ctx: Context, linked: list[db.Link], action: str, note: str | None, actor: str
) -> list[str]:
    """ack / resolve / close / reopen on every linked PagerDuty incident, then the note."""
    sender = await ctx.from_for(actor)
    said: list[str] = []
    for link in linked:
        assert link.pd_incident_id is not None
        if action == "reopen":
            target = "triggered"
        else:
            target = STATUS_FOR[action]
            if action == "close" and link.pd_status == "resolved":
                continue
        if target != link.pd_status:
            updated = await ctx.client.update_incident(
                link.pd_incident_id, status=target, from_email=sender
            )
            await ctx.db(
                partial(db.record_status, link_id=link.id, status=updated.status or target)
            )
            said.append(f"PagerDuty incident {_ref(link)} {target}")
        if note and ctx.record.settings.custom.sync_notes:
            await ctx.client.create_note(link.pd_incident_id, note, from_email=sender)
            said.append(f"note synchronized to PagerDuty incident {_ref(link)}")
    return said


async def add_note(ctx: Context, linked: list[db.Link], body: str, actor: str) -> list[str]:
    sender = await ctx.from_for(actor)
    said = []
    for link in linked:
        assert link.pd_incident_id is not None
        await ctx.client.create_note(link.pd_incident_id, body, from_email=sender)
        said.append(f"note synchronized to PagerDuty incident {_ref(link)}")
    return said


async def assign(
    ctx: Context, linked: list[db.Link], assignee: str | None, actor: str
) -> list[str]:
    if not assignee:
        return []
    user = await ctx.user_id(assignee)
    if user is None:
        return [f"{assignee} is not a PagerDuty user: PagerDuty's assignment is unchanged"]
    sender = await ctx.from_for(actor)
    said = []
    for link in linked:
        assert link.pd_incident_id is not None
        await ctx.client.update_incident(
            link.pd_incident_id, assignee_ids=[user], from_email=sender
        )
        said.append(f"PagerDuty incident {_ref(link)} assigned to {assignee}")
    return said


def _ref(link: db.Link) -> str:
    return f"#{link.pd_incident_number}" if link.pd_incident_number else str(link.pd_incident_id)


Step = Callable[[Context], Awaitable[list[str]]]
