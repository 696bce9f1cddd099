"""A connector's v3 webhook subscriptions: created, rotated, pinged and deleted in PagerDuty.

PagerDuty returns a subscription's signing secret once, in the create answer, and its API cannot
change it later. So the secret is stored encrypted at once (``connector_subscriptions``, the
connector's :class:`SecretBox`), and a rotation is a second subscription: the new row is
``active``, the old one ``retiring`` (the hub's intake accepts both secrets), and the old one is
deleted in PagerDuty once the new one has had a verified delivery (:func:`finish_rotation`, run by
every ``im connector webhook`` command and callable by the hub). Duplicates delivered by both
during the overlap fold by event id at the intake.

The intake writes ``first_verified_at`` and ``last_received_at`` on the row whose secret verified a
delivery; :func:`wait_received` watches them, so ``--test`` proves the whole path (PagerDuty → the
public URL → the hub → the signature) and not merely that PagerDuty accepted a ping.

These are admin writes made inline by the command, never through the outbox (DESIGN.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

import sqlalchemy as sa

from pagerbridge.connectors.credentials import missing_scopes, scopes_of
from pagerbridge.connectors.models import connector_subscriptions_table
from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.settings import ConnectorSettings
from pagerbridge.connectors.subscription_rows import (
    ACTIVE,
    RETIRING,
    Row,
    delete_rows,
    load,
    row,
    seal_secret,
)
from pagerbridge.errors import ConflictError, ConnectorError, NotFoundError, PagerDutyError
from pagerbridge.pagerduty.rest import RestClient
from pagerbridge.pagerduty.rest_models import WebhookSubscription
from pagerbridge.pagerduty.webhook_types import EVENT_TYPES

log = logging.getLogger(__name__)

#: Connectors whose webhooks the hub applies (an ``outbound`` one gets 404 from the intake).
RECEIVING: Final = ("inbound", "bidirectional")
#: Event types whose scoped-OAuth scope is not ``incidents.read`` (PagerDuty's table).
_SCOPE_OF: Final = {
    "incident.workflow.started": "incident_workflows.read",
    "incident.workflow.completed": "incident_workflows.read",
}

Clock = Callable[[], float]


def delivery_url(public_url: str, name: str) -> str:
    """The hub's intake for connector ``name`` behind ``public_url`` (the reference's path)."""
    return f"{public_url.rstrip('/')}/connectors/{quote(name, safe='')}/webhook"


def event_types(settings: ConnectorSettings) -> list[str]:
    """Every documented ``incident.*`` type (PagerDuty documents no cap on a subscription's
    events); for OAuth, only those whose scope the connector asks for."""
    wanted = [t for t in EVENT_TYPES if t.startswith("incident.")]
    if settings.auth_type not in ("oauth_app", "oauth_user"):
        return wanted
    scopes = scopes_of(settings)
    return [t for t in wanted if not missing_scopes(scopes, [_SCOPE_OF.get(t, "incidents.read")])]


@dataclass(frozen=True)
class Scope:
    """A subscription's filter: the one PagerDuty service, or the whole account."""

    type: str
    id: str | None = None

    def describe(self) -> str:
        return f"service {self.id}" if self.type == "service_reference" else "account"

    def as_json(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id}


def pd_services(record: ConnectorRecord) -> list[str]:
    """The PagerDuty services the connector uses: ``custom.service_id`` and every mapping."""
    found = {record.settings.custom.service_id, *record.service_mappings.values()}
    return sorted(s for s in found if s)


def scope_for(record: ConnectorRecord) -> Scope:
    """As Keep: the service when the connector uses exactly one PagerDuty service, else the
    account (a subscription has one filter, and the intake ignores unmapped services anyway)."""
    services = pd_services(record)
    if len(services) == 1:
        return Scope("service_reference", services[0])
    return Scope("account_reference")


def scope_of(sub: WebhookSubscription) -> Scope:
    flt = sub.filter
    if flt is None:
        return Scope("account_reference")
    return Scope(flt.type, None if flt.type == "account_reference" else flt.id)


# -- PagerDuty ---------------------------------------------------------------------------------


async def _create(
    record: ConnectorRecord,
    client: RestClient,
    *,
    engine: sa.Engine,
    box: SecretBox,
    url: str,
    retire: Iterable[int] = (),
    clock: Clock = time.time,
) -> Row:
    """Create a subscription and store its secret (and mark ``retire`` retiring) in one
    transaction; if the row cannot be stored, the new subscription is deleted again, so no
    subscription whose secret we lost is left delivering."""
    scope = scope_for(record)
    sub = await client.create_webhook_subscription(
        url=url,
        events=event_types(record.settings),
        filter_type=scope.type,
        filter_id=scope.id,
        description=f"pagerbridge connector {record.name}",
    )
    secret = sub.delivery_method.secret if sub.delivery_method else None
    try:
        if not secret:
            raise ConnectorError(
                f"PagerDuty created webhook subscription {sub.id} without a signing secret"
            )
        blob, fingerprint = seal_secret(box, secret)
        t = connector_subscriptions_table
        with engine.begin() as conn:
            new_id = conn.execute(
                sa.insert(t).values(
                    connector_id=record.id,
                    pd_subscription_id=sub.id,
                    secret=blob,
                    key_fingerprint=fingerprint,
                    url=url,
                    state=ACTIVE,
                    created_at=clock(),
                )
            ).inserted_primary_key
            assert new_id is not None
            retire = list(retire)
            if retire:
                conn.execute(sa.update(t).where(t.c.id.in_(retire)).values(state=RETIRING))
            stored = row(conn, int(new_id[0]))
    except BaseException:
        await delete_in_pagerduty(client, sub.id)
        raise
    assert stored is not None
    log.info("connector %s: webhook subscription %s created (%s)", record.name, sub.id, url)
    return stored


async def delete_in_pagerduty(client: RestClient, pd_id: str) -> None:
    """Delete a subscription in PagerDuty, quietly: gone already is fine, a failure is logged."""
    try:
        await client.delete_webhook_subscription(pd_id)
    except NotFoundError:
        pass
    except PagerDutyError as exc:
        log.error("webhook subscription %s could not be deleted: %s", pd_id, exc)


@dataclass
class Enabled:
    row: Row
    created: bool
    scope: Scope
    events: int
    notes: list[str] = field(default_factory=list)


def check_receives(record: ConnectorRecord) -> None:
    """ConfigError-like refusal for a connector whose webhooks the hub would refuse (404)."""
    from pagerbridge.errors import ConfigError

    if record.settings.auth_type == "routing_key":
        raise ConfigError(
            f"connector {record.name!r} has only a routing key: webhook subscriptions need REST "
            "access (an API key or OAuth)",
            key="auth_type",
        )
    if record.settings.sync_direction not in RECEIVING:
        exc = ConfigError(
            f"connector {record.name!r} syncs outbound only: the hub does not take its webhooks",
            key="sync_direction",
        )
        exc.hint = (  # type: ignore[attr-defined]  # read by cli._common.describe
            f"im connector update {record.name} --sync-direction bidirectional (or inbound)"
        )
        raise exc


async def enable(
    record: ConnectorRecord,
    client: RestClient,
    *,
    engine: sa.Engine,
    box: SecretBox,
    public_url: str,
    clock: Clock = time.time,
) -> Enabled:
    """Subscribe the connector, once: an active subscription that still exists in PagerDuty is
    kept (with a note when its URL or scope no longer match: ``--rotate`` re-creates it)."""
    check_receives(record)
    url = delivery_url(public_url, record.name)
    scope = scope_for(record)
    events = len(event_types(record.settings))
    notes: list[str] = []
    for current in [r for r in load(engine, record.id) if r.state == ACTIVE]:
        try:
            sub = await client.get_webhook_subscription(current.pd_subscription_id)
        except NotFoundError:
            delete_rows(engine, [current.id])
            notes.append(
                f"subscription {current.pd_subscription_id} was deleted in PagerDuty: "
                "a new one is created"
            )
            continue
        except PagerDutyError as exc:
            notes.append(f"subscription {current.pd_subscription_id} not checked: {exc}")
            return Enabled(current, False, scope, events, notes)
        there = sub.delivery_method.url if sub.delivery_method else None
        if there != url:
            notes.append(f"it delivers to {there}, not {url}: --rotate re-creates it")
        if scope_of(sub) != scope:
            notes.append(
                f"its scope is {scope_of(sub).describe()}, the connector's is "
                f"{scope.describe()}: --rotate re-creates it"
            )
        return Enabled(current, False, scope, events, notes)
    notes += await _foreign(client, url, record)
    created = await _create(record, client, engine=engine, box=box, url=url, clock=clock)
    return Enabled(created, True, scope, events, notes)


async def _foreign(client: RestClient, url: str, record: ConnectorRecord) -> list[str]:
    """A note for each subscription to ``url`` that pagerbridge did not make (e.g. added by hand
    in PagerDuty's web app): its secret is unknown here, so the hub refuses what it sends."""
    notes = []
    try:
        async for sub in client.list_webhook_subscriptions():
            if sub.delivery_method is not None and sub.delivery_method.url == url:
                notes.append(
                    f"PagerDuty has another subscription to this URL, {sub.id}, made outside "
                    "pagerbridge: the hub refuses its deliveries (unknown secret); delete it in "
                    "PagerDuty (Integrations → Generic Webhooks (v3))"
                )
    except PagerDutyError as exc:
        log.info("connector %s: subscriptions not listed: %s", record.name, exc)
    return notes


@dataclass
class Deleted:
    """What a deletion did in PagerDuty: deleted, already gone, or left there (and why)."""

    deleted: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    left: list[tuple[Row, str]] = field(default_factory=list)


async def delete(
    client: RestClient | None, engine: sa.Engine, found: Iterable[Row], *, reason: str = ""
) -> Deleted:
    """Delete subscriptions in PagerDuty (404: already gone, fine) and their rows; a row whose
    subscription could not be deleted is kept (a later command retries) and reported. With no
    client (``reason`` says why), every one is left."""
    out = Deleted()
    done: list[int] = []
    for r in found:
        if client is None:
            out.left.append((r, reason))
            continue
        try:
            await client.delete_webhook_subscription(r.pd_subscription_id)
        except NotFoundError:
            out.gone.append(r.pd_subscription_id)
        except PagerDutyError as exc:
            out.left.append((r, str(exc)))
            continue
        else:
            out.deleted.append(r.pd_subscription_id)
        done.append(r.id)
    delete_rows(engine, done)
    return out


async def disable(record: ConnectorRecord, client: RestClient, *, engine: sa.Engine) -> Deleted:
    """Delete every subscription of the connector (active and retiring)."""
    return await delete(client, engine, load(engine, record.id))


async def finish_rotation(
    record: ConnectorRecord, client: RestClient, *, engine: sa.Engine
) -> Deleted:
    """Delete the retiring subscriptions once an active one has had a verified delivery (so no
    event falls between the two secrets); nothing happens before that."""
    found = load(engine, record.id)
    if not any(r.state == ACTIVE and r.first_verified_at is not None for r in found):
        return Deleted()
    return await delete(client, engine, [r for r in found if r.state == RETIRING])


async def rotate(
    record: ConnectorRecord,
    client: RestClient,
    *,
    engine: sa.Engine,
    box: SecretBox,
    public_url: str,
    clock: Clock = time.time,
) -> tuple[Row, list[Row]]:
    """A new subscription (new secret, the connector's current URL and scope) beside the old
    ones, which become ``retiring``: (the new row, the retiring rows). ConflictError while an
    earlier rotation waits for its first verified delivery."""
    check_receives(record)
    found = load(engine, record.id)
    active = [r for r in found if r.state == ACTIVE]
    if not active:
        raise ConnectorError(
            f"connector {record.name!r} has no webhook subscription to rotate: run "
            f"`im connector webhook {record.name} --enable` first"
        )
    if any(r.state == RETIRING for r in found):
        raise ConflictError(
            f"a rotation of connector {record.name!r} is under way: subscription "
            f"{active[0].pd_subscription_id} has not had a verified delivery yet "
            f"(`im connector webhook {record.name} --test` pings it; the old one is deleted "
            "after)"
        )
    url = delivery_url(public_url, record.name)
    new = await _create(
        record, client, engine=engine, box=box, url=url, retire=[r.id for r in active], clock=clock
    )
    return new, [_retired(r) for r in active]


def _retired(r: Row) -> Row:
    return dataclasses.replace(r, state=RETIRING)


async def ping(client: RestClient, pd_subscription_id: str) -> None:
    """Ask PagerDuty to send ``pagey.ping`` to the subscription (it answers 202 at once)."""
    await client.request(
        "POST", f"/webhook_subscriptions/{quote(pd_subscription_id, safe='')}/ping"
    )


async def wait_received(
    engine: sa.Engine,
    row_id: int,
    *,
    before: float | None,
    seconds: float,
    poll: float = 0.1,
) -> Row | None:
    """The row once the hub has stored a verified delivery for it after ``before`` (the row's
    ``last_received_at`` before the ping: the hub's own clock, so no skew between hosts), or
    None at the deadline (or if the row went away)."""
    deadline = time.monotonic() + seconds
    while True:
        with engine.connect() as conn:
            current = row(conn, row_id)
        if current is None:
            return None
        seen = current.last_received_at
        if seen is not None and (before is None or seen > before):
            return current
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(poll)


@dataclass
class Tested:
    row: Row
    ok: bool
    seconds: float
    #: Retiring subscriptions deleted because this delivery verified the new one.
    finished: Deleted = field(default_factory=Deleted)


async def ping_and_wait(
    record: ConnectorRecord,
    client: RestClient,
    *,
    engine: sa.Engine,
    seconds: float,
    poll: float = 0.1,
    clock: Clock = time.time,
) -> Tested:
    """Ping the newest active subscription and wait until the hub has verified the delivery;
    then finish a pending rotation. NotFoundError (with the row dropped) if PagerDuty has no
    such subscription any more."""
    active = [r for r in load(engine, record.id) if r.state == ACTIVE]
    if not active:
        raise ConnectorError(
            f"connector {record.name!r} has no webhook subscription: run "
            f"`im connector webhook {record.name} --enable` first"
        )
    target = active[0]
    started = time.monotonic()
    try:
        await ping(client, target.pd_subscription_id)
    except NotFoundError:
        delete_rows(engine, [target.id])
        raise
    seen = await wait_received(
        engine, target.id, before=target.last_received_at, seconds=seconds, poll=poll
    )
    elapsed = time.monotonic() - started
    if seen is None:
        return Tested(target, False, elapsed)
    return Tested(seen, True, elapsed, await finish_rotation(record, client, engine=engine))
