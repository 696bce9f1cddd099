"""What the two SQL outbox backends share: row mapping, statistics, the token bucket, and
claiming (record the previous outcomes and claim the next rows in one transaction).

Standard library only: the SQLite backend is on ``pd-send``'s start-up path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

from pagerbridge.outbox.queries import BLOCKED
from pagerbridge.outbox.types import EVENT_KINDS, Completion, Held, OutboxRow, Stats

#: The ``outbox_settings`` name under which the agent records the Events API it delivers to.
EVENTS_URL_SETTING = "events_url"

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)
if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from typing import Any


class SqlStorageBase(ABC):
    """``claim``, ``complete``, ``get`` and ``list_rows`` over a backend's transaction, named-query
    and outcome-recording primitives."""

    #: The backend's ``claim`` query (named parameters now, lease, worker, limit, destination,
    #: kinds), and ``claim_rest``, the same for a worker of no Events API kind.
    _claim_sql: str
    _claim_rest_sql: str

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

    @staticmethod
    @abstractmethod
    def _ids_param(ids: Sequence[int]) -> Any:
        """``ids`` as a query's list-of-ids parameter."""

    @abstractmethod
    def _query(self, name: str) -> str:
        """The text of the named query."""

    def _kinds_param(self, kinds: Sequence[str] | None) -> Any:
        """``kinds`` as a query's ``:kinds`` parameter (NULL: every kind)."""
        return None if kinds is None else self._states_param(kinds)

    def _before_claim(self, conn: Any) -> None:  # noqa: B027 - a hook: SQLite has nothing to do
        """Prepare the claim's transaction (PostgreSQL steers its planner)."""

    def _changed(self, conn: Any) -> None:  # noqa: B027 - a hook: SQLite has nothing to do
        """Rows became due in this transaction (PostgreSQL wakes listening workers)."""

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
        destination: str | None = None,
        kinds: Sequence[str] | None = None,
    ) -> list[OutboxRow]:
        params = {
            "now": now,
            "lease": now + lease_seconds,
            "worker": worker,
            "limit": limit,
            "destination": destination,
            "kinds": self._kinds_param(kinds),
        }
        rest_only = kinds is not None and not set(kinds) & set(EVENT_KINDS)
        sql = self._claim_rest_sql if rest_only else self._claim_sql
        with self._tx() as conn:
            self._record(conn, completions, now)
            rows = []
            if limit > 0:
                self._before_claim(conn)
                rows = conn.execute(sql, params).fetchall()
        return sorted((row_from_mapping(r) for r in rows), key=lambda r: r.id)

    def complete(self, completions: Sequence[Completion], *, now: float) -> None:
        if not completions:
            return
        with self._tx() as conn:
            self._record(conn, completions, now)

    def stats(self, *, kinds: Sequence[str] | None = None) -> Stats:
        found = self._read("stats", {"kinds": self._kinds_param(kinds)})
        groups = [tuple(_values(r)) for r in found]
        return stats_from_groups(groups, self.paused())

    def pending_count(self, *, kinds: Sequence[str] | None = None) -> int:
        if kinds is None:
            return int(_first(self._read("count_active")[0]))
        return int(_first(self._read("pending_count", {"kinds": self._kinds_param(kinds)})[0]))

    def purge(self, *, states: Sequence[str], before: float | None = None) -> int:
        if not states:
            return 0
        with self._tx() as conn:
            params = {"states": self._states_param(states), "before": before}
            return int(conn.execute(self._query("purge"), params).rowcount)

    def pause(self, routing_key: str, *, now: float) -> None:
        with self._tx() as conn:
            conn.execute(self._query("pause"), {"routing_key": routing_key, "now": now})

    def resume(self, routing_key: str) -> bool:
        with self._tx() as conn:
            resumed = conn.execute(self._query("resume"), {"routing_key": routing_key}).rowcount
            if resumed:
                self._changed(conn)
            return bool(resumed)

    def paused(self) -> list[str]:
        return [str(_first(r)) for r in self._read("paused")]

    def throttle(self, routing_key: str, *, until: float) -> None:
        with self._tx() as conn:
            params = {"routing_key": routing_key, "until": until}
            conn.execute(self._query("rate_throttle"), params)

    def next_due(
        self, *, destination: str | None = None, kinds: Sequence[str] | None = None
    ) -> float | None:
        params = {"blocked": BLOCKED, "destination": destination, "kinds": self._kinds_param(kinds)}
        rows = self._read("next_due", params)
        value = _first(rows[0]) if rows else None
        return None if value is None else float(value)

    def oldest_due(
        self, *, now: float, destination: str | None = None, kinds: Sequence[str] | None = None
    ) -> float | None:
        params = {"now": now, "destination": destination, "kinds": self._kinds_param(kinds)}
        rows = self._read("oldest_due", params)
        value = _first(rows[0]) if rows else None
        return None if value is None else float(value)

    # -- destinations --------------------------------------------------------------------------

    def recorded_destination(self) -> str | None:
        rows = self._read("setting_get", {"name": EVENTS_URL_SETTING})
        return str(rows[0]["value"]) if rows else None

    def record_destination(self, url: str | None, *, now: float) -> None:
        with self._tx() as conn:
            if url is None:
                conn.execute(self._query("setting_delete"), {"name": EVENTS_URL_SETTING})
            else:
                params = {"name": EVENTS_URL_SETTING, "value": url, "now": now}
                conn.execute(self._query("setting_put"), params)

    def held(
        self, *, destination: str | None = None, kinds: Sequence[str] | None = None
    ) -> list[Held]:
        """Active rows meant for another destination than ``destination`` (default: the
        recorded one; with none recorded, every row that names a destination waits for a
        worker configured for it)."""
        mine = destination if destination is not None else self.recorded_destination()
        params = {"destination": mine or "", "kinds": self._kinds_param(kinds)}
        rows = self._read("held", params)
        return [Held(str(r["destination"]), int(r["n"]), int(r["first_id"])) for r in rows]

    # -- manual retries ------------------------------------------------------------------------

    def superseded(
        self, *, ids: Sequence[int] = (), dead: bool = False, routing_key: str | None = None
    ) -> list[int]:
        params = {
            "ids": self._ids_param(ids),
            "all_dead": dead or routing_key is not None,
            "routing_key": routing_key,
        }
        return [int(_first(r)) for r in self._read("superseded", params)]

    def retry(
        self,
        *,
        now: float,
        ids: Sequence[int] = (),
        dead: bool = False,
        routing_key: str | None = None,
        held: bool = False,
        held_for: str | None = None,
        to: str | None = None,
        force: bool = False,
    ) -> int:
        skip = [] if force else self.superseded(ids=ids, dead=dead, routing_key=routing_key)
        common = {"now": now, "skip": self._ids_param(skip)}
        events = self._states_param(EVENT_KINDS)  # only Events API rows are held or re-addressed
        changed: set[int] = set()
        with self._tx() as conn:
            if ids:
                params = {**common, "ids": self._ids_param(ids)}
                changed.update(_ids(conn.execute(self._query("retry_ids"), params)))
            if dead or (routing_key is not None and not held):
                params = {**common, "routing_key": routing_key}
                changed.update(_ids(conn.execute(self._query("retry_dead"), params)))
            if held:
                params = {
                    "now": now,
                    "blocked": BLOCKED,
                    "from_destination": held_for,
                    "routing_key": routing_key,
                    "kinds": events,
                }
                changed.update(_ids(conn.execute(self._query("retry_held"), params)))
            if to is not None and changed:
                ids_param = self._ids_param(sorted(changed))
                params = {"ids": ids_param, "to": to, "now": now, "kinds": events}
                conn.execute(self._query("redirect"), params)
            if changed:
                self._changed(conn)
        return len(changed)


def _first(row: Any) -> Any:
    """The first column of a row (sqlite3.Row or a dict)."""
    return next(iter(row.values())) if isinstance(row, dict) else row[0]


def _values(row: Any) -> Any:
    """A row's values in column order (sqlite3.Row or a dict)."""
    return row.values() if isinstance(row, dict) else tuple(row)


def _ids(cursor: Any) -> list[int]:
    return [int(_first(r)) for r in cursor.fetchall()]


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
        destination=r["destination"],
        folds=r["folds"],
    )


def stats_from_groups(
    groups: Sequence[tuple[str, str, str, int, float | None, int]], paused: list[str]
) -> Stats:
    """Stats from (routing key, kind, state, rows, oldest pending, folds) groups."""
    by_state: dict[str, int] = {}
    by_key: dict[str, dict[str, int]] = {}
    by_kind: dict[str, dict[str, int]] = {}
    oldest: float | None = None
    folds = 0
    for routing_key, kind, state, count, oldest_pending, folded in groups:
        by_state[state] = by_state.get(state, 0) + int(count)
        key_states = by_key.setdefault(routing_key, {})
        key_states[state] = key_states.get(state, 0) + int(count)
        kind_states = by_kind.setdefault(kind, {})
        kind_states[state] = kind_states.get(state, 0) + int(count)
        folds += int(folded or 0)
        if oldest_pending is not None and (oldest is None or oldest_pending < oldest):
            oldest = float(oldest_pending)
    return Stats(
        by_state=by_state,
        by_routing_key=by_key,
        oldest_pending_at=oldest,
        paused=paused,
        by_kind=by_kind,
        folds=folds,
    )


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
