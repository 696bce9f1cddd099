"""What the two SQL outbox backends share: row mapping, statistics, the token bucket, and
claiming (record the previous outcomes and claim the next rows in one transaction).

Standard library only: the SQLite backend is on ``pd-send``'s start-up path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from pagerbridge.outbox.types import Completion, OutboxRow, Stats

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import Any


class SqlStorageBase(ABC):
    """``claim``, ``complete``, ``get`` and ``list_rows`` over a backend's transaction, named-query
    and outcome-recording primitives."""

    #: The backend's ``claim`` query (named parameters now, lease, worker, limit).
    _claim_sql: str

    @abstractmethod
    def _tx(self) -> AbstractContextManager[Any]:
        """A connection inside one committed-or-rolled-back transaction."""

    @abstractmethod
    def _record(self, conn: Any, completions: Sequence[Completion], now: float) -> None:
        """Record outcomes of claimed rows (and unblock each finished row's successor)."""

    @abstractmethod
    def _read(self, name: str, params: Any = ()) -> list[Any]:
        """The rows of the named query (rows with named columns)."""

    @staticmethod
    @abstractmethod
    def _states_param(states: Sequence[str]) -> Any:
        """``states`` as the ``list`` query's ``:states`` parameter."""

    def get(self, row_id: int) -> OutboxRow | None:
        rows = self._read("get", {"id": row_id})
        return row_from_mapping(rows[0]) if rows else None

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
        params = {
            "after_id": after_id,
            "routing_key": routing_key,
            "dedup_key": dedup_key,
            "since": since,
            "any_state": not states,
            "states": self._states_param(states),
            "limit": limit,
        }
        return [row_from_mapping(r) for r in self._read("list", params)]

    def claim(
        self,
        *,
        now: float,
        limit: int,
        lease_seconds: float,
        worker: str,
        completions: Sequence[Completion] = (),
    ) -> list[OutboxRow]:
        params = {"now": now, "lease": now + lease_seconds, "worker": worker, "limit": limit}
        with self._tx() as conn:
            self._record(conn, completions, now)
            rows = conn.execute(self._claim_sql, params).fetchall() if limit > 0 else []
        return sorted((row_from_mapping(r) for r in rows), key=lambda r: r.id)

    def complete(self, completions: Sequence[Completion], *, now: float) -> None:
        if not completions:
            return
        with self._tx() as conn:
            self._record(conn, completions, now)


def row_from_mapping(r: Any) -> OutboxRow:
    """An OutboxRow from a row with named columns (sqlite3.Row or a dict)."""
    return OutboxRow(
        id=int(r["id"]),
        kind=r["kind"],
        payload=r["payload"],
        ordering_key=r["ordering_key"],
        routing_key=r["routing_key"],
        dedup_key=r["dedup_key"],
        state=r["state"],
        attempts=int(r["attempts"]),
        next_attempt_at=float(r["next_attempt_at"]),
        lease_expires_at=r["lease_expires_at"],
        last_error=r["last_error"],
        created_at=float(r["created_at"]),
        updated_at=float(r["updated_at"]),
        delivered_at=r["delivered_at"],
        deadline_from=float(r["deadline_from"]),
    )


def stats_from_groups(
    groups: Sequence[tuple[str, str, int, float | None]], paused: list[str]
) -> Stats:
    by_state: dict[str, int] = {}
    by_key: dict[str, dict[str, int]] = {}
    oldest: float | None = None
    for routing_key, state, count, oldest_pending in groups:
        by_state[state] = by_state.get(state, 0) + int(count)
        by_key.setdefault(routing_key, {})[state] = int(count)
        if oldest_pending is not None and (oldest is None or oldest_pending < oldest):
            oldest = float(oldest_pending)
    return Stats(by_state=by_state, by_routing_key=by_key, oldest_pending_at=oldest, paused=paused)


def token_bucket(
    found: Any, *, rate: float, burst: float, now: float
) -> tuple[float, float, float]:
    """Refill a bucket stored as (tokens, updated_at).

    Returns (new tokens, new updated_at, seconds to wait; 0 when a token was taken). An
    ``updated_at`` in the future is a throttle (a 429's Retry-After): nothing refills before it.
    """
    per_token = 1.0 / rate if rate > 0 else 60.0
    if found is None:
        return burst - 1.0, now, 0.0
    tokens, since = float(found[0]), float(found[1])
    if since > now:
        return tokens, since, since - now + (1.0 - tokens) * per_token
    tokens = min(burst, tokens + (now - since) * rate)
    if tokens >= 1.0:
        return tokens - 1.0, now, 0.0
    return tokens, now, (1.0 - tokens) * per_token
