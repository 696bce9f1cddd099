"""Row kinds in the storage contract, on both backends: who claims, sees and counts which rows.

The agent and update-watcher send Events API rows (``event``, ``change_event``); the hub sends the
connectors' REST rows (``pd_rest``). A REST row in the table is never claimed by an event worker,
never its backlog (``oldest_due``), never held, and is claimed in order per ordering key by a
REST worker, within one rate budget per credential that every process shares.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from pagerbridge.outbox import (
    DEAD,
    DELIVERED,
    EVENT_KINDS,
    PENDING,
    REST_KIND,
    Completion,
    DeliveryWorker,
    NewRow,
    Outbox,
    OutboxStorage,
    open_storage,
    ordering_key,
)
from pagerbridge.outbox.policy import REST_RATE_LIMIT, RateLimit
from pagerbridge.pagerduty.outcome import Accepted, Outcome

T0 = 1_800_000_000.0
RK = "deadbeefdeadbeefdeadbeefdeadbeef"
US = "https://events.pagerduty.com"
BUDGET = "rest:fp-1"  # a REST row's routing key names its credential's budget
REST = (REST_KIND,)


def event(dedup: str, change: bool = False) -> NewRow:
    payload = f'{{"routing_key":"{RK}","event_action":"trigger","dedup_key":"{dedup}"}}'
    if change:
        return NewRow("change_event", payload, ordering_key(RK, None, change=True), RK, None)
    return NewRow("event", payload, ordering_key(RK, dedup), RK, dedup, destination=US)


def rest(incident: int, n: int = 0) -> NewRow:
    payload = f'{{"action":"status","incident":{incident},"n":{n}}}'
    lane = f"connector:1/incident:{incident}"
    return NewRow(REST_KIND, payload, lane, BUDGET, None, destination="connector:1")


@pytest.fixture
def storage(database_url: str) -> Iterator[OutboxStorage]:
    s = open_storage(database_url)
    yield s
    s.close()


def insert(s: OutboxStorage, *rows: NewRow, now: float = T0) -> list[int]:
    ids = s.insert_batch(list(rows), now=now, max_pending=None)
    assert None not in ids
    return [int(i) for i in ids if i is not None]


def claim(s: OutboxStorage, kinds: Any, destination: str | None = None) -> list[int]:
    got = s.claim(
        now=T0 + 1, limit=100, lease_seconds=60, worker="t", destination=destination, kinds=kinds
    )
    return [r.id for r in got]


def test_a_claim_takes_only_the_kinds_asked_for(storage: OutboxStorage) -> None:
    ev, change, r1 = insert(storage, event("a"), event("", change=True), rest(1))
    assert claim(storage, REST) == [r1]
    assert claim(storage, EVENT_KINDS, destination=US) == [ev, change]
    storage.complete([Completion(i, PENDING, T0) for i in (ev, change, r1)], now=T0)
    assert claim(storage, None) == [ev, change, r1]  # no filter: every kind (pd-queue's view)


def test_rest_rows_go_in_order_per_ordering_key_and_never_to_an_event_worker(
    storage: OutboxStorage,
) -> None:
    a0, a1, b0, ev, a2 = insert(storage, rest(1, 0), rest(1, 1), rest(2, 0), event("x"), rest(1, 2))
    for _ in range(2):  # an event worker, with or without a destination, never takes them
        assert claim(storage, EVENT_KINDS, destination=US) in ([ev], [])
        assert claim(storage, EVENT_KINDS) == []
    sent: list[int] = []
    for _ in range(4):
        got = claim(storage, REST)
        sent += got
        storage.complete([Completion(i, DELIVERED) for i in got], now=T0 + 1)
    assert sent == [a0, b0, a1, a2]  # incident 1's rows strictly in order, incident 2 alongside


def test_event_views_do_not_see_rest_rows(storage: OutboxStorage) -> None:
    """What the agent's worker, /health and self-monitor read: a REST row waiting an hour for
    the hub is not the agent's backlog, not held, not counted."""
    (rest_id,) = insert(storage, rest(1), now=T0 - 3600)
    assert storage.oldest_due(now=T0, kinds=EVENT_KINDS) is None
    assert storage.oldest_due(now=T0, kinds=REST) == pytest.approx(T0 - 3600)
    assert storage.next_due(kinds=EVENT_KINDS) is None
    assert storage.next_due(kinds=REST) == pytest.approx(T0 - 3600)
    assert storage.pending_count(kinds=EVENT_KINDS) == 0
    assert storage.pending_count() == storage.pending_count(kinds=REST) == 1
    assert storage.held(destination=US, kinds=EVENT_KINDS) == []
    (ev,) = insert(storage, event("a"), now=T0 - 10)
    assert storage.oldest_due(now=T0, kinds=EVENT_KINDS) == pytest.approx(T0 - 10)
    events = storage.stats(kinds=EVENT_KINDS)
    assert events.by_state == {PENDING: 1} and events.oldest_pending_at == pytest.approx(T0 - 10)
    every = storage.stats()
    assert every.by_kind == {"event": {PENDING: 1}, REST_KIND: {PENDING: 1}}
    assert every.by_routing_key == {RK: {PENDING: 1}, BUDGET: {PENDING: 1}}
    for row_id in (rest_id, ev):
        assert storage.get(row_id).state == PENDING  # type: ignore[union-attr]


def test_retry_never_re_addresses_a_rest_row(storage: OutboxStorage) -> None:
    """``pd-queue retry --held --to URL`` moves Events API rows only; a dead REST row retried by
    id keeps its own destination (its connector), whatever ``--to`` says."""
    held_rest, dead_rest = insert(storage, rest(1), rest(2))
    assert storage.retry(now=T0, held=True, to=US) == 0
    assert claim(storage, REST) == [held_rest, dead_rest]
    storage.complete(
        [Completion(held_rest, PENDING, T0), Completion(dead_rest, DEAD, last_error="HTTP 400")],
        now=T0,
    )
    assert storage.retry(now=T0, ids=[dead_rest], to="http://elsewhere") == 1
    for row_id in (held_rest, dead_rest):
        row = storage.get(row_id)
        assert row is not None and row.state == PENDING and row.destination == "connector:1"


def test_workers_pick_their_kinds_and_budget(storage: OutboxStorage) -> None:
    outbox = Outbox(storage)

    async def ok(body: bytes, change: bool, destination: str | None) -> Outcome:
        return Accepted(None, 202, "ok")

    event_worker = DeliveryWorker(outbox, events_url=US)
    assert event_worker.kinds == EVENT_KINDS and event_worker.rate_limit == RateLimit()
    rest_worker = DeliveryWorker(outbox, sender=ok, kinds=REST)
    assert rest_worker.rate_limit == REST_RATE_LIMIT
    per_minute = REST_RATE_LIMIT.per_minute or 0
    assert REST_RATE_LIMIT.capacity + per_minute == 960  # at most 960 in any minute
    with pytest.raises(ValueError, match="need a sender"):
        DeliveryWorker(outbox, events_url=US, kinds=REST)


def test_rest_workers_in_two_processes_share_one_budget(database_url: str) -> None:
    """Two REST workers, each on its own connection (as two hubs), one credential's bucket of 3
    and a frozen clock: the first sends 2, the second only the 1 token left (alone it would send
    3); the rest wait for the budget, without counting an attempt."""
    first, second = open_storage(database_url), open_storage(database_url)
    limit = RateLimit(per_minute=60, burst=3)

    async def drain(storage: OutboxStorage) -> list[str]:
        sent: list[str] = []

        async def record(body: bytes, change: bool, destination: str | None) -> Outcome:
            sent.append(body.decode())
            return Accepted(None, 200, "ok")

        outbox = Outbox(storage, clock=lambda: T0)
        worker = DeliveryWorker(outbox, sender=record, kinds=REST, rate_limit=limit)
        await worker.drain(timeout=0.5)
        return sent

    try:
        insert(first, rest(1), rest(2))
        assert len(asyncio.run(drain(first))) == 2
        insert(second, *(rest(i) for i in range(3, 9)))
        assert len(asyncio.run(drain(second))) == 1
        rows = first.list_rows(limit=100)
        assert sum(r.state == DELIVERED for r in rows) == 3
        assert all(r.attempts == 0 for r in rows if r.state == PENDING)
    finally:
        first.close()
        second.close()
