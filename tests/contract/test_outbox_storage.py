"""The outbox storage contract, run over every backend (SQLite and PostgreSQL) by ``database_url``.

One suite, as huey does it: a backend is correct when this passes on it.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from pagerbridge.errors import StorageError
from pagerbridge.outbox import (
    DEAD,
    DELIVERED,
    IN_FLIGHT,
    PENDING,
    SUPPRESSED,
    Completion,
    NewRow,
    OutboxStorage,
    open_storage,
    ordering_key,
)

T0 = 1_800_000_000.0
RK = "deadbeefdeadbeefdeadbeefdeadbeef"
RK2 = "0123456789abcdef0123456789abcdef"


def row(dedup: str, rk: str = RK, n: int = 0, state: str = PENDING) -> NewRow:
    payload = f'{{"routing_key":"{rk}","event_action":"trigger","dedup_key":"{dedup}","n":{n}}}'
    return NewRow("event", payload, ordering_key(rk, dedup), rk, dedup, state)


@pytest.fixture
def storage(database_url: str) -> Iterator[OutboxStorage]:
    s = open_storage(database_url)
    yield s
    s.close()


def claim(s: OutboxStorage, now: float = T0, limit: int = 100, lease: float = 60.0) -> list[Any]:
    return s.claim(now=now, limit=limit, lease_seconds=lease, worker="test")


def test_enqueue_is_durable_and_claimable(storage: OutboxStorage, database_url: str) -> None:
    ids = storage.insert_batch([row("a"), row("b")], now=T0, max_pending=None)
    assert all(isinstance(i, int) for i in ids)
    other = open_storage(database_url)  # a second connection/process sees committed rows
    try:
        got = claim(other)
    finally:
        other.close()
    assert [r.id for r in got] == ids
    assert {r.state for r in got} == {IN_FLIGHT}
    assert got[0].payload_json()["dedup_key"] == "a"
    assert got[0].lease_expires_at == pytest.approx(T0 + 60)


def test_one_key_is_strictly_ordered(storage: OutboxStorage) -> None:
    ids = storage.insert_batch([row("k", n=i) for i in range(3)], now=T0, max_pending=None)
    first = claim(storage)
    assert [r.id for r in first] == [ids[0]]
    assert claim(storage) == []  # the next row waits while the first is in flight
    storage.complete([Completion(ids[0], DELIVERED)], now=T0 + 1)
    second = claim(storage, now=T0 + 1)
    assert [r.id for r in second] == [ids[1]]
    assert storage.get(ids[0]).delivered_at == pytest.approx(T0 + 1)  # type: ignore[union-attr]


def test_claim_records_completions_first_in_the_same_transaction(storage: OutboxStorage) -> None:
    ids = storage.insert_batch([row("k", n=0), row("k", n=1)], now=T0, max_pending=None)
    claim(storage)
    got = storage.claim(
        now=T0 + 1,
        limit=10,
        lease_seconds=60,
        worker="w",
        completions=[Completion(ids[0], DELIVERED)],
    )
    assert [r.id for r in got] == [ids[1]]  # the key's next row, in the same call
    assert storage.get(ids[0]).state == DELIVERED  # type: ignore[union-attr]
    only_record = storage.claim(
        now=T0 + 2, limit=0, lease_seconds=60, worker="w", completions=[Completion(ids[1], DEAD)]
    )
    assert only_record == [] and storage.get(ids[1]).state == DEAD  # type: ignore[union-attr]


def test_different_keys_go_in_parallel(storage: OutboxStorage) -> None:
    storage.insert_batch([row("a"), row("a"), row("b"), row("x", rk=RK2)], now=T0, max_pending=None)
    got = claim(storage)
    assert sorted(r.ordering_key for r in got) == sorted(
        [ordering_key(RK, "a"), ordering_key(RK, "b"), ordering_key(RK2, "x")]
    )


def test_limit_is_respected(storage: OutboxStorage) -> None:
    storage.insert_batch([row(f"k{i}") for i in range(10)], now=T0, max_pending=None)
    assert len(claim(storage, limit=4)) == 4
    assert len(claim(storage, limit=100)) == 6


def test_expired_lease_comes_back(storage: OutboxStorage) -> None:
    (rid,) = storage.insert_batch([row("a")], now=T0, max_pending=None)
    assert [r.id for r in claim(storage, lease=30)] == [rid]
    assert claim(storage, now=T0 + 29) == []
    again = claim(storage, now=T0 + 31)
    assert [r.id for r in again] == [rid]


def test_retry_waits_and_keeps_order(storage: OutboxStorage) -> None:
    ids = storage.insert_batch([row("k", n=0), row("k", n=1)], now=T0, max_pending=None)
    claim(storage)
    storage.complete(
        [Completion(ids[0], PENDING, next_attempt_at=T0 + 10, last_error="HTTP 503: down")],
        now=T0,
    )
    r = storage.get(ids[0])
    assert r is not None and r.state == PENDING and r.attempts == 1
    assert r.last_error == "HTTP 503: down"
    assert claim(storage, now=T0 + 5) == []  # neither the retrying row nor the one behind it
    assert [x.id for x in claim(storage, now=T0 + 10)] == [ids[0]]


def test_deferral_does_not_count_an_attempt(storage: OutboxStorage) -> None:
    (rid,) = storage.insert_batch([row("a")], now=T0, max_pending=None)
    claim(storage)
    storage.complete([Completion(rid, PENDING, T0 + 1, count_attempt=False)], now=T0)
    assert storage.get(rid).attempts == 0  # type: ignore[union-attr]


def test_dead_releases_the_key_and_can_be_retried(storage: OutboxStorage) -> None:
    ids = storage.insert_batch([row("k", n=0), row("k", n=1)], now=T0, max_pending=None)
    claim(storage)
    storage.complete(
        [Completion(ids[0], DEAD, last_error="HTTP 400: Event object is invalid")], now=T0
    )
    assert [r.id for r in claim(storage, now=T0)] == [ids[1]]
    dead = storage.list_rows(states=[DEAD])
    assert [r.id for r in dead] == [ids[0]]
    assert "Event object is invalid" in (dead[0].last_error or "")
    assert storage.retry(now=T0 + 100, dead=True) == 1
    r = storage.get(ids[0])
    assert r is not None and r.state == PENDING and r.attempts == 0
    assert r.deadline_from == pytest.approx(T0 + 100)


def test_retry_by_id_and_by_routing_key(storage: OutboxStorage) -> None:
    ids = storage.insert_batch([row("a"), row("b", rk=RK2)], now=T0, max_pending=None)
    claim(storage)
    storage.complete([Completion(i, DEAD, last_error="x") for i in ids], now=T0)
    assert storage.retry(now=T0, routing_key=RK2) == 1
    assert storage.get(ids[1]).state == PENDING  # type: ignore[union-attr]
    assert storage.get(ids[0]).state == DEAD  # type: ignore[union-attr]
    assert storage.retry(now=T0, ids=[ids[0]]) == 1
    assert storage.get(ids[0]).state == PENDING  # type: ignore[union-attr]


def test_purge_removes_only_what_was_asked(storage: OutboxStorage) -> None:
    ids = storage.insert_batch([row("a"), row("b"), row("c")], now=T0, max_pending=None)
    claim(storage)
    storage.complete(
        [Completion(ids[0], DELIVERED), Completion(ids[1], DEAD, last_error="x")], now=T0
    )
    storage.complete([Completion(ids[2], PENDING, next_attempt_at=T0 + 5)], now=T0)
    assert storage.purge(states=[DEAD]) == 1
    assert storage.purge(states=[DELIVERED], before=T0 - 1) == 0  # retention: too recent
    assert storage.purge(states=[DELIVERED], before=T0 + 1) == 1
    assert [r.id for r in storage.list_rows()] == [ids[2]]


def test_pause_and_resume(storage: OutboxStorage) -> None:
    storage.insert_batch([row("a"), row("b", rk=RK2)], now=T0, max_pending=None)
    storage.pause(RK, now=T0)
    assert storage.paused() == [RK]
    assert [r.routing_key for r in claim(storage)] == [RK2]
    assert storage.resume(RK) is True
    assert storage.resume(RK) is False
    assert [r.routing_key for r in claim(storage)] == [RK]


def test_queue_full_refuses_the_excess(storage: OutboxStorage) -> None:
    ids = storage.insert_batch([row(f"k{i}") for i in range(3)], now=T0, max_pending=2)
    assert ids[0] is not None and ids[1] is not None and ids[2] is None
    assert storage.insert_batch([row("z")], now=T0, max_pending=2) == [None]
    # suppressed rows are kept, never sent, and do not count against the limit
    (sid,) = storage.insert_batch([row("s", state=SUPPRESSED)], now=T0, max_pending=2)
    assert sid is not None and storage.get(sid).state == SUPPRESSED  # type: ignore[union-attr]
    assert storage.pending_count() == 2
    assert [r.id for r in claim(storage)] == ids[:2]


def test_a_batch_that_straddles_the_bound_takes_the_first_pending_rows(
    storage: OutboxStorage,
) -> None:
    (first,) = storage.insert_batch([row("old")], now=T0, max_pending=3)
    batch = [
        row("p1"),
        row("s", state=SUPPRESSED),
        row("p2"),
        row("p3"),
        row("s2", state=SUPPRESSED),
    ]
    ids = storage.insert_batch(batch, now=T0, max_pending=3)
    assert [i is not None for i in ids] == [True, True, True, False, True]
    stored = [storage.get(i) for i in ids if i is not None]
    assert [r.dedup_key for r in stored if r is not None] == ["p1", "s", "p2", "s2"]
    taken = [i for i in ids if i is not None]
    assert taken == sorted(taken) and taken[0] > first  # ids follow the batch's order
    assert storage.pending_count() == 3


def test_the_bound_counts_active_rows_not_ids(storage: OutboxStorage) -> None:
    """Delivered rows between active ones make the cheap id-span bound overestimate; the exact
    count then decides, and nothing below the bound is refused."""
    (stuck,) = storage.insert_batch([row("stuck")], now=T0, max_pending=None)
    done = storage.insert_batch([row(f"d{i}") for i in range(5)], now=T0, max_pending=None)
    claimed = claim(storage, limit=100)
    completions = [Completion(r.id, DELIVERED, count_attempt=True) for r in claimed if r.id in done]
    storage.claim(now=T0, limit=0, lease_seconds=60, worker="test", completions=completions)
    assert storage.pending_count() == 1  # the stuck row, in flight
    ids = storage.insert_batch([row("a"), row("b"), row("c")], now=T0, max_pending=4)
    assert all(i is not None for i in ids)
    assert storage.insert_batch([row("z")], now=T0, max_pending=4) == [None]
    assert stuck < min(i for i in ids if i is not None)


def test_a_batch_row_waits_behind_active_rows_of_its_key(storage: OutboxStorage) -> None:
    (a0,) = storage.insert_batch([row("a", n=0)], now=T0, max_pending=1000)
    ids = storage.insert_batch(
        [row("a", n=1), row("b", n=0), row("b", n=1), row("c", state=SUPPRESSED)],
        now=T0,
        max_pending=1000,
    )
    first = claim(storage)
    # a's second row waits for a0, b's second for b's first; suppressed rows are never claimed
    assert sorted(r.id for r in first) == sorted([a0, ids[1]])


def test_a_failed_batch_stores_nothing_and_the_storage_keeps_working(
    storage: OutboxStorage,
) -> None:
    broken = NewRow(None, "{}", "rk/x", RK, "x", PENDING)  # type: ignore[arg-type]
    with pytest.raises(StorageError):
        storage.insert_batch([row("a"), broken, row("b")], now=T0, max_pending=1000)
    assert storage.pending_count() == 0  # all or nothing
    (ok,) = storage.insert_batch([row("c")], now=T0, max_pending=1000)
    assert [r.id for r in claim(storage)] == [ok]


def test_concurrent_writers_keep_each_lane_in_order(database_url: str) -> None:
    """The agent's group commit may run several writers on one storage (PostgreSQL: two) while
    workers claim. A lane is delivered in id order, and each writer's rows of a lane in the order
    it wrote them, whatever the other writers and the claimer do meanwhile."""
    storage = open_storage(database_url)
    keys = ["a", "b", "c"]
    writers = max(2, storage.group_commit_writers + 1)
    errors: list[BaseException] = []
    delivered: list[tuple[str, int, int]] = []
    writing = threading.Event()
    writing.set()

    def write(w: int) -> None:
        try:
            for batch in range(20):
                rows = [row(k, n=w * 1000 + batch * 10 + i) for i in range(2) for k in keys]
                assert None not in storage.insert_batch(rows, now=T0, max_pending=10_000)
        except BaseException as exc:
            errors.append(exc)

    def deliver() -> None:
        claimer = open_storage(database_url)
        try:
            while True:
                got = claimer.claim(now=T0, limit=100, lease_seconds=600, worker="c")
                if not got and not writing.is_set():
                    return
                assert len({r.ordering_key for r in got}) == len(got)  # one per lane at a time
                delivered.extend((r.dedup_key or "", r.id, r.payload_json()["n"]) for r in got)
                claimer.complete([Completion(r.id, DELIVERED) for r in got], now=T0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            claimer.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    claimer = threading.Thread(target=deliver)
    for t in [*threads, claimer]:
        t.start()
    for t in threads:
        t.join(60)
    writing.clear()
    claimer.join(60)
    storage.close()
    assert not errors, errors
    assert len(delivered) == writers * 20 * 2 * len(keys)
    for k in keys:
        lane = [(i, n) for d, i, n in delivered if d == k]
        assert [i for i, _ in lane] == sorted(i for i, _ in lane)  # delivered in id order
        for w in range(writers):
            mine = [n for _, n in lane if n // 1000 == w]
            assert mine == sorted(mine)  # each writer's rows in the order it wrote them


@contextmanager
def lane_held(database_url: str, lane: str) -> Iterator[None]:
    """Another writer in the middle of a transaction on ``lane``: SQLite's one write lock, or
    PostgreSQL's per-lane advisory lock (what a concurrent insert of that lane takes)."""
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("COMMIT")
            conn.close()
        return
    with psycopg.connect(database_url) as pg:
        pg.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lane,))
        yield
        pg.commit()


def test_a_batch_waits_for_a_writer_holding_its_lane(
    storage: OutboxStorage, database_url: str
) -> None:
    """Ids within a lane follow commit order: a batch cannot commit past an earlier writer of its
    lane that has not committed yet (else a worker could deliver the later row first)."""
    storage.insert_batch([row("warm-up")], now=T0, max_pending=1000)  # connection and schema
    done = threading.Event()

    def insert() -> None:
        storage.insert_batch([row("a", n=1)], now=T0, max_pending=1000)
        done.set()

    with lane_held(database_url, ordering_key(RK, "a")):
        writer = threading.Thread(target=insert)
        writer.start()
        assert not done.wait(0.5)  # held back while the other transaction is open
    assert done.wait(10)  # and through once it commits
    writer.join()


def test_stats_list_filters_and_pages(storage: OutboxStorage) -> None:
    storage.insert_batch([row("a"), row("a"), row("b", rk=RK2)], now=T0, max_pending=None)
    storage.insert_batch([row("c")], now=T0 + 50, max_pending=None)
    st = storage.stats()
    assert st.by_state == {PENDING: 4}
    assert st.by_routing_key == {RK: {PENDING: 3}, RK2: {PENDING: 1}}
    assert st.oldest_pending_at == pytest.approx(T0)
    assert len(storage.list_rows(routing_key=RK)) == 3
    assert len(storage.list_rows(dedup_key="a")) == 2
    assert len(storage.list_rows(since=T0 + 10)) == 1
    page1 = storage.list_rows(limit=2)
    page2 = storage.list_rows(limit=2, after_id=page1[-1].id)
    assert len(page1) == 2 and len(page2) == 2 and page1[-1].id < page2[0].id


def test_next_due(storage: OutboxStorage) -> None:
    assert storage.next_due() is None
    (rid,) = storage.insert_batch([row("a")], now=T0, max_pending=None)
    assert storage.next_due() == pytest.approx(T0)
    claim(storage, lease=60)
    assert storage.next_due() == pytest.approx(T0 + 60)  # the lease expiry
    storage.complete([Completion(rid, DELIVERED)], now=T0)
    assert storage.next_due() is None


def test_token_bucket_is_shared(storage: OutboxStorage, database_url: str) -> None:
    waits = [storage.take_token(RK, rate=1.0, burst=2.0, now=T0) for _ in range(2)]
    assert waits == [0.0, 0.0]
    other = open_storage(database_url)
    try:
        assert other.take_token(RK, rate=1.0, burst=2.0, now=T0) == pytest.approx(1.0)
        assert other.take_token(RK2, rate=1.0, burst=2.0, now=T0) == 0.0  # per routing key
    finally:
        other.close()
    assert storage.take_token(RK, rate=1.0, burst=2.0, now=T0 + 1.0) == 0.0


def test_throttle_holds_a_routing_key_for_everyone(
    storage: OutboxStorage, database_url: str
) -> None:
    storage.throttle(RK, until=T0 + 30)
    other = open_storage(database_url)
    try:
        assert other.take_token(RK, rate=1.0, burst=5.0, now=T0 + 10) == pytest.approx(21.0)
        assert other.take_token(RK2, rate=1.0, burst=5.0, now=T0 + 10) == 0.0
    finally:
        other.close()
    storage.throttle(RK, until=T0 + 5)  # an earlier end never shortens a throttle
    assert storage.take_token(RK, rate=1.0, burst=5.0, now=T0 + 29) > 0
    assert storage.take_token(RK, rate=1.0, burst=5.0, now=T0 + 32) == 0.0


def test_concurrent_claimers_deliver_each_row_once_in_order(database_url: str) -> None:
    setup = open_storage(database_url)
    keys = [f"k{i}" for i in range(5)]
    setup.insert_batch([row(k, n=n) for n in range(8) for k in keys], now=T0, max_pending=None)
    setup.close()
    delivered: list[tuple[str, int]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def work(name: str) -> None:
        s = open_storage(database_url)
        try:
            idle = 0
            while idle < 20:
                got = s.claim(now=T0, limit=3, lease_seconds=600, worker=name)
                if not got:
                    idle += 1
                    threading.Event().wait(0.005)
                    continue
                idle = 0
                with lock:
                    delivered.extend((r.dedup_key, r.payload_json()["n"]) for r in got)
                s.complete([Completion(r.id, DELIVERED) for r in got], now=T0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            s.close()

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(delivered) == 40 and len(set(delivered)) == 40  # each exactly once
    for k in keys:
        assert [n for d, n in delivered if d == k] == list(range(8))  # in order within a key


def test_schema_creation_is_idempotent_and_migration_accepts_it(database_url: str) -> None:
    from pagerbridge.store import migrate
    from pagerbridge.store.engine import make_engine

    open_storage(database_url).close()
    s = open_storage(database_url)  # second open: tables exist, nothing breaks
    (rid,) = s.insert_batch([row("a")], now=T0, max_pending=None)
    s.close()
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)  # the migration runs the same IF NOT EXISTS SQL over it
        assert "0005_outbox_folds" in migrate.current_revisions(engine)
    finally:
        engine.dispose()
    s = open_storage(database_url)
    try:
        assert s.get(rid) is not None
    finally:
        s.close()


def test_enqueue_in_transaction_commits_with_the_caller(database_url: str) -> None:
    import sqlalchemy as sa

    from pagerbridge.outbox import enqueue_in_transaction
    from pagerbridge.store import migrate
    from pagerbridge.store.engine import make_engine

    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            first = enqueue_in_transaction(conn, "event", {"n": 1}, "inc/1", now=T0)
            second = enqueue_in_transaction(conn, "event", {"n": 2}, "inc/1", now=T0)
        with pytest.raises(RuntimeError), engine.begin() as conn:
            enqueue_in_transaction(conn, "event", {"n": 3}, "inc/2", now=T0)
            raise RuntimeError("the state change failed")
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT COUNT(*) FROM outbox")).scalar()
        assert count == 2
    finally:
        engine.dispose()
    s = open_storage(database_url)
    try:
        assert [r.id for r in claim(s)] == [first]  # the second waits behind the first
        s.complete([Completion(first, DELIVERED)], now=T0)
        assert [r.id for r in claim(s)] == [second]
    finally:
        s.close()


def test_random_operations_keep_the_ordering_invariants(storage: OutboxStorage) -> None:
    """Random inserts, claims and outcomes (deliver, retry, dead, deferral), with leases expiring:
    a claimed row is always the earliest active row of its key, a key never has two rows in
    flight, and every row ends delivered or dead, each key's deliveries in insertion order."""
    import random

    rng = random.Random(20261123)
    keys = [f"k{i}" for i in range(4)]
    now = T0
    inserted: dict[str, list[int]] = {k: [] for k in keys}
    delivered: dict[str, list[int]] = {k: [] for k in keys}
    in_flight: dict[int, str] = {}
    for step in range(300):
        now += rng.choice([0.0, 0.5, 2.0])
        if step < 200 and rng.random() < 0.4:
            k = rng.choice(keys)
            (rid,) = storage.insert_batch([row(k, n=step)], now=now, max_pending=None)
            assert rid is not None
            inserted[k].append(rid)
        got = storage.claim(now=now, limit=rng.randint(1, 4), lease_seconds=5, worker="w")
        for r in got:
            active = [
                x.id
                for x in storage.list_rows(dedup_key=r.dedup_key, states=["pending", "in_flight"])
            ]
            assert r.id == min(active), "claimed a row behind an earlier active one"
            assert r.dedup_key not in [in_flight[i] for i in in_flight if i != r.id]
            in_flight[r.id] = r.dedup_key or ""
        outcomes = []
        for rid in list(in_flight):
            roll = rng.random()
            if roll < 0.15:
                continue  # the worker "died": the lease will expire
            key = in_flight.pop(rid)
            if roll < 0.65:
                outcomes.append(Completion(rid, DELIVERED))
                delivered[key].append(rid)
            elif roll < 0.85:
                outcomes.append(Completion(rid, PENDING, now + rng.choice([0.0, 1.0]), "HTTP 503"))
            elif roll < 0.95:
                outcomes.append(Completion(rid, PENDING, now + 0.5, count_attempt=False))
            else:
                outcomes.append(Completion(rid, DEAD, last_error="HTTP 400"))
        storage.complete(outcomes, now=now)
        for rid in [i for i in in_flight if (storage.get(i) or row_stub()).state != IN_FLIGHT]:
            in_flight.pop(rid)
        for rid in list(in_flight):  # expired leases come back to the pool
            r = storage.get(rid)
            if r is not None and r.lease_expires_at is not None and r.lease_expires_at <= now:
                in_flight.pop(rid)
    # drain whatever is left, delivering everything
    for _ in range(200):
        now += 10
        got = storage.claim(now=now, limit=10, lease_seconds=5, worker="w")
        if not got and storage.pending_count() == 0:
            break
        storage.complete([Completion(r.id, DELIVERED) for r in got], now=now)
        for r in got:
            delivered[r.dedup_key or ""].append(r.id)
    assert storage.pending_count() == 0
    dead = {r.id for r in storage.list_rows(states=[DEAD], limit=1000)}
    for k in keys:
        order = [i for i in delivered[k] if i not in dead]
        first_seen = list(dict.fromkeys(order))
        assert first_seen == sorted(first_seen), f"{k} delivered out of order"
        assert set(first_seen) | (dead & set(inserted[k])) == set(inserted[k])


def row_stub() -> Any:
    class _Gone:
        state = "gone"

    return _Gone()
