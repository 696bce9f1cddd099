"""The connectors at run time: the worker that sends connector rows, in the hub or in ``sync``.

The hub (``im serve``, ``pagerbridge up``) runs one :class:`ConnectorRuntime` for every connector
in its database; ``im connector sync NAME`` runs :func:`sync_now` for one connector, in the
calling process, with no hub needed. Both claim only outbox rows of kind ``pd_rest`` (the
agent and update-watcher never claim those) and draw from PagerDuty's REST budget (960 requests
a minute per credential), kept in the database so every process shares it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from pagerbridge.connectors.applier import WebhookApplier
from pagerbridge.connectors.metrics import ApiCalls, flush_calls, housekeeping
from pagerbridge.connectors.outbound import destination, ordering_key, ordering_prefix
from pagerbridge.connectors.records import ConnectorRecord, load
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.sync import ConnectorSender
from pagerbridge.errors import ConnectorError
from pagerbridge.outbox import open_outbox
from pagerbridge.outbox.policy import REST_RATE_LIMIT
from pagerbridge.outbox.tables import outbox_table
from pagerbridge.outbox.types import ACTIVE_STATES, REST_KIND
from pagerbridge.outbox.worker import DeliveryWorker
from pagerbridge.pagerduty.outcome import Outcome, Rejected, Retry
from pagerbridge.pagerduty.rest import RestClient

log = logging.getLogger(__name__)

#: The hub looks for new connector rows this often (PostgreSQL's NOTIFY wakes it sooner), so a
#: declaration made by ``im`` in another process reaches PagerDuty within a second.
POLL_SECONDS: Final = 0.2
#: A REST call's own deadline; the outbox retries after it.
CALL_TIMEOUT: Final = 10.0
SYNC_TIMEOUT: Final = 60.0


class Clients:
    """One REST client per connector, remade when the connector changes (``updated_at``)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._clients: dict[int, tuple[float, RestClient]] = {}
        self._emails: dict[tuple[int, str], str | None] = {}
        self._box: SecretBox | None = None
        self.calls = ApiCalls()  # issue 14 item 8: PagerDuty calls per connector, for metrics

    def box(self) -> SecretBox:
        if self._box is None:
            self._box = SecretBox.for_engine(self.engine)
        return self._box

    async def events_target(self, record: ConnectorRecord) -> tuple[str, str]:
        """(Events API base URL, routing key) of a routing-key connector."""
        from pagerbridge.connectors import credentials

        secrets = self.box().decrypt(record.secrets_blob, record.key_fingerprint)
        if not secrets.get("routing_key"):
            raise ConnectorError(f"connector {record.name!r} has no routing key")
        return credentials.events_base(record.settings), secrets["routing_key"]

    async def __call__(self, record: ConnectorRecord) -> RestClient:
        cached = self._clients.get(record.id)
        if cached is not None and cached[0] == record.updated_at:
            return cached[1]
        if cached is not None:
            await cached[1].aclose()
        from pagerbridge.connectors import credentials

        client = credentials.rest_client(
            record, engine=self.engine, box=self.box(), timeout=CALL_TIMEOUT
        )
        client.max_rate_limit_retries = 0  # the outbox owns backoff: a 429 is a Retry
        client.on_request = self.calls.hook(record.id)
        self._clients[record.id] = (record.updated_at, client)
        return client

    async def email_of(self, record: ConnectorRecord, user_id: str) -> str | None:
        """A PagerDuty user's email (cached): assignees arrive as references."""
        if (record.id, user_id) not in self._emails:
            client = await self(record)
            user = await client.get_user(user_id)
            self._emails[(record.id, user_id)] = user.email
        return self._emails[(record.id, user_id)]

    async def aclose(self) -> None:
        for _, client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()


class ConnectorRuntime:
    """The connectors in the hub (start with :meth:`run`): the sender of every connector's rows,
    the webhook applier, reconcile at each connector's ``sync_interval``, and housekeeping
    (counted API calls written, old log records pruned)."""

    def __init__(
        self, database_url: str, engine: sa.Engine, *, applied: asyncio.Event | None = None
    ) -> None:
        self.outbox = open_outbox(database_url)
        self.clients = Clients(engine)
        #: Set by the webhook intake when it stored events; wakes the applier.
        self.received = applied or asyncio.Event()
        self.applier = WebhookApplier(engine, email_of=self.clients.email_of)
        self.worker = DeliveryWorker(
            self.outbox,
            sender=ConnectorSender(engine, self.clients, self.clients.events_target),
            kinds=(REST_KIND,),
            rate_limit=REST_RATE_LIMIT,  # 960 in any minute, shared by every process
            poll_interval=POLL_SECONDS,
            timeout=CALL_TIMEOUT,
        )
        # Reconcile (issue 14): every receiving connector at its sync_interval, half the budget.
        from pagerbridge.connectors.reconcile_loop import ReconcileLoop

        self.reconciler = ReconcileLoop(
            engine, take=self.outbox.storage.take_token, box=self.clients.box
        )

    async def run(self, stop: asyncio.Event) -> None:
        applying = asyncio.create_task(self.applier.run(stop, self.received))
        chores = asyncio.create_task(housekeeping(self.clients.engine, self.clients.calls, stop))
        reconciling = asyncio.create_task(self.reconciler.run(stop))
        try:
            await self.worker.run(stop)
            await applying
            await chores  # writes the last counted calls
            await reconciling
        finally:
            applying.cancel()
            chores.cancel()
            reconciling.cancel()
            await self.clients.aclose()
            await asyncio.to_thread(self.outbox.close)


@dataclass(frozen=True)
class SyncResult:
    """What ``im connector sync`` did: rows sent, failed (dead), still pending."""

    connector: str
    delivered: int
    failed: int
    remaining: int
    errors: list[str]

    @property
    def ok(self) -> bool:
        return self.failed == 0 and self.remaining == 0


def pending_rows(
    engine: sa.Engine, connector_id: int, incident_id: int | None = None
) -> list[tuple[int, str]]:
    """(id, ordering key) of the connector's rows still to send, oldest first."""
    t = outbox_table
    query = sa.select(t.c.id, t.c.ordering_key).where(
        t.c.kind == REST_KIND, t.c.state.in_(ACTIVE_STATES)
    )
    if incident_id is None:
        query = query.where(t.c.ordering_key.startswith(ordering_prefix(connector_id)))
    else:
        query = query.where(t.c.ordering_key == ordering_key(connector_id, incident_id))
    with engine.connect() as conn:
        return [(r.id, r.ordering_key) for r in conn.execute(query.order_by(t.c.id))]


async def sync_now(
    database_url: str,
    engine: sa.Engine,
    name: str,
    *,
    incident_id: int | None = None,
    timeout: float = SYNC_TIMEOUT,  # noqa: ASYNC109 - a deadline for the whole sync
    progress: Callable[[int, int], None] | None = None,
) -> SyncResult:
    """Send the connector's pending rows from this process and wait for each to be delivered or
    to fail (at most ``timeout`` seconds). ``progress(done, total)`` is called after each row.

    With ``incident_id``, the connector's other rows are sent too (one claim serves them all),
    but only that incident's are waited for and counted.
    """
    with engine.connect() as conn:
        record = await asyncio.to_thread(load, conn, name)
    if record.status != "active":
        raise ConnectorError(f"connector {name!r} is {record.status}: enable it first")
    wanted = {row_id for row_id, _ in pending_rows(engine, record.id, incident_id)}
    total = len(wanted)
    outbox = open_outbox(database_url)
    clients = Clients(engine)
    sender = ConnectorSender(engine, clients, clients.events_target)
    errors: list[str] = []
    done = 0

    async def counting(body: bytes, change: bool, dest: str | None) -> Outcome:
        nonlocal done
        outcome = await sender(body, change, dest)
        if not isinstance(outcome, Retry):
            done += 1
            if progress is not None:
                progress(min(done, total), total)
            if isinstance(outcome, Rejected):
                errors.append(outcome.message)
        return outcome

    worker = DeliveryWorker(
        outbox,
        sender=counting,
        kinds=(REST_KIND,),
        destination=destination(record.id),
        rate_limit=REST_RATE_LIMIT,  # 960 in any minute, shared by every process
        poll_interval=POLL_SECONDS,
        timeout=CALL_TIMEOUT,
    )
    try:
        if total:
            await worker.drain(timeout)
    finally:
        await clients.aclose()
        await asyncio.to_thread(outbox.close)
        await asyncio.to_thread(flush_calls, engine, clients.calls)  # for im metrics
    left = {row_id for row_id, _ in pending_rows(engine, record.id, incident_id)} & wanted
    failed = _dead_among(engine, wanted)
    return SyncResult(
        connector=name,
        delivered=total - len(left) - failed,
        failed=failed,
        remaining=len(left),
        errors=errors,
    )


def _dead_among(engine: sa.Engine, ids: set[int]) -> int:
    if not ids:
        return 0
    t = outbox_table
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(t.c.id.in_(ids), t.c.state == "dead")
            ).scalar_one()
        )
