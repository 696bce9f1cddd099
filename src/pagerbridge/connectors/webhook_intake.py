"""The hub's intake of PagerDuty's v3 webhooks: verify, persist, answer — never apply inline.

For ``POST /connectors/{name}/webhook``, in this order:

1. the connector exists and receives (``inbound``/``bidirectional``), else 404;
2. the caller's address is in ``webhook.ip_allowlist`` when one is set, else 403;
3. the connector's rate limit (``webhook.rate_limit_per_s``), else 429;
4. ``X-PagerDuty-Signature`` verifies against the secret of one of its subscriptions (active or
   retiring), else 401 — before the body is even parsed;
5. the raw event is written (deduplicated by its ``event.id``: PagerDuty retries for 48 h) and
   only then 202; if it cannot be written within 4 s, 503 (PagerDuty retries).

Applying the event is the applier's job (:mod:`pagerbridge.connectors.applier`), so a busy
database or a slow PagerDuty lookup never delays the answer. Writes are group-committed: every
request waiting at that moment shares one transaction (the outbox's idea), which is what keeps a
SQLite hub at hundreds of verified events a second; the applier's transactions are kept short
(:data:`~pagerbridge.connectors.applier.SLICE_SECONDS`) so that they never wait long.

Connectors and their subscriptions are cached for :data:`RELOAD_SECONDS`, so one that the CLI
adds, changes or removes takes effect in a running hub within 5 s.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors.inbound import clean, pd_identifier
from pagerbridge.connectors.logstore import RefusalLog
from pagerbridge.connectors.models import (
    connector_subscriptions_table,
    connector_webhook_events_table,
    connectors_table,
)
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.settings import load_settings
from pagerbridge.errors import PagerbridgeError, SignatureError
from pagerbridge.pagerduty.webhooks import verify
from pagerbridge.store.engine import reading

log = logging.getLogger(__name__)

RELOAD_SECONDS: Final = 2.0
#: PagerDuty gives a webhook 5 s; answer 503 (it retries) rather than be late.
PERSIST_TIMEOUT: Final = 4.0
#: Most events written by one transaction (SQLAlchemy splits the rows into multi-row INSERTs
#: under SQLite's limit of bound values).
WRITE_BATCH_MAX: Final = 500
RECEIVING: Final = ("inbound", "bidirectional")
PENDING: Final = "pending"
#: Every reason an intake refused or took a call, for /metrics and ``health``.
OUTCOMES: Final = (
    "accepted",
    "duplicate",
    "unsigned",
    "forged",
    "unknown_connector",
    "not_allowed",
    "rate_limited",
    "malformed",
    "unavailable",
)


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    at: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.capacity, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Receiver:
    """One connector as the intake needs it."""

    id: int
    name: str
    receives: bool
    #: (subscription row id, secret)
    secrets: list[tuple[int, str]]
    allowlist: list[ipaddress.IPv4Network | ipaddress.IPv6Network]
    bucket: _Bucket


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _Pending:
    values: dict[str, Any]
    subscription_id: int
    done: asyncio.Future[bool]


class WebhookIntake:
    """Verifies and persists webhook deliveries for every connector of one database."""

    def __init__(self, engine: sa.Engine, *, clock: Any = time.time) -> None:
        self.engine = engine
        self.clock = clock
        self.counts: Counter[str] = Counter()
        #: Set whenever new events were committed (the applier waits on it).
        self.committed = asyncio.Event()
        self._receivers: dict[str, _Receiver] = {}
        self._loaded_at = float("-inf")
        self._loaded_wall = float("-inf")
        self._reloading: asyncio.Task[None] | None = None
        self._box: SecretBox | None = None
        self._queue: list[_Pending] = []
        self._writing: asyncio.Task[None] | None = None
        self.refusals = RefusalLog(engine)  # issue 14 item 8: refusals in im logs, throttled

    # -- the connectors, cached ------------------------------------------------------------------

    async def _receiver(self, name: str) -> _Receiver | None:
        """The connector from the cache; a stale cache is reloaded once, in the background
        (requests meanwhile use the previous one), and the first load is awaited."""
        if time.monotonic() - self._loaded_at >= RELOAD_SECONDS:
            if self._reloading is None or self._reloading.done():
                self._reloading = asyncio.create_task(self._reload())
            if self._loaded_at == float("-inf"):
                await asyncio.shield(self._reloading)
        return self._receivers.get(name)

    async def _refresh(self) -> None:
        """Reload now (joining a reload in progress) and wait for it."""
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.create_task(self._reload())
        await asyncio.shield(self._reloading)

    async def _reload(self) -> None:
        started, wall = time.monotonic(), time.time()
        self._receivers = await asyncio.to_thread(self._load)
        self._loaded_at, self._loaded_wall = started, wall

    def _changed_since_load(self, connector_id: int) -> bool:
        """Whether the connector has a subscription newer than the cache (one indexed query;
        only on a signature miss, which the rate limit already bounds)."""
        s = connector_subscriptions_table
        with reading(self.engine) as conn:
            newest = conn.execute(
                sa.select(sa.func.max(s.c.created_at)).where(s.c.connector_id == connector_id)
            ).scalar()
        return newest is not None and float(newest) >= self._loaded_wall - 1.0

    def _load(self) -> dict[str, _Receiver]:
        c, s = connectors_table, connector_subscriptions_table
        out: dict[str, _Receiver] = {}
        with reading(self.engine) as conn:
            rows = conn.execute(sa.select(c).where(c.c.status == "active")).all()
            subs = conn.execute(sa.select(s).where(s.c.state.in_(("active", "retiring")))).all()
        for row in rows:
            settings = load_settings(row.settings)
            old = self._receivers.get(row.name)
            rate = float(settings.webhook.rate_limit_per_s)
            bucket = old.bucket if old is not None and old.bucket.rate == rate else None
            secrets = []
            for sub in subs:
                if sub.connector_id == row.id:
                    try:
                        secrets.append((sub.id, self._decrypt(sub.secret, sub.key_fingerprint)))
                    except PagerbridgeError as exc:
                        log.error("connector %s: webhook secret unreadable: %s", row.name, exc)
            out[row.name] = _Receiver(
                id=row.id,
                name=row.name,
                receives=row.sync_direction in RECEIVING,
                secrets=secrets,
                allowlist=[
                    ipaddress.ip_network(n, strict=False) for n in settings.webhook.ip_allowlist
                ],
                bucket=bucket
                or _Bucket(rate, max(1.0, rate * 2), max(1.0, rate * 2), self.clock()),
            )
        return out

    def _decrypt(self, blob: str, fingerprint: str) -> str:
        """A subscription's secret: ``encrypt_text(secret)``, or ``encrypt({"secret": …})``."""
        if self._box is None:
            self._box = SecretBox.for_engine(self.engine)
        text = self._box.decrypt_text(blob)
        if text.startswith("{"):
            return str(self._box.decrypt(blob, fingerprint)["secret"])
        return text

    # -- one delivery ----------------------------------------------------------------------------

    async def receive(
        self, name: str, body: bytes, signature: str | None, client: str | None
    ) -> Answer:
        answer = await self._receive(name, body, signature, client)
        if answer.status >= 400:  # issue 14 item 8: what was refused shows in im logs
            self.refusals.note(name, answer.body["error"]["reason"], client, self.clock())
        return answer

    async def _receive(
        self, name: str, body: bytes, signature: str | None, client: str | None
    ) -> Answer:
        receiver = await self._receiver(name)
        if receiver is None or not receiver.receives:
            return self._refuse(
                "unknown_connector", 404, f"no connector {name!r} receives webhooks"
            )
        if receiver.allowlist and not _allowed(client, receiver.allowlist):
            return self._refuse("not_allowed", 403, "this address may not send webhooks here")
        if not receiver.bucket.take(self.clock()):
            answer = self._refuse("rate_limited", 429, "too many webhook deliveries")
            answer.headers["Retry-After"] = "1"
            return answer
        subscription = _verified(body, signature, receiver.secrets)
        if subscription is None and await asyncio.to_thread(self._changed_since_load, receiver.id):
            # A subscription made (or rotated) since the cache was loaded: PagerDuty never
            # retries a 401, so reload and look again before refusing.
            await self._refresh()
            receiver = self._receivers.get(name) or receiver
            subscription = _verified(body, signature, receiver.secrets)
        if subscription is None:
            kind = "unsigned" if not (signature or "").strip() else "forged"
            log.warning("connector %s: %s webhook refused from %s", name, kind, client or "?")
            return self._refuse(kind, 401, "the signature does not verify")
        values = _event_values(receiver.id, body, self.clock())
        if values is None:
            return self._refuse("malformed", 400, "the body is not a PagerDuty v3 webhook event")
        try:
            fresh = await asyncio.wait_for(self._persist(values, subscription), PERSIST_TIMEOUT)
        except (TimeoutError, PagerbridgeError, sa.exc.SQLAlchemyError) as exc:
            log.warning("connector %s: webhook not stored (%s): answered 503", name, exc)
            return self._refuse("unavailable", 503, "the event could not be stored; retry")
        self.counts["accepted" if fresh else "duplicate"] += 1
        return Answer(202, {"status": "accepted", "duplicate": not fresh})

    def _refuse(self, outcome: str, status: int, message: str) -> Answer:
        self.counts[outcome] += 1
        return Answer(status, {"error": {"message": message, "reason": outcome}})

    # -- the group commit ------------------------------------------------------------------------

    async def _persist(self, values: dict[str, Any], subscription_id: int) -> bool:
        loop = asyncio.get_running_loop()
        pending = _Pending(values, subscription_id, loop.create_future())
        self._queue.append(pending)
        if self._writing is None or self._writing.done():
            self._writing = asyncio.create_task(self._write_all())
        return await asyncio.shield(pending.done)

    async def _write_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:WRITE_BATCH_MAX], self._queue[WRITE_BATCH_MAX:]
            try:
                fresh = await asyncio.to_thread(self._write, batch)
            except Exception as exc:
                for p in batch:
                    if not p.done.done():
                        p.done.set_exception(exc)
                continue
            for p, is_new in zip(batch, fresh, strict=True):
                if not p.done.done():
                    p.done.set_result(is_new)
            self.committed.set()

    def _write(self, batch: list[_Pending]) -> list[bool]:
        t, s = connector_webhook_events_table, connector_subscriptions_table
        now = self.clock()
        fresh: list[bool] = []
        with self.engine.begin() as conn:
            # One compiled statement, sent as multi-row INSERTs (SQLAlchemy's "insertmanyvalues");
            # the event ids it returns are the new ones.
            stmt = _insert_ignore(conn, t).returning(t.c.event_id)
            new = set(conn.execute(stmt, [p.values for p in batch]).scalars())
            seen: set[str] = set()
            for p in batch:
                event_id = p.values["event_id"]
                fresh.append(event_id in new and event_id not in seen)
                seen.add(event_id)
            for sub_id in {p.subscription_id for p in batch}:
                conn.execute(
                    sa.update(s)
                    .where(s.c.id == sub_id)
                    .values(
                        last_received_at=now,
                        first_verified_at=sa.func.coalesce(s.c.first_verified_at, now),
                    )
                )
        return fresh


def _insert_ignore(conn: sa.Connection, table: sa.Table) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for either database."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def _verified(body: bytes, signature: str | None, secrets: list[tuple[int, str]]) -> int | None:
    """The subscription whose secret signed the body, or None."""
    found = None
    for sub_id, secret in secrets:
        try:
            verify(body, signature, [secret])
        except SignatureError:
            continue
        found = sub_id if found is None else found
    return found


def _allowed(client: str | None, networks: list[Any]) -> bool:
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    return any(address in network for network in networks)


def _event_values(connector_id: int, body: bytes, now: float) -> dict[str, Any] | None:
    """The columns of one received event, or None when the body is not an event envelope."""
    try:
        event = json.loads(body)["event"]
        event_id = event["id"]
        event_type = event["event_type"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(event_id, str) or not isinstance(event_type, str):
        return None
    if not (0 < len(event_id) <= 128 and 0 < len(event_type) <= 64):
        return None
    if clean(event_id, 128) != event_id or clean(event_type, 64) != event_type:
        return None  # NUL or lone surrogates: no PagerDuty id or type looks like that
    data = event.get("data") if isinstance(event.get("data"), dict) else {}
    incident = data.get("incident") if isinstance(data.get("incident"), dict) else None
    pd_incident = (incident or data).get("id") if event_type.startswith("incident.") else None
    occurred = event.get("occurred_at")
    occurred = clean(occurred, 40, one_line=True) if isinstance(occurred, str) else None
    return {
        "connector_id": connector_id,
        "event_id": event_id,
        "event_type": event_type,
        "pd_incident_id": pd_identifier(pd_incident),
        "occurred_at": occurred,
        "received_at": now,
        "payload": body.decode("utf-8", "replace"),
        "state": PENDING,
    }
