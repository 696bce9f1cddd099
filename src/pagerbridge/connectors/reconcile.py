"""Reconcile: find what changed in PagerDuty since the watermark and apply what webhooks missed.

Why: a webhook can be lost (the hub was down past PagerDuty's retries, a subscription was off),
and nothing else would bring the two systems back together. Every ``sync_interval`` the hub (and
``im connector sync NAME`` at once) reads PagerDuty's changes and applies each through
:func:`inbound.apply`, exactly as if its webhook had come; a change already applied is an echo
there and changes nothing (:mod:`reconcile_entries` lists the mapping and the few replay checks).

How it reads PagerDuty, shaped by PagerDuty's rules:

- **The first run backfills** the open incidents of the mapped services: ``GET /incidents`` with
  ``statuses[]=triggered&statuses[]=acknowledged&service_ids[]=…&date_range=all`` (a search by
  date covers one month by default, six at most). Those not linked become local incidents when
  the connector receives, as ``incident.triggered`` would make them.
- **Then it walks** ``GET /log_entries?include[]=incidents`` from the watermark (the first time:
  the connector's creation, a day back at most) to now. The log is account-wide (only a team
  filter exists), so one request brings up to 100 changes of every incident; reading each
  linked incident's own log would cost a request per incident per run, even when nothing
  changed (bench/bench_reconcile.py measures both; docs/connector.md, "Reconcile").
- **Classic pagination stops at offset + limit = 10,000**: each window's first page asks for
  ``total``; a window holding more is halved until each half fits, and windows never span more
  than :data:`MAX_WINDOW` (PagerDuty's six-month limit). Each run starts 60 s before the
  watermark (late entries) and skips the entries it read there already (by log-entry id).
- **Half the REST budget at most** (:mod:`reconcile_pace`); a 429 waits ``Retry-After``.
- **One reconciler per connector** (:mod:`reconcile_state`): a second one finds the lock taken
  and returns at once. The watermark moves after each window, so a run that stops (killed,
  PagerDuty down) goes on from there next time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors import inbound
from pagerbridge.connectors import reconcile_entries as entries
from pagerbridge.connectors import reconcile_state as saved
from pagerbridge.connectors.outbound import budget_key
from pagerbridge.connectors.reconcile_log import record_run
from pagerbridge.connectors.reconcile_pace import Pacer, TakeToken, bucket_key
from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.errors import (
    ConnectorError,
    PagerbridgeError,
    PagerDutyError,
    PaginationLimitError,
)
from pagerbridge.outbox.policy import REST_RATE_LIMIT
from pagerbridge.pagerduty.rest import RestClient
from pagerbridge.pagerduty.rest_pagination import CLASSIC_MAX_RECORDS, MAX_LIMIT

log = logging.getLogger(__name__)

OVERLAP: Final = timedelta(seconds=60)
#: The first walk goes back to the connector's creation, but no further than this.
FIRST_WALK: Final = timedelta(hours=24)
#: PagerDuty searches at most six calendar months at once; stay well inside.
MAX_WINDOW: Final = timedelta(days=150)
#: A window holding more log entries than this is halved (when it spans 2 s or more): memory
#: holds one window's changes, so this bounds it whatever the backlog (classic pagination
#: could read 10,000; a split costs one request).
WINDOW_ENTRIES: Final = 2000
#: Changes applied per transaction (each in its own savepoint): short holds of SQLite's write
#: lock, so the webhook intake's answers stay quick during a large reconcile (as the applier's).
BATCH: Final = 25
#: ``fixed`` keeps this many sentences; ``applied`` counts them all.
KEEP_FIXED: Final = 100
Progress = Callable[[int, int], None]


@dataclass
class ReconcileResult:
    """What one run did: ``applied`` changes repaired what the webhooks missed."""

    connector: str
    ran: bool = True
    reason: str | None = None
    backfilled: int = 0
    entries: int = 0
    applied: int = 0
    ignored: int = 0
    failed: int = 0
    windows: int = 0
    requests: int = 0
    watermark: str | None = None
    error: str | None = None
    fixed: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.failed == 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "connector": self.connector,
            "ran": self.ran,
            "reason": self.reason,
            "backfilled": self.backfilled,
            "entries": self.entries,
            "applied": self.applied,
            "ignored": self.ignored,
            "failed": self.failed,
            "windows": self.windows,
            "requests": self.requests,
            "watermark": self.watermark,
            "error": self.error,
            "fixed": list(self.fixed),
            "errors": list(self.errors),
            "ok": self.ok,
        }


def receives(record: ConnectorRecord) -> bool:
    """Whether PagerDuty's changes flow into this connector (and a REST API to read them)."""
    return (
        record.status == "active"
        and record.settings.sync_direction in ("inbound", "bidirectional")
        and record.settings.auth_type != "routing_key"
    )


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Reconciler:
    """One run for one connector: ``await Reconciler(...).run()``."""

    def __init__(
        self,
        engine: sa.Engine,
        record: ConnectorRecord,
        client: RestClient,
        pacer: Pacer,
        *,
        progress: Progress | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.engine = engine
        self.record = record
        self.client = client
        self.pacer = pacer
        self.progress = progress
        self.clock = clock
        self.result = ReconcileResult(connector=record.name)
        self._emails: dict[str, str | None] = {}
        self._done = 0
        self._total = 0

    async def run(self) -> ReconcileResult:
        if not receives(self.record):
            return self._not_run(f"{self.record.name} does not receive changes from PagerDuty")
        lock = saved.RunLock(self.engine, self.record.id)
        if not await asyncio.to_thread(lock.acquire):
            return self._not_run("another process reconciles this connector now")
        started = time.monotonic()
        try:
            await self._run(lock)
        except PagerbridgeError as exc:
            self.result.error = str(exc)
            log.warning("connector %s: reconcile stopped: %s", self.record.name, exc)
        finally:
            await asyncio.to_thread(lock.release)
        self.result.requests = self.pacer.requests
        await asyncio.to_thread(
            record_run, self.engine, self.record, self.result, time.monotonic() - started
        )
        return self.result

    def _not_run(self, reason: str) -> ReconcileResult:
        self.result.ran = False
        self.result.reason = reason
        return self.result

    @staticmethod
    def skipped(record: ConnectorRecord, reason: str) -> ReconcileResult:
        return ReconcileResult(connector=record.name, ran=False, reason=reason)

    async def _run(self, lock: saved.RunLock) -> None:
        # The end of the current second: PagerDuty's times have whole seconds, and an entry of
        # this second written after the walk is read again by the next (its 60 s overlap).
        now = self.clock().replace(microsecond=0) + timedelta(seconds=1)
        state = await asyncio.to_thread(self._read)
        if state.watermark is None:
            created = datetime.fromtimestamp(self.record.created_at, UTC)
            start = max(created, now - FIRST_WALK)
            state.watermark = iso(start)
        if state.backfilled is None:
            await self._backfill(lock)
            await asyncio.to_thread(self._write, saved.BACKFILLED, iso(now))
        await self._walk(state, entries.parse_at(state.watermark) - OVERLAP, now, lock)
        self.result.watermark = iso(now)

    def _read(self) -> saved.Saved:
        with self.engine.begin() as conn:
            state = saved.read(conn, self.record.id)
            saved.put(conn, self.record.id, saved.LAST_RUN, repr(time.time()))
            return state

    def _write(self, name: str, value: str) -> None:
        with self.engine.begin() as conn:
            saved.put(conn, self.record.id, name, value)

    # -- PagerDuty ----------------------------------------------------------------------------

    async def _page(
        self, path: str, params: dict[str, Any], offset: int, *, total: bool = False
    ) -> Any:
        await self.pacer()
        limit = min(MAX_LIMIT, CLASSIC_MAX_RECORDS - offset)
        return await self.client.get_page(path, params, offset=offset, limit=limit, total=total)

    async def _email(self, user_id: str) -> str | None:
        if user_id not in self._emails:
            await self.pacer()
            try:
                self._emails[user_id] = (await self.client.get_user(user_id)).email
            except PagerDutyError as exc:
                log.info("connector %s: no email for %s: %s", self.record.name, user_id, exc)
                self._emails[user_id] = None
        return self._emails[user_id]

    def _tick(self, done: int = 0, total: int = 0) -> None:
        self._done += done
        self._total += total
        if self.progress is not None:
            self.progress(self._done, max(self._total, self._done))

    # -- backfill -----------------------------------------------------------------------------

    async def _backfill(self, lock: saved.RunLock) -> None:
        services = sorted(entries.mapped_services(self.record))
        if not services:
            return
        groups: list[list[str]] = [services]
        while groups:
            group = groups.pop(0)
            params = {
                "statuses[]": ["triggered", "acknowledged"],
                "service_ids[]": group,
                "date_range": "all",
            }
            first = await self._page("/incidents", params, 0, total=True)
            if first.total is not None and first.total > CLASSIC_MAX_RECORDS and len(group) > 1:
                groups = [group[: len(group) // 2], group[len(group) // 2 :], *groups]
                continue  # narrower: each half of the services fits under the cap
            self._tick(total=first.total or len(first.items))
            page, offset = first, 0
            while True:
                await self._apply([c for i in page.items for c in entries.from_incident(i)])
                self.result.backfilled += len(page.items)
                self._tick(done=len(page.items))
                await self._renew(lock)
                offset += len(page.items)
                if not page.more or not page.items:
                    break
                if offset >= CLASSIC_MAX_RECORDS:
                    self.result.errors.append(
                        f"more than {CLASSIC_MAX_RECORDS:,} open incidents on {group[0]}: "
                        "the oldest were not backfilled (the log walk still sees their changes)"
                    )
                    break
                page = await self._page("/incidents", params, offset)

    # -- the log walk ---------------------------------------------------------------------------

    async def _walk(
        self, state: saved.Saved, since: datetime, until: datetime, lock: saved.RunLock
    ) -> None:
        seen = dict(state.seen)
        pending: list[tuple[datetime, datetime]] = []
        start = since
        while start < until:
            end = min(start + MAX_WINDOW, until)
            pending.append((start, end))
            start = end
        pending.reverse()  # pop() takes the oldest first
        while pending:
            a, b = pending.pop()
            window = await self._read_window(a, b)
            if window is None:  # too many: halve it (whole seconds, as PagerDuty's times)
                mid = a + timedelta(seconds=int((b - a).total_seconds()) // 2)
                pending += [(mid, b), (a, mid)]
                continue
            self.result.windows += 1
            fresh = [c for c in window if c.entry_id not in seen]
            self.result.entries += len(fresh)
            await self._apply(fresh)
            horizon = iso(b - OVERLAP)
            seen = {k: v for k, v in seen.items() if v >= horizon}
            seen.update({c.entry_id: c.at for c in window if c.at >= horizon})
            await asyncio.to_thread(self._save_window, iso(b), seen)
            await self._renew(lock)

    async def _renew(self, lock: saved.RunLock) -> None:
        if not await asyncio.to_thread(lock.renew):
            raise ConnectorError("the reconcile lease was lost to another process; stopping")

    async def _read_window(self, a: datetime, b: datetime) -> list[entries.Change] | None:
        """Every change in [a, b), oldest first; None when the window holds more than
        :data:`WINDOW_ENTRIES` (or the cap) and can still be split."""
        params = {"since": iso(a), "until": iso(b), "include[]": ["incidents"]}
        splittable = b - a >= timedelta(seconds=2)
        first = await self._page("/log_entries", params, 0, total=True)
        if splittable and first.total is not None and first.total > WINDOW_ENTRIES:
            return None
        self._tick(total=first.total or len(first.items))
        changes: list[entries.Change] = []
        page, offset = first, 0
        while True:
            changes += [c for e in page.items if (c := entries.from_entry(e)) is not None]
            self._tick(done=len(page.items))
            offset += len(page.items)
            if not page.more or not page.items:
                break
            if offset >= CLASSIC_MAX_RECORDS:
                if splittable:
                    return None
                raise PaginationLimitError(
                    f"more than {CLASSIC_MAX_RECORDS:,} PagerDuty log entries in one second "
                    f"({iso(a)}): classic pagination cannot reach them all"
                )
            page = await self._page("/log_entries", params, offset)
        if len(changes) > 1 and changes[0].at > changes[-1].at:
            changes.reverse()  # PagerDuty lists newest first; ties keep the log's order
        changes.sort(key=lambda c: c.at)
        return changes

    def _save_window(self, watermark: str, seen: dict[str, str]) -> None:
        with self.engine.begin() as conn:
            saved.save_window(conn, self.record.id, watermark, seen)

    # -- applying -------------------------------------------------------------------------------

    async def _apply(self, changes: list[entries.Change]) -> None:
        for start in range(0, len(changes), BATCH):
            batch = changes[start : start + BATCH]
            ours = await asyncio.to_thread(self._relevant, batch)
            for change in batch:
                if change.user_id and change.pd_incident in ours:
                    await self._email(change.user_id)
            results = await asyncio.to_thread(self._apply_batch, batch)
            for r in results:
                self._count(r)

    def _relevant(self, batch: list[entries.Change]) -> set[str]:
        """PagerDuty incidents of the batch that are (or are about to be) linked."""
        services = entries.mapped_services(self.record)
        with self.engine.connect() as conn:
            known = set(entries.linked(conn, self.record.id, {c.pd_incident for c in batch}))
        return known | {
            c.pd_incident for c in batch if c.kind == entries.TRIGGERED and c.service in services
        }

    def _apply_batch(self, batch: list[entries.Change]) -> list[entries.Result]:
        from pagerbridge.connectors.applier import apply_lock_key

        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Not at the same time as the webhook applier: both would declare a new incident.
                conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:k)"),
                    {"k": apply_lock_key(self.record.id)},
                )
            return entries.apply_changes(conn, self.record, batch, self._emails)

    def _count(self, r: entries.Result) -> None:
        if r.state == inbound.APPLIED:
            self.result.applied += 1
            if len(self.result.fixed) < KEEP_FIXED:
                self.result.fixed.append(r.message)
        elif r.state == entries.FAILED:
            self.result.failed += 1
            if len(self.result.errors) < KEEP_FIXED:
                self.result.errors.append(f"{r.change.kind} {r.change.pd_incident}: {r.message}")
        else:
            self.result.ignored += 1


async def reconcile_connector(
    engine: sa.Engine,
    record: ConnectorRecord,
    *,
    take: TakeToken | None = None,
    progress: Progress | None = None,
    box: SecretBox | None = None,
) -> ReconcileResult:
    """One run with the connector's own REST client (``take``: the outbox's shared bucket)."""
    from pagerbridge.connectors import credentials

    if not receives(record):
        return Reconciler.skipped(record, f"{record.name} does not receive changes from PagerDuty")
    client = credentials.rest_client(record, engine=engine, box=box or SecretBox.for_engine(engine))
    async with client:
        pacer = Pacer(
            bucket_key(record.id), take=take, shared=(budget_key(record.id), REST_RATE_LIMIT)
        )
        return await Reconciler(engine, record, client, pacer, progress=progress).run()


async def reconcile_now(
    engine: sa.Engine,
    name: str,
    *,
    database_url: str | None = None,
    progress: Progress | None = None,
) -> ReconcileResult:
    """``im connector sync NAME``'s inbound half: one run now, in this process."""
    from pagerbridge.connectors.records import load

    with engine.connect() as conn:
        record = load(conn, name)
    if database_url is None:
        return await reconcile_connector(engine, record, progress=progress)
    from pagerbridge.outbox import open_outbox

    outbox = open_outbox(database_url)
    try:
        return await reconcile_connector(
            engine, record, take=outbox.storage.take_token, progress=progress
        )
    finally:
        await asyncio.to_thread(outbox.close)
