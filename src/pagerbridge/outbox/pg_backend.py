"""The PostgreSQL outbox backend, on psycopg 3: many workers, processes and hosts on one table.

Claims use ``FOR UPDATE SKIP LOCKED``; inserts take a transaction-scoped advisory lock per
ordering key, so ids within a key follow commit order (a later row can never be claimed while an
earlier one is still uncommitted); ``NOTIFY pagerbridge_outbox`` wakes listening workers (a hint:
they poll as well). One connection per thread. psycopg errors become StorageError here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pagerbridge.errors import StorageError
from pagerbridge.outbox.queries import BLOCKED, queries, schema_sql
from pagerbridge.outbox.sql_base import (
    SqlStorageBase,
    token_bucket,
)
from pagerbridge.outbox.storage import FoldPlan, NewRow, plan_folds
from pagerbridge.outbox.types import PENDING, Completion, FoldedInto

_Q = queries("postgresql")
CHANNEL = "pagerbridge_outbox"
#: Serialises concurrent first-time schema creation across processes.
SCHEMA_LOCK_ID = 0x0B0C5


def _lane_keys(rows: Sequence[NewRow]) -> list[str]:
    """The ordering keys to lock, sorted so that concurrent writers never deadlock."""
    return sorted({row.ordering_key for row in rows})


def _insert_params(
    rows: Sequence[NewRow], now: float, plan: FoldPlan | None = None
) -> list[dict[str, Any]]:
    params = [
        {
            "kind": row.kind,
            "payload": row.payload,
            "ordering_key": row.ordering_key,
            "routing_key": row.routing_key,
            "dedup_key": row.dedup_key,
            "state": row.state,
            "destination": row.destination,
            "now": now,
            "blocked": BLOCKED,
        }
        for row in rows
    ]
    if plan is not None:  # the parameters of insert_fold
        for i, (p, row) in enumerate(zip(params, rows, strict=True)):
            p["try_fold"] = plan.try_stored[i]
            p["folds"] = plan.folded[i]
            p["folds_value"] = plan.folded[i] if row.fold else None
    return params


def _insert_sql(plan: FoldPlan | None) -> str:
    """A batch with fold rows takes the insert that may fold; others the plain one."""
    return _Q["insert"] if plan is None else _Q["insert_fold"]


def _returned_ids(cur: psycopg.Cursor[Any]) -> list[int]:
    """The ids an ``executemany(..., returning=True)`` gave back, one result set per row.
    Rows run in order, so each row sees the earlier rows of its key (and waits behind them).
    A row that folded into a stored row gives that row's id as a ``FoldedInto``."""
    ids: list[int] = []
    while True:
        found = cur.fetchone()
        assert found is not None
        ids.append(FoldedInto(found["id"]) if found.get("folded") else int(found["id"]))
        if not cur.nextset():
            return ids


def _conninfo(url: str) -> str:
    for prefix in ("postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql://" + url[len(prefix) :]
    return url


def _redacted(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}" if ":" in creds else url


class PostgresStorage(SqlStorageBase):
    """An :class:`~pagerbridge.outbox.storage.OutboxStorage` in a PostgreSQL database."""

    supports_notify = True
    #: Two batches in flight: one commits while the other waits for its round trips (measured
    #: +15-20 % in alternating runs of bench_enqueue; 3 and 4 gained nothing more).
    group_commit_writers = 2
    _claim_sql = _Q["claim"]
    _claim_rest_sql = _Q["claim_rest"]

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = _conninfo(url)
        self._where = _redacted(self.url)
        self._local = threading.local()
        self._all: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        if create:
            with self._tx() as conn:
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK_ID,))
                # ALTER TABLE ... IF NOT EXISTS would take an exclusive lock on every open, and
                # deadlock with concurrent writers: add columns only where they are missing.
                for missing in conn.execute(_Q["missing_columns"]).fetchall():
                    name, sql_type = missing["name"], missing["type"]
                    conn.execute(f"ALTER TABLE outbox ADD COLUMN {name} {sql_type}")
                conn.execute(schema_sql("postgresql"))

    def _connect(self, **kwargs: Any) -> psycopg.Connection[Any]:
        try:
            return psycopg.connect(self.url, row_factory=dict_row, connect_timeout=10, **kwargs)
        except psycopg.Error as exc:
            raise StorageError(f"cannot open the outbox database {self._where}: {exc}") from exc

    def _conn(self) -> psycopg.Connection[Any]:
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._connect()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[psycopg.Connection[Any]]:
        conn = self._conn()
        try:
            with conn.transaction():
                yield conn
        except psycopg.Error as exc:
            if conn.broken:
                self._local.conn = None
            raise StorageError(f"outbox database {self._where}: {exc}") from exc

    def _read(self, name: str, params: Any = None) -> list[dict[str, Any]]:
        with self._tx() as conn:
            return conn.execute(_Q[name], params).fetchall()

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
            listener, self._listener = self._listener, None
        for conn in [*conns, *([listener] if listener else [])]:
            with suppress(psycopg.Error):
                conn.close()
        self._local = threading.local()

    # -- the contract --------------------------------------------------------------------------

    def insert_batch(
        self, rows: Sequence[NewRow], *, now: float, max_pending: int | None
    ) -> list[int | None]:
        if not rows:
            return []
        plan = plan_folds(rows) if any(row.fold for row in rows) else None
        writes = rows if plan is None else plan.writes
        out = self._insert_below_bound(writes, plan, now=now, max_pending=max_pending)
        if out is None:
            out = self._insert_bounded(writes, plan, now=now, max_pending=max_pending)
        return out if plan is None else plan.results(out)

    def _insert_bounded(
        self,
        rows: Sequence[NewRow],
        plan: FoldPlan | None,
        *,
        now: float,
        max_pending: int | None,
    ) -> list[int | None]:
        """Near the bound: count the active rows exactly and insert the rows that fit (a row
        that may fold counts as a new one here)."""
        out: list[int | None] = []
        with self._tx() as conn:
            conn.execute(_Q["lock_keys"], {"keys": _lane_keys(rows)})
            room = len(rows)
            if max_pending is not None:
                found = conn.execute(_Q["active_span"]).fetchone()
                span = found["span"] if found else None
                if span is not None and span + len(rows) > max_pending:  # near the limit
                    counted = conn.execute(_Q["count_active"]).fetchone()
                    span = next(iter(counted.values())) if counted else 0
                room = max(0, max_pending - int(span or 0))
            accepted: list[int] = []
            for i, row in enumerate(rows):
                if row.state == PENDING:
                    if room <= 0:
                        out.append(None)
                        continue
                    room -= 1
                out.append(len(accepted))  # replaced by the id below
                accepted.append(i)
            ids: list[int] = []
            if accepted:
                params = _insert_params(rows, now, plan)
                with conn.cursor() as cur:
                    cur.executemany(
                        _insert_sql(plan), [params[i] for i in accepted], returning=True
                    )
                    ids = _returned_ids(cur)
            out = [None if i is None else ids[i] for i in out]
            if any(i is not None for i in out):
                conn.execute(_Q["notify"])
        return out

    def _insert_below_bound(
        self,
        rows: Sequence[NewRow],
        plan: FoldPlan | None,
        *,
        now: float,
        max_pending: int | None,
    ) -> list[int | None] | None:
        """The whole batch in two round trips when the queue is clearly below its bound (the
        usual case); None when it might not fit and nothing was written.

        Key locks, the bound's O(log n) check, the inserts and NOTIFY go out as one pipeline;
        then COMMIT, or ROLLBACK when the check says the batch might not fit. Each round trip
        also costs the writer thread a GIL hand-back from the busy event loop (six of them made
        a 16-row batch take 3-4.5 ms inside the agent against 2.2 ms alone).
        """
        conn = self._conn()
        incoming = sum(1 for row in rows if row.state == PENDING)
        try:
            with conn.pipeline() as pipeline, conn.cursor() as cur:
                conn.execute(_Q["lock_keys"], {"keys": _lane_keys(rows)})
                span_cursor = conn.execute(_Q["active_span"])
                cur.executemany(_insert_sql(plan), _insert_params(rows, now, plan), returning=True)
                conn.execute(_Q["notify"])
                pipeline.sync()
                found = span_cursor.fetchone()
                span = int(found["span"] or 0) if found else 0
                if max_pending is not None and span + incoming > max_pending:
                    conn.rollback()
                    return None
                ids: list[int | None] = list(_returned_ids(cur))
                conn.commit()
        except psycopg.Error as exc:
            with suppress(psycopg.Error):
                conn.rollback()
            if conn.broken:
                self._local.conn = None
            raise StorageError(f"outbox database {self._where}: {exc}") from exc
        return ids

    @staticmethod
    def _record(
        conn: psycopg.Connection[Any], completions: Sequence[Completion], now: float
    ) -> None:
        if not completions:
            return
        batch = sorted(completions, key=lambda c: c.id)
        params = {
            "ids": [c.id for c in batch],
            "states": [c.state for c in batch],
            "attempts": [1 if c.count_attempt else 0 for c in batch],
            "next": [c.next_attempt_at for c in batch],
            "errors": [c.last_error for c in batch],
            "now": now,
        }
        finished = conn.execute(_Q["complete_many"], params).fetchall()
        keys = sorted(r["ordering_key"] for r in finished)
        if keys:
            # The per-key locks insert_batch takes: an insert that saw the finished row still
            # active (and queued its row as blocked) commits before we look for the next row, or
            # runs after us and sees the row finished. Without them, under READ COMMITTED, the
            # next row can stay blocked forever (found by tests/integration/test_agent_delivery).
            conn.execute(_Q["lock_keys"], {"keys": keys})
            conn.execute(_Q["promote_many"], {"keys": keys, "now": now, "blocked": BLOCKED})

    @staticmethod
    def _states_param(states: Sequence[str]) -> list[str]:
        return list(states)

    @staticmethod
    def _ids_param(ids: Sequence[int]) -> list[int]:
        return [int(i) for i in ids]

    def _query(self, name: str) -> str:
        return _Q[name]

    def _before_claim(self, conn: Any) -> None:
        # A claim must walk ix_outbox_active_due in claim order and stop after LIMIT rows. On a
        # backlog not yet ANALYZEd the planner cannot tell how many due rows match the worker's
        # destination, guesses very few, and reads and sorts all of them instead (2 s per claim
        # at a million rows). Without sorting it has no such plan (test_outbox_claim_plan.py).
        conn.execute("SET LOCAL enable_sort = off")

    def _changed(self, conn: Any) -> None:
        conn.execute(_Q["notify"])

    def take_token(self, routing_key: str, *, rate: float, burst: float, now: float) -> float:
        params = {"routing_key": routing_key, "burst": burst, "now": now}
        with self._tx() as conn:
            conn.execute(_Q["rate_init"], params)
            found = conn.execute(_Q["rate_get"], params).fetchone()
            assert found is not None
            tokens, stamp, wait = token_bucket(
                (found["tokens"], found["updated_at"]), rate=rate, burst=burst, now=now
            )
            conn.execute(_Q["rate_put"], {**params, "tokens": tokens, "now": stamp})
        return wait

    def wait_notify(self, timeout: float) -> bool:
        """LISTEN on a dedicated autocommit connection; True when a notification arrived."""
        if self._listener is None or self._listener.closed:
            conn = self._connect(autocommit=True)
            conn.execute(f"LISTEN {CHANNEL}")
            with self._lock:
                self._listener = conn
        listener = self._listener
        try:
            for _ in listener.notifies(timeout=timeout, stop_after=1):
                return True
        except psycopg.Error as exc:
            self._listener = None
            raise StorageError(f"outbox notifications from {self._where}: {exc}") from exc
        return False
