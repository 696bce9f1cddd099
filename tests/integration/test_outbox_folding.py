"""Folding repeated triggers (issue 15), on SQLite and PostgreSQL.

A trigger stored with ``fold`` (event sources) whose routing + dedup key has a pending, unclaimed
fold-enabled trigger as its latest active row replaces that row's payload instead of adding a
row; the row counts its folds. Never into a row in flight, never across a resolve or an
acknowledge, never a resolve; atomic with concurrent writers and claims.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pagerbridge.outbox import (
    DELIVERED,
    IN_FLIGHT,
    PENDING,
    Completion,
    FoldedInto,
    NewRow,
    Outbox,
    OutboxStorage,
    open_outbox,
    open_storage,
    prepare_event,
)

T0 = 1_800_000_000.0
RK = "deadbeefdeadbeefdeadbeefdeadbeef"
US = "https://events.pagerduty.com"


def ev(n: int, action: str = "trigger", dedup: str = "link/eth0") -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": RK, "event_action": action, "dedup_key": dedup}
    if action == "trigger":
        body["payload"] = {"summary": f"link down #{n}", "source": "sw-1", "severity": "error"}
    return body


def row(n: int, action: str = "trigger", *, fold: bool = True, dest: str | None = US) -> NewRow:
    return prepare_event(ev(n, action), now=T0, fold=fold, destination=dest)


def summary(storage: OutboxStorage, row_id: int) -> str:
    found = storage.get(row_id)
    assert found is not None
    return str(found.payload_json()["payload"]["summary"])


@pytest.fixture
def storage(database_url: str) -> Iterator[OutboxStorage]:
    s = open_storage(database_url)
    yield s
    s.close()


def put(storage: OutboxStorage, *rows: NewRow) -> list[int | None]:
    return storage.insert_batch(list(rows), now=T0, max_pending=1000)


def claim(storage: OutboxStorage) -> list[int]:
    return [r.id for r in storage.claim(now=T0, limit=10, lease_seconds=60, worker="t")]


def test_a_repeat_folds_into_the_pending_trigger_and_is_counted(storage: OutboxStorage) -> None:
    (first,) = put(storage, row(1))
    assert not isinstance(first, FoldedInto)
    assert put(storage, row(2)) == [first] and isinstance(put(storage, row(3))[0], FoldedInto)
    (only,) = storage.list_rows()
    assert only.id == first and only.folds == 2 and summary(storage, first) == "link down #3"
    assert storage.stats().folds == 2


def test_the_outbox_says_it_folded(database_url: str) -> None:
    outbox = open_outbox(database_url)
    try:
        stored = outbox.enqueue_event(ev(1), fold=True)
        again = outbox.enqueue_event(ev(2), fold=True)
        plain = outbox.enqueue_event(ev(3))  # pd-send and the intake never fold
    finally:
        outbox.close()
    assert stored.folded_into is None
    assert again.folded_into == again.id == stored.id
    assert plain.folded_into is None and plain.id != stored.id


def test_a_batch_folds_its_own_repeats(storage: OutboxStorage) -> None:
    """The agent's group commit writes many source events at once: one row per alert."""
    ids = put(storage, row(1), row(2), row(3, "resolve"), row(4), row(5))
    first, resolve, after = ids[0], ids[2], ids[3]
    assert ids == [first, first, resolve, after, after]
    assert [type(i) is FoldedInto for i in ids] == [False, True, False, False, True]
    rows = storage.list_rows()
    assert [(r.id, r.folds) for r in rows] == [(first, 1), (resolve, None), (after, 1)]
    assert summary(storage, first) == "link down #2" and summary(storage, after) == "link down #5"
    # the batch's first trigger folds into the stored one too
    assert put(storage, row(6), row(7)) == [after, after]
    assert storage.get(after).folds == 3  # type: ignore[union-attr]


def test_never_into_a_row_in_flight(storage: OutboxStorage) -> None:
    (sending,) = put(storage, row(1))
    assert claim(storage) == [sending]
    (behind,) = put(storage, row(2))
    assert behind != sending and storage.get(sending).state == IN_FLIGHT  # type: ignore[union-attr]
    assert summary(storage, sending) == "link down #1"  # what the worker is sending
    assert put(storage, row(3)) == [behind]  # the next repeat folds into the waiting row
    storage.complete([Completion(sending, DELIVERED)], now=T0)
    assert claim(storage) == [behind] and summary(storage, behind) == "link down #3"


@pytest.mark.parametrize("action", ["resolve", "acknowledge"])
def test_never_across_a_resolve_or_acknowledge(storage: OutboxStorage, action: str) -> None:
    trigger, settle = put(storage, row(1), row(0, action))
    (later,) = put(storage, row(2))
    assert later not in (trigger, settle)
    assert [r.id for r in storage.list_rows()] == [trigger, settle, later]
    assert summary(storage, trigger) == "link down #1"


def test_a_resolve_is_never_folded(storage: OutboxStorage) -> None:
    assert not row(0, "resolve").fold  # prepare_event folds triggers only
    (trigger,) = put(storage, row(1))
    resolve, again = put(storage, row(0, "resolve", fold=True), row(0, "resolve", fold=True))
    assert len({trigger, resolve, again}) == 3
    assert [r.payload_json()["event_action"] for r in storage.list_rows()] == [
        "trigger",
        "resolve",
        "resolve",
    ]


def test_only_fold_rows_fold_and_are_folded_into(storage: OutboxStorage) -> None:
    """A trigger stored without ``fold`` (pd-send, the intake) is never rewritten, and never
    rewrites; neither does a trigger for another destination."""
    (plain,) = put(storage, row(1, fold=False))
    (source,) = put(storage, row(2))
    assert source != plain and summary(storage, plain) == "link down #1"
    (no_fold,) = put(storage, row(3, fold=False))
    (elsewhere,) = put(storage, row(4, dest="http://127.0.0.1:8090"))
    assert len({plain, source, no_fold, elsewhere}) == 4
    assert summary(storage, source) == "link down #2"


def test_folding_is_atomic_between_concurrent_writers(database_url: str) -> None:
    """Two writers (PostgreSQL: two connections taking the lane's lock; SQLite: one writer at a
    time) repeat one alert: it stays one row, every repeat counted, the last payload kept."""
    per_writer = 40
    errors: list[BaseException] = []
    last: dict[int, int] = {}

    open_storage(database_url).close()  # the file and schema, before two writers race

    def write(w: int) -> None:
        try:
            s = open_storage(database_url)
        except BaseException as exc:
            errors.append(exc)
            return
        try:
            for i in range(per_writer):
                n = w * 1000 + i
                s.insert_batch([row(n)], now=T0, max_pending=1000)
                last[w] = n
        except BaseException as exc:
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    check = open_storage(database_url)
    try:
        (only,) = check.list_rows()
        assert only.folds == 2 * per_writer - 1
        assert int(summary(check, only.id).rsplit("#", 1)[1]) in last.values()
    finally:
        check.close()


def test_a_fold_racing_claims_never_loses_the_latest_payload(database_url: str) -> None:
    """While a worker claims and delivers, a source keeps repeating the alert: whatever folded
    where, the last repeat reaches PagerDuty (it never lands on a row already being sent)."""
    writer, worker = open_storage(database_url), open_storage(database_url)
    sent: list[int] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            while True:
                finished = done.is_set()  # before the claim: a last commit may land meanwhile
                got = worker.claim(now=T0, limit=10, lease_seconds=600, worker="w")
                sent.extend(int(r.payload_json()["payload"]["summary"][11:]) for r in got)
                worker.complete([Completion(r.id, DELIVERED) for r in got], now=T0)
                if not got and finished:
                    return
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=deliver)
    thread.start()
    try:
        for n in range(150):
            writer.insert_batch([row(n)], now=T0, max_pending=1000)
    finally:
        done.set()
        thread.join(60)
        writer.close()
        worker.close()
    assert not errors, errors
    assert sent and sent[-1] == 149 and sent == sorted(sent)


def test_an_older_database_gets_the_folds_column(database_url: str) -> None:
    """A table made before folding: pd-send (or any process) adds the column on open, and the
    rows already there take no folds."""
    from pagerbridge.outbox.queries import schema_sql

    dialect = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    old = schema_sql(dialect).replace(",\n    folds INTEGER", "")
    old = old[: old.index("-- Row kinds and folding")]
    legacy = (
        "INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state, "
        "attempts, next_attempt_at, created_at, updated_at, deadline_from, destination) VALUES "
        f"('event', '{json.dumps(ev(0))}', '{RK}/link/eth0', '{RK}', 'link/eth0', 'pending', "
        f"0, {T0}, {T0}, {T0}, {T0}, '{US}')"
    )
    if dialect == "sqlite":
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            conn.executescript(old + legacy + ";")
    else:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as pg:
            pg.execute(old.encode())
            pg.execute(legacy.encode())
    outbox = Outbox(open_storage(database_url))
    try:
        (legacy_row,) = outbox.list_rows()
        assert legacy_row.folds is None and legacy_row.state == PENDING
        first = outbox.enqueue_event(ev(1), fold=True, destination=US)
        again = outbox.enqueue_event(ev(2), fold=True, destination=US)
        assert first.folded_into is None and first.id != legacy_row.id
        assert again.folded_into == first.id
    finally:
        outbox.close()
