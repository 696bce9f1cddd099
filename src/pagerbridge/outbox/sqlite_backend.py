"""The SQLite outbox backend, on the standard library's ``sqlite3`` (``pd-send`` uses it directly).

WAL journal, ``synchronous=FULL`` (a commit is on disk when it returns), a busy timeout so
processes wait for each other instead of failing, ``BEGIN IMMEDIATE`` so two writers never
deadlock (a batch below the queue bound is one autocommit INSERT, which takes the write lock as
it starts, the same way). One connection per thread. Every ``sqlite3`` error becomes a
StorageError here.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress

from pagerbridge.errors import StorageError
from pagerbridge.outbox.queries import BLOCKED, queries, schema_sql
from pagerbridge.outbox.sql_base import (
    SqlStorageBase,
    token_bucket,
)
from pagerbridge.outbox.storage import FoldPlan, NewRow, plan_folds
from pagerbridge.outbox.types import DELIVERED, PENDING, Completion, FoldedInto

# json.dumps without importing json (json imports re and enum: ~5 ms of every pd-send run)
from pagerbridge.pagerduty import jsonfast as json
from pagerbridge.paths import ensure_private_file
from pagerbridge.store.sqlite_writers import WriteLockedConnection

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from typing import Any

BUSY_TIMEOUT_MS = 30_000
#: An object only the newest ``schema_sqlite.sql`` creates: move it along when the script grows.
#: The script runs in one transaction, after :func:`add_missing_columns`, so its presence means
#: everything is there.
SCHEMA_MARKER = "ix_outbox_rest_due"  # the newest object of schema_sqlite.sql
#: Columns added to the outbox table after it was first made (by 0003 and 0005), in that order.
ADDED_COLUMNS = (("destination", "TEXT"), ("folds", "INTEGER"))
#: Seconds a count of active rows may be reused while far below the queue bound (see insert_batch).
ACTIVE_COUNT_TTL = 1.0
ACTIVE_COUNT_MARGIN = 0.9
_Q = queries("sqlite")


def _batch_json(rows: Sequence[NewRow], folded: Sequence[int] | None = None) -> str:
    """The ``:rows`` parameter of ``insert_many``; flags rows queued behind an earlier pending
    row of the same batch (one statement does not see its own inserts). ``folded``: per row,
    the batch's rows already folded into it (see ``plan_folds``)."""
    active: set[str] = set()
    out = []
    for i, row in enumerate(rows):
        behind = row.ordering_key in active
        if row.state == PENDING:
            active.add(row.ordering_key)
        out.append(
            (
                row.kind,
                row.payload,
                row.ordering_key,
                row.routing_key,
                row.dedup_key,
                row.state,
                behind,
                row.destination,
                (folded[i] if folded is not None else 0) if row.fold else None,
            )
        )
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))


def _storage_error(exc: sqlite3.Error, path: str) -> StorageError:
    name = getattr(exc, "sqlite_errorname", "")
    if name == "SQLITE_FULL":
        why = "the disk is full"
    elif name.startswith("SQLITE_READONLY") or name in ("SQLITE_PERM", "SQLITE_AUTH"):
        why = "the database is read-only for this user"
    elif name.startswith("SQLITE_CANTOPEN"):
        why = "the database file cannot be opened (permissions?)"
    elif name.startswith("SQLITE_IOERR"):
        why = "an I/O error (disk full or file size limit?)"
    else:
        why = str(exc)
    return StorageError(f"cannot write the outbox at {path}: {why} ({exc})")


def add_missing_columns(conn: sqlite3.Connection) -> None:
    """Give an outbox table made by an older pagerbridge the columns added since
    (``destination``, ``folds``).

    SQLite has no ``ADD COLUMN IF NOT EXISTS``: a process that loses the race to add it is told
    the column exists, which is the state it wanted."""
    columns = [r[1] for r in conn.execute("PRAGMA table_info(outbox)").fetchall()]
    for name, sql_type in ADDED_COLUMNS:
        if columns and name not in columns:
            try:
                conn.execute(f"ALTER TABLE outbox ADD COLUMN {name} {sql_type}")
            except sqlite3.OperationalError as exc:
                if "duplicate column" not in str(exc):
                    raise


class SqliteStorage(SqlStorageBase):
    """An :class:`~pagerbridge.outbox.storage.OutboxStorage` in one SQLite file."""

    supports_notify = False
    group_commit_writers = 1  # one write lock: a second writer would only wait for it
    _claim_sql = _Q["claim"]
    _claim_rest_sql = _Q["claim_rest"]

    def __init__(self, path: str | os.PathLike[str], *, create: bool = True) -> None:
        self.path = os.fspath(path)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._active: tuple[float, int] | None = None
        if create:
            self._create()

    # -- connections ---------------------------------------------------------------------------

    def _create(self) -> None:
        """Create the file (0600) and the tables unless they exist; cheap when they do."""
        try:
            ensure_private_file(self.path)
        except OSError as exc:
            raise StorageError(
                f"cannot create the outbox database {self.path}: {exc.strerror}"
            ) from exc
        conn = self._conn()
        try:
            # When the newest object is missing, run the (idempotent) script: a new database gets
            # everything, an older one what it lacks.
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = ?", (SCHEMA_MARKER,)
            ).fetchone()
            if found is None:
                add_missing_columns(conn)
                conn.executescript("BEGIN IMMEDIATE;\n" + schema_sql("sqlite") + "\nCOMMIT;")
        except sqlite3.Error as exc:
            raise _storage_error(exc, self.path) from exc

    def _conn(self) -> WriteLockedConnection:
        conn: WriteLockedConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path,
                    isolation_level=None,
                    check_same_thread=False,
                    timeout=30,
                    factory=WriteLockedConnection,
                )
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise _storage_error(exc, self.path) from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE ... COMMIT), queued behind this process's other
        writers of the file (see store.sqlite_writers); any sqlite3 error -> StorageError."""
        conn = self._conn()
        try:
            conn.begin_immediate()
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                conn.rollback()  # also gives the process's write lock back
            raise _storage_error(exc, self.path) from exc

    def _read(self, name: str, params: Any = ()) -> list[sqlite3.Row]:
        try:
            return self._conn().execute(_Q[name], params).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the outbox at {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # -- the contract --------------------------------------------------------------------------

    def insert_batch(
        self, rows: Sequence[NewRow], *, now: float, max_pending: int | None
    ) -> list[int | None]:
        if not rows:
            return []
        if any(row.fold for row in rows):
            plan = plan_folds(rows)
            return plan.results(self._insert_bounded(plan.writes, plan, now, max_pending))
        fast = self._insert_below_bound(rows, now=now, max_pending=max_pending)
        if fast is not None:
            return fast
        return self._insert_bounded(rows, None, now, max_pending)

    def _insert_bounded(
        self, rows: Sequence[NewRow], plan: FoldPlan | None, now: float, max_pending: int | None
    ) -> list[int | None]:
        """One write transaction: fold what ``plan`` says may fold into stored rows, count the
        room left under the bound, insert the rest. Each row's id (a ``FoldedInto`` for a
        fold), or None when refused."""
        out: list[int | None] = [None] * len(rows)
        inserted: list[int] = []  # indices of the rows inserted
        with self._tx() as conn:
            if plan is not None:
                self._fold_into_stored(conn, plan, now, out)
            room = len(rows)
            if max_pending is not None:
                active = self._active_count(conn, max_pending, len(rows))
                room = max(0, max_pending - active)
            for i, row in enumerate(rows):
                if out[i] is not None:
                    continue  # folded
                if row.state == PENDING:
                    if room <= 0:
                        continue
                    room -= 1
                inserted.append(i)
            if inserted:
                before = conn.total_changes
                taken = [rows[i] for i in inserted]
                folded = [plan.folded[i] for i in inserted] if plan is not None else None
                unbounded = {"max_pending": None, "incoming": 0}  # the room is counted above
                conn.execute(
                    _Q["insert_many"],
                    {
                        "rows": _batch_json(taken, folded),
                        "now": now,
                        "blocked": BLOCKED,
                        **unbounded,
                    },
                )
                last = int(conn.execute("SELECT last_insert_rowid()").fetchone()[0])
                if conn.total_changes - before != len(taken):  # pragma: no cover - invariant
                    raise StorageError("the outbox insert did not add one row per event")
                first = last - len(taken) + 1
                for offset, i in enumerate(inserted):
                    out[i] = first + offset
        if self._active is not None:
            added = sum(1 for i in inserted if rows[i].state == PENDING)
            self._active = (self._active[0], self._active[1] + added)
        return out

    @staticmethod
    def _fold_into_stored(
        conn: sqlite3.Connection, plan: FoldPlan, now: float, out: list[int | None]
    ) -> None:
        """Fold each row that may into its lane's latest stored row (SQLite's one writer makes
        the look and the change atomic); sets ``out[i]`` for those that folded."""
        for i, row in enumerate(plan.writes):
            if not plan.try_stored[i]:
                continue
            params = {
                "payload": row.payload,
                "folds": plan.folded[i],
                "now": now,
                "ordering_key": row.ordering_key,
                "destination": row.destination,
            }
            found = conn.execute(_Q["fold"], params).fetchall()
            if found:
                out[i] = FoldedInto(int(found[0][0]))

    def _insert_below_bound(
        self, rows: Sequence[NewRow], *, now: float, max_pending: int | None
    ) -> list[int | None] | None:
        """The whole batch in one autocommit statement when the queue is clearly below its bound
        (the usual case); None when it might not fit and nothing was written."""
        conn = self._conn()
        incoming = sum(1 for row in rows if row.state == PENDING)
        params = {
            "rows": _batch_json(rows),
            "now": now,
            "blocked": BLOCKED,
            "max_pending": max_pending,
            "incoming": incoming,
        }
        try:
            conn.begin_immediate()  # one statement, queued behind this process's other writers
            try:
                cur = conn.execute(_Q["insert_many"], params)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        except sqlite3.Error as exc:
            raise _storage_error(exc, self.path) from exc
        if cur.rowcount == 0:
            return None
        if cur.rowcount != len(rows) or cur.lastrowid is None:  # pragma: no cover - invariant
            raise StorageError("the outbox insert did not add one row per event")
        last = cur.lastrowid
        if self._active is not None:
            self._active = (self._active[0], self._active[1] + incoming)
        return list(range(last - len(rows) + 1, last + 1))

    def _active_count(self, conn: sqlite3.Connection, max_pending: int, incoming: int) -> int:
        """Active rows, for the queue bound. COUNT(*) costs O(backlog) (40 ms at a million rows),
        so far below the bound a count under ACTIVE_COUNT_TTL old (plus our inserts) will do;
        near it the count is exact."""
        # First an O(log n) upper bound (ids from the oldest active row to the newest row): it
        # settles almost every call, in short-lived processes like pd-send too.
        span = conn.execute(_Q["active_span"]).fetchone()[0]
        if span is None:
            return 0
        if int(span) + incoming <= max_pending:
            return int(span)
        now = time.monotonic()
        cached = self._active
        if (
            cached is not None
            and now - cached[0] < ACTIVE_COUNT_TTL
            and cached[1] + incoming < max_pending * ACTIVE_COUNT_MARGIN
        ):
            return cached[1]
        count = int(conn.execute(_Q["count_active"]).fetchone()[0])
        self._active = (now, count)
        return count

    @staticmethod
    def _record(conn: sqlite3.Connection, completions: Sequence[Completion], now: float) -> None:
        for c in completions:
            found = conn.execute(
                _Q["complete"],
                {
                    "id": c.id,
                    "state": c.state,
                    "attempt": 1 if c.count_attempt else 0,
                    "next_attempt_at": c.next_attempt_at,
                    "last_error": c.last_error,
                    "now": now,
                },
            ).fetchone()
            if found is not None and c.state != PENDING:
                conn.execute(
                    _Q["promote"], {"ordering_key": found[0], "now": now, "blocked": BLOCKED}
                )

    @staticmethod
    def _states_param(states: Sequence[str]) -> str:
        return json.dumps(list(states))

    @staticmethod
    def _ids_param(ids: Sequence[int]) -> str:
        return json.dumps([int(i) for i in ids])

    def _query(self, name: str) -> str:
        return _Q[name]

    def take_token(self, routing_key: str, *, rate: float, burst: float, now: float) -> float:
        with self._tx() as conn:
            found = conn.execute(_Q["rate_get"], {"routing_key": routing_key}).fetchone()
            tokens, stamp, wait = token_bucket(found, rate=rate, burst=burst, now=now)
            conn.execute(
                _Q["rate_put"], {"routing_key": routing_key, "tokens": tokens, "now": stamp}
            )
        return wait

    def wait_notify(self, timeout: float) -> bool:
        return False


__all__ = ["DELIVERED", "SqliteStorage"]
