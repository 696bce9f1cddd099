"""The hub's reconcile schedule: every receiving connector, every ``sync_interval``.

Each hub process looks once a second for connectors whose last run (``reconcile_last_run``, or
the connector's creation for one never reconciled) is ``sync_interval`` old, and starts a run
for each; with several hubs on one PostgreSQL the run's lock lets exactly one of them work and
the others return at once (and the first one's start moved the shared ``last run`` on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final

import sqlalchemy as sa

from pagerbridge.connectors import reconcile_state as saved
from pagerbridge.connectors.reconcile import receives, reconcile_connector
from pagerbridge.connectors.reconcile_log import summary
from pagerbridge.connectors.reconcile_pace import TakeToken
from pagerbridge.connectors.records import ConnectorRecord, load_all
from pagerbridge.connectors.secrets import SecretBox

log = logging.getLogger(__name__)

TICK_SECONDS: Final = 1.0


class ReconcileLoop:
    def __init__(
        self,
        engine: sa.Engine,
        *,
        take: TakeToken | None = None,
        box: Callable[[], SecretBox] | None = None,
        clock: Callable[[], float] = time.time,
        tick: float = TICK_SECONDS,
    ) -> None:
        self.engine = engine
        self.take = take
        self.box = box
        self.clock = clock
        self.tick = tick
        self.runs = 0

    async def run(self, stop: asyncio.Event) -> None:
        running: dict[int, asyncio.Task[None]] = {}
        try:
            while not stop.is_set():
                try:
                    due = await asyncio.to_thread(self.due)
                except Exception:  # the loop must outlive a bad moment of the database
                    log.exception("reconcile: reading the connectors failed; retrying")
                    due = []
                for record in due:
                    task = running.get(record.id)
                    if task is None or task.done():
                        running[record.id] = asyncio.create_task(self._one(record))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.tick)
        finally:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    def due(self) -> list[ConnectorRecord]:
        with self.engine.connect() as conn:
            records = load_all(conn, active_only=True)
            last = saved.last_runs(conn)
        now = self.clock()
        return [
            r
            for r in records
            if receives(r)
            and now >= last.get(r.id, r.created_at) + r.settings.sync_interval_seconds
        ]

    async def _one(self, record: ConnectorRecord) -> None:
        try:
            result = await reconcile_connector(
                self.engine,
                record,
                take=self.take,
                box=self.box() if self.box is not None else None,
            )
        except Exception:  # a connector's failure must not stop the others' schedule
            log.exception("connector %s: reconcile failed", record.name)
            return
        self.runs += 1
        if result.ran and (result.applied or not result.ok):
            log.info("connector %s: %s", record.name, summary(result))
