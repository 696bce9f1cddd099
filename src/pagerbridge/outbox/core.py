"""The ``Outbox``: validate and store events durably, and manage the queue (standard library only).

Validation goes through :func:`pagerbridge.pagerduty.event_rules.normalise_event`, the one rule
source shared with the sandbox and the agent's endpoint. The async enqueue joins a *group commit*:
events arriving while a transaction is being written wait and are written together in the next
one, so many concurrent HTTP requests cost one fsync.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

from pagerbridge.errors import PagerbridgeError, QueueFullError
from pagerbridge.outbox.storage import NewRow
from pagerbridge.outbox.types import (
    CHANGE_EVENT_KIND,
    DEAD,
    DELIVERED,
    EVENT_KIND,
    EVENT_KINDS,
    PENDING,
    SUPPRESSED,
    EnqueuedRow,
    FoldedInto,
    Held,
    OutboxRow,
    Stats,
    ordering_key,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from typing import Any

    from pagerbridge.outbox.group_commit import GroupCommit
    from pagerbridge.outbox.storage_contract import OutboxStorage

Clock = Callable[[], float]


#: Fresh dedup keys, cut from one os.urandom call per 256 keys: a system call per event showed up
#: in the agent's profile (getrandom ~5 % of its samples). list.pop/extend are atomic under the
#: GIL, so threads never share a key; a forked child starts with an empty pool.
_KEY_POOL: list[str] = []
_KEYS_PER_REFILL = 256
os.register_at_fork(after_in_child=_KEY_POOL.clear)


def new_dedup_key() -> str:
    """A random 128-bit key as 32 hex characters (what PagerDuty would generate, in spirit)."""
    while True:
        try:
            return _KEY_POOL.pop()
        except IndexError:
            raw = os.urandom(16 * _KEYS_PER_REFILL).hex()
            _KEY_POOL.extend(raw[i : i + 32] for i in range(0, len(raw), 32))


def prepare_event(
    event: Mapping[str, Any],
    *,
    change: bool = False,
    now: float,
    suppressed: bool = False,
    destination: str | None = None,
    fold: bool = False,
) -> NewRow:
    """Validate and normalise one event into a row; raises EventValidationError.

    A trigger without a dedup key gets one here (as PagerDuty would), so the caller can print it
    and later resolve the alert; ``payload.timestamp`` is filled with the time of acceptance.
    ``destination`` is the Events API base URL the row is meant for (``events_base``). With
    ``fold`` (event sources), a trigger may fold into its alert's pending trigger (see
    ``NewRow.fold``); other actions never fold.
    """
    from pagerbridge.pagerduty.event_rules import normalise_event_text

    data = event
    if not change and event.get("event_action") == "trigger" and not event.get("dedup_key"):
        data = {**event, "dedup_key": new_dedup_key()}  # normalise copies; so no copy here
    normalised, text = normalise_event_text(
        data, change=change, now=datetime.fromtimestamp(now, UTC)
    )
    routing_key = str(normalised.get("routing_key", ""))
    dedup_key = None if change else normalised.get("dedup_key")
    trigger = not change and normalised.get("event_action") == "trigger"
    return NewRow(
        kind=CHANGE_EVENT_KIND if change else EVENT_KIND,
        payload=text,
        ordering_key=ordering_key(routing_key, dedup_key, change=change),
        routing_key=routing_key,
        dedup_key=dedup_key,
        state=SUPPRESSED if suppressed else PENDING,
        destination=destination,
        fold=fold and trigger,
    )


class Outbox:
    """The durable queue of outbound PagerDuty calls over one storage backend.

    ``max_queue`` bounds pending + in-flight rows (QueueFullError beyond it); ``clock`` returns
    Unix seconds and is the only source of time. ``destination`` (an Events API base URL) is
    stamped on the rows this producer enqueues, unless a call names its own. ``kinds`` are the
    row kinds its views cover (``stats``, ``pending_count``, ``held``): Events API rows by
    default, as the agent and update-watcher see the queue; None for every kind (``pd-queue``).
    """

    def __init__(
        self,
        storage: OutboxStorage,
        *,
        max_queue: int | None = None,
        clock: Clock = time.time,
        destination: str | None = None,
        kinds: Sequence[str] | None = EVENT_KINDS,
    ) -> None:
        from pagerbridge.outbox.types import DEFAULT_MAX_QUEUE

        self.storage = storage
        self.destination = destination
        self.kinds = None if kinds is None else tuple(kinds)
        self.max_queue = DEFAULT_MAX_QUEUE if max_queue is None else max_queue
        self.clock = clock
        #: The group commit's writer threads, started by the first async enqueue.
        self._group: GroupCommit | None = None
        #: Called (in the event loop) after rows were committed, to wake local workers at once.
        self.listeners: list[Callable[[], None]] = []

    # -- enqueue ---------------------------------------------------------------------------------

    def enqueue_event(
        self,
        event: Mapping[str, Any],
        *,
        change: bool = False,
        now: float | None = None,
        suppressed: bool = False,
        destination: str | None = None,
        fold: bool = False,
    ) -> EnqueuedRow:
        """Validate and store one event; durable on return. ``fold``: see ``prepare_event``.

        Raises EventValidationError, QueueFullError or StorageError.
        """
        ts = self.clock() if now is None else now
        row = prepare_event(
            event,
            change=change,
            now=ts,
            suppressed=suppressed,
            destination=destination or self.destination,
            fold=fold,
        )
        (result,) = self._insert([row], ts)
        if isinstance(result, PagerbridgeError):
            raise result
        return result

    def enqueue_batch(
        self, rows: Sequence[NewRow], *, now: float | None = None
    ) -> list[EnqueuedRow | QueueFullError]:
        """Store already prepared rows in one transaction (one fsync)."""
        return self._insert(rows, self.clock() if now is None else now)

    def _insert(self, rows: Sequence[NewRow], now: float) -> list[EnqueuedRow | QueueFullError]:
        ids = self.storage.insert_batch(rows, now=now, max_pending=self.max_queue)
        out: list[EnqueuedRow | QueueFullError] = []
        for row, row_id in zip(rows, ids, strict=True):
            if row_id is None:
                out.append(QueueFullError(f"the outbox holds its maximum of {self.max_queue} rows"))
            else:
                into = int(row_id) if isinstance(row_id, FoldedInto) else None
                rid = int(row_id)
                out.append(EnqueuedRow(rid, row.dedup_key, row.routing_key, row.state, into))
        return out

    async def enqueue_event_async(
        self,
        event: Mapping[str, Any],
        *,
        change: bool = False,
        suppressed: bool = False,
        fold: bool = False,
    ) -> EnqueuedRow:
        """Validate now, then join the next group commit; durable when it returns.

        For the agent's HTTP endpoint: concurrent callers share one transaction and one fsync.
        ``fold`` (event sources; see ``prepare_event``): repeats of a pending trigger fold into
        it, in the same batch or in the table. Raises EventValidationError at once;
        QueueFullError or StorageError after the commit.
        """
        row = prepare_event(
            event,
            change=change,
            now=self.clock(),
            suppressed=suppressed,
            destination=self.destination,
            fold=fold,
        )
        return await self.enqueue_row_async(row)

    async def enqueue_row_async(self, row: NewRow) -> EnqueuedRow:
        """Join the group commit with an already prepared row."""
        group = self._group
        if group is None:
            from pagerbridge.outbox.group_commit import GroupCommit

            group = self._group = GroupCommit(
                lambda rows: self._insert(rows, self.clock()),
                on_committed=self._committed,
                writers=self.storage.group_commit_writers,
            )
        return await group.submit(row)

    def _committed(self) -> None:
        for listener in self.listeners:
            listener()

    # -- inspection and management (pd-queue) -----------------------------------------------------

    def stats(self) -> Stats:
        """Queue depth over this outbox's ``kinds``."""
        return self.storage.stats(kinds=self.kinds)

    def pending_count(self) -> int:
        """Rows of this outbox's ``kinds`` pending or in flight."""
        return self.storage.pending_count(kinds=self.kinds)

    def get(self, row_id: int) -> OutboxRow | None:
        return self.storage.get(row_id)

    def list_rows(
        self,
        *,
        states: Sequence[str] = (),
        routing_key: str | None = None,
        dedup_key: str | None = None,
        since: float | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[OutboxRow]:
        return self.storage.list_rows(
            states=states,
            routing_key=routing_key,
            dedup_key=dedup_key,
            since=since,
            after_id=after_id,
            limit=limit,
        )

    def retry(
        self,
        *,
        ids: Sequence[int] = (),
        dead: bool = False,
        routing_key: str | None = None,
        held: bool = False,
        held_for: str | None = None,
        to: str | None = None,
        force: bool = False,
    ) -> int:
        """Make dead rows (by id, all, or one routing key's) pending again with a fresh deadline;
        held rows too with ``held``; ``to`` re-addresses them. Superseded dead rows (a later row
        of their alert was delivered) are skipped unless ``force``: see :meth:`superseded`."""
        return self.storage.retry(
            now=self.clock(),
            ids=ids,
            dead=dead,
            routing_key=routing_key,
            held=held,
            held_for=held_for,
            to=to,
            force=force,
        )

    def superseded(
        self, *, ids: Sequence[int] = (), dead: bool = False, routing_key: str | None = None
    ) -> list[int]:
        return self.storage.superseded(ids=ids, dead=dead, routing_key=routing_key)

    def held(self, *, destination: str | None = None) -> list[Held]:
        """Events API rows held for another destination (REST rows are never held: the hub
        sends them wherever their credential says)."""
        return self.storage.held(destination=destination, kinds=EVENT_KINDS)

    def recorded_destination(self) -> str | None:
        return self.storage.recorded_destination()

    def record_destination(self, url: str | None) -> None:
        self.storage.record_destination(url, now=self.clock())

    def purge(self, *, dead: bool = False, delivered: bool = False) -> int:
        """Delete dead and/or delivered rows; pending rows are never purged."""
        states = [s for s, on in ((DEAD, dead), (DELIVERED, delivered)) if on]
        return self.storage.purge(states=states) if states else 0

    def clean_delivered(self, retention_seconds: float) -> int:
        """Delete delivered (and suppressed) rows older than the retention period."""
        before = self.clock() - retention_seconds
        return self.storage.purge(states=[DELIVERED, SUPPRESSED], before=before)

    def pause(self, routing_key: str) -> None:
        """Hold delivery for a routing key (events still queue)."""
        self.storage.pause(routing_key, now=self.clock())

    def resume(self, routing_key: str) -> bool:
        return self.storage.resume(routing_key)

    def paused(self) -> list[str]:
        return self.storage.paused()

    def close(self) -> None:
        self.storage.close()

    async def aclose(self) -> None:
        """Finish the group commit in progress, then close the storage."""
        import asyncio

        group, self._group = self._group, None
        if group is not None:
            await asyncio.to_thread(group.close)
        await asyncio.to_thread(self.storage.close)
