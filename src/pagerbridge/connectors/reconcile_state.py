"""What reconcile remembers between runs, and who may run it: the watermark and the lock.

Kept in ``connector_state`` (per connector, name → text), so every hub process and ``im
connector sync`` share one watermark: ``reconcile_watermark`` (the end of the last walked
window, ISO 8601), ``reconcile_seen`` (id → time of the log entries already read in the last 60 s
before it: the next walk starts 60 s earlier and skips them), ``reconcile_backfilled`` (when the
first sync's backfill finished) and ``reconcile_last_run`` (epoch seconds, for the interval).

One reconciler per connector at a time. On PostgreSQL a session advisory lock held on its own
connection for the whole run: a process killed with ``kill -9`` loses its connection and
PostgreSQL releases the lock, so the next one takes over. SQLite has no such lock, so a lease row
(``reconcile_lease``: owner and expiry, renewed after each window) does the same on one machine;
a killed owner's lease expires after :data:`LEASE_SECONDS`.
"""

from __future__ import annotations

import json
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Final

import sqlalchemy as sa

from pagerbridge.connectors.models import connector_state_table

WATERMARK: Final = "reconcile_watermark"
SEEN: Final = "reconcile_seen"
BACKFILLED: Final = "reconcile_backfilled"
LAST_RUN: Final = "reconcile_last_run"
LEASE: Final = "reconcile_lease"
LEASE_SECONDS: Final = 120.0


@dataclass
class Saved:
    """The reconcile state of one connector as read at the start of a run."""

    watermark: str | None = None
    seen: dict[str, str] = field(default_factory=dict)
    backfilled: str | None = None
    last_run: float | None = None


def read(conn: sa.Connection, connector_id: int) -> Saved:
    t = connector_state_table
    rows = dict(
        conn.execute(
            sa.select(t.c.name, t.c.value).where(
                t.c.connector_id == connector_id,
                t.c.name.in_((WATERMARK, SEEN, BACKFILLED, LAST_RUN)),
            )
        ).all()
    )
    seen: dict[str, str] = {}
    try:
        loaded = json.loads(rows.get(SEEN) or "{}")
        if isinstance(loaded, dict):
            seen = {str(k): str(v) for k, v in loaded.items()}
    except ValueError:
        pass  # a damaged list only costs a few re-read entries (applying them again is a no-op)
    last: float | None = None
    try:
        last = float(rows[LAST_RUN]) if LAST_RUN in rows else None
    except ValueError:
        last = None
    return Saved(rows.get(WATERMARK), seen, rows.get(BACKFILLED), last)


def put(conn: sa.Connection, connector_id: int, name: str, value: str) -> None:
    """Insert or replace one value (the caller holds the reconcile lock)."""
    t = connector_state_table
    now = time.time()
    done = conn.execute(
        sa.update(t)
        .where(t.c.connector_id == connector_id, t.c.name == name)
        .values(value=value, updated_at=now)
    )
    if not done.rowcount:
        conn.execute(
            sa.insert(t).values(connector_id=connector_id, name=name, value=value, updated_at=now)
        )


def save_window(
    conn: sa.Connection, connector_id: int, watermark: str, seen: dict[str, str]
) -> None:
    put(conn, connector_id, WATERMARK, watermark)
    put(conn, connector_id, SEEN, json.dumps(seen, sort_keys=True))


def last_runs(conn: sa.Connection) -> dict[int, float]:
    """Every connector's last reconcile (epoch seconds), for the hub's schedule."""
    t = connector_state_table
    out: dict[int, float] = {}
    for connector_id, value in conn.execute(
        sa.select(t.c.connector_id, t.c.value).where(t.c.name == LAST_RUN)
    ):
        try:
            out[int(connector_id)] = float(value)
        except ValueError:
            continue
    return out


def lock_key(connector_id: int) -> int:
    return zlib.crc32(f"pagerbridge:reconcile:{connector_id}".encode()) & 0x7FFFFFFF


class RunLock:
    """The right to reconcile one connector (see the module docstring); use ``acquire``/
    ``renew``/``release``, all synchronous (run them in a thread from async code)."""

    def __init__(self, engine: sa.Engine, connector_id: int) -> None:
        self.engine = engine
        self.connector_id = connector_id
        self.owner = uuid.uuid4().hex
        self._held: sa.Connection | None = None

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        if self.postgres:
            conn = self.engine.connect()
            try:
                got = bool(
                    conn.execute(
                        sa.text("SELECT pg_try_advisory_lock(:k)"),
                        {"k": lock_key(self.connector_id)},
                    ).scalar()
                )
                conn.commit()  # the session lock outlives the transaction
            except Exception:
                conn.close()
                raise
            if not got:
                conn.close()
                return False
            self._held = conn
            return True
        return self._lease(take=True)

    def renew(self) -> bool:
        """Extend a SQLite lease (False: another took it meanwhile, stop); PostgreSQL's lock
        needs nothing."""
        return True if self.postgres else self._lease(take=True, renewing=True)

    def release(self) -> None:
        if self._held is not None:
            conn, self._held = self._held, None
            try:
                conn.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(self.connector_id)}
                )
                conn.commit()
            finally:
                conn.close()
            return
        if not self.postgres:
            self._lease(take=False)

    def _lease(self, *, take: bool, renewing: bool = False) -> bool:
        t = connector_state_table
        now = time.time()
        where = (t.c.connector_id == self.connector_id, t.c.name == LEASE)
        with self.engine.begin() as conn:
            value = conn.execute(sa.select(t.c.value).where(*where)).scalar()
            owner, until = _lease_value(value)
            if not take:
                if owner == self.owner:
                    conn.execute(sa.delete(t).where(*where))
                return True
            if renewing and owner != self.owner:
                return False
            if owner not in (None, self.owner) and until > now:
                return False
            put(
                conn,
                self.connector_id,
                LEASE,
                json.dumps({"owner": self.owner, "until": now + LEASE_SECONDS}),
            )
        return True


def _lease_value(value: str | None) -> tuple[str | None, float]:
    if not value:
        return None, 0.0
    try:
        data = json.loads(value)
        return str(data["owner"]), float(data["until"])
    except (ValueError, KeyError, TypeError):
        return None, 0.0
