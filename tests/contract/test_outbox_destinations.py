"""The storage contract's destinations, held rows and superseded dead rows, on both backends.

The same suite as ``test_outbox_storage.py`` (one contract, every backend), for the methods that
decide where a row may go: ``claim(destination=)``, ``next_due``/``oldest_due``, ``held``,
``record_destination``/``recorded_destination``, ``retry(held=, to=, force=)`` and ``superseded``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pagerbridge.outbox import (
    DEAD,
    DELIVERED,
    PENDING,
    Completion,
    Held,
    NewRow,
    OutboxStorage,
    open_storage,
    ordering_key,
)
from pagerbridge.outbox.queries import BLOCKED

T0 = 1_800_000_000.0
RK = "deadbeefdeadbeefdeadbeefdeadbeef"
US = "https://events.pagerduty.com"
SANDBOX = "http://127.0.0.1:8090"


def row(dedup: str, destination: str | None, action: str = "trigger") -> NewRow:
    payload = f'{{"routing_key":"{RK}","event_action":"{action}","dedup_key":"{dedup}"}}'
    return NewRow(
        "event", payload, ordering_key(RK, dedup), RK, dedup, PENDING, destination=destination
    )


@pytest.fixture
def storage(database_url: str) -> Iterator[OutboxStorage]:
    s = open_storage(database_url)
    yield s
    s.close()


def claim(s: OutboxStorage, destination: str | None, now: float = T0) -> list[Any]:
    return s.claim(now=now, limit=100, lease_seconds=60, worker="t", destination=destination)


def insert(s: OutboxStorage, *rows: NewRow) -> list[int]:
    ids = s.insert_batch(list(rows), now=T0, max_pending=None)
    assert None not in ids
    return [int(i) for i in ids if i is not None]


def test_a_worker_claims_its_own_rows_and_rows_without_a_destination(
    storage: OutboxStorage,
) -> None:
    ours, theirs, anyone = insert(
        storage, row("a", SANDBOX), row("b", US), row("c", None)
    )  # fmt: skip
    assert storage.get(ours).destination == SANDBOX  # type: ignore[union-attr]
    assert {r.id for r in claim(storage, SANDBOX)} == {ours, anyone}
    assert storage.get(theirs).state == PENDING  # type: ignore[union-attr]
    assert [r.id for r in claim(storage, US)] == [theirs]


def test_a_worker_without_a_destination_claims_everything(storage: OutboxStorage) -> None:
    ids = insert(storage, row("a", SANDBOX), row("b", US), row("c", None))
    assert {r.id for r in claim(storage, None)} == set(ids)


def test_a_held_row_keeps_its_lane_and_is_not_due_for_the_other_worker(
    storage: OutboxStorage,
) -> None:
    held, behind = insert(storage, row("k", US), row("k", SANDBOX, "resolve"))
    assert claim(storage, SANDBOX) == []  # the resolve waits behind the held trigger
    assert storage.get(behind).next_attempt_at == BLOCKED  # type: ignore[union-attr]
    assert storage.next_due(destination=SANDBOX) is None  # nothing to wake up for
    assert storage.next_due(destination=US) == T0
    assert storage.oldest_due(now=T0, destination=SANDBOX) is None
    assert storage.oldest_due(now=T0, destination=US) == T0
    (first,) = claim(storage, US)
    storage.complete([Completion(first.id, DELIVERED)], now=T0 + 1)
    assert [r.id for r in claim(storage, SANDBOX, now=T0 + 1)] == [behind]
    assert held == first.id


def test_the_recorded_destination_decides_what_is_held(storage: OutboxStorage) -> None:
    assert storage.recorded_destination() is None
    _, us_id = insert(storage, row("a", SANDBOX), row("b", US))
    # nothing recorded: every addressed row waits for a worker configured for it
    assert {h.destination for h in storage.held()} == {SANDBOX, US}
    storage.record_destination(SANDBOX, now=T0)
    assert storage.recorded_destination() == SANDBOX
    assert storage.held() == [Held(US, 1, us_id)]
    storage.record_destination(US, now=T0)
    assert [h.destination for h in storage.held()] == [SANDBOX]
    storage.record_destination(None, now=T0)
    assert storage.recorded_destination() is None


def test_retry_held_re_addresses_only_held_rows(storage: OutboxStorage) -> None:
    storage.record_destination(SANDBOX, now=T0)
    ours, theirs = insert(storage, row("a", SANDBOX), row("b", US))
    assert storage.retry(now=T0 + 5, held=True, held_for=SANDBOX, to=US) == 0
    assert storage.retry(now=T0 + 5, held=True, to=SANDBOX) == 1
    assert storage.get(theirs).destination == SANDBOX  # type: ignore[union-attr]
    assert storage.get(ours).destination == SANDBOX  # type: ignore[union-attr]
    assert storage.held() == []


def test_retry_skips_a_dead_trigger_whose_alert_was_settled_since(
    storage: OutboxStorage,
) -> None:
    trigger, other = insert(storage, row("k", None), row("o", None))
    storage.claim(now=T0, limit=10, lease_seconds=60, worker="t")
    storage.complete([Completion(trigger, DEAD), Completion(other, DEAD)], now=T0)
    (resolve,) = insert(storage, row("k", None, "resolve"))
    storage.claim(now=T0, limit=10, lease_seconds=60, worker="t")
    storage.complete([Completion(resolve, DELIVERED)], now=T0)
    assert storage.superseded(dead=True) == [trigger]
    assert storage.superseded(ids=[other]) == []
    assert storage.retry(now=T0 + 1, dead=True) == 1
    assert storage.get(trigger).state == DEAD  # type: ignore[union-attr]
    assert storage.get(other).state == PENDING  # type: ignore[union-attr]
    assert storage.retry(now=T0 + 1, ids=[trigger], force=True) == 1
    assert storage.get(trigger).state == PENDING  # type: ignore[union-attr]
