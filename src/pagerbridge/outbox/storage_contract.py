"""The storage contract every outbox backend fulfils (one contract, one shared test suite).

``OutboxStorage`` is a ``typing.Protocol``, so it lives apart from :mod:`storage` (whose ``NewRow``
is on ``pd-send``'s start-up path, which does without typing); ``storage.OutboxStorage`` and
``pagerbridge.outbox.OutboxStorage`` are this class. Backends are synchronous and thread-safe; times
are Unix epoch seconds supplied by the caller's clock, never read here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pagerbridge.outbox.storage import NewRow
    from pagerbridge.outbox.types import Completion, Held, OutboxRow, Stats


class OutboxStorage(Protocol):
    """What the outbox needs from a database (``tests/contract/test_outbox_storage.py``)."""

    #: True when :meth:`wait_notify` really waits for a database notification (PostgreSQL).
    supports_notify: bool
    #: Writer threads for the agent's group commit: 1 where writers serialise on one lock
    #: (SQLite), more where concurrent transactions overlap their round trips (PostgreSQL).
    group_commit_writers: int

    def insert_batch(
        self, rows: Sequence[NewRow], *, now: float, max_pending: int | None
    ) -> list[int | None]:
        """Insert ``rows`` in ONE transaction (one fsync); durable on return.

        Returns each row's id, or None for rows refused because pending + in-flight rows would
        exceed ``max_pending``. A ``fold`` row that folded (into a stored row, or into an
        earlier row of the batch: see ``NewRow.fold`` and ``storage.plan_folds``) gives the id of
        the row that now carries its payload, as a ``FoldedInto``; that row's ``folds`` grows by
        one. Folding is atomic with concurrent writers and claims: a row being claimed is never
        folded into. Raises StorageError when the database cannot be written.
        """
        ...

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
        """Lease up to ``limit`` due rows, at most one per ordering key, each the earliest active
        row of its key (so a key's next row waits while an earlier one is pending or in flight).
        Rows whose lease expired (their worker died) are claimable again. Paused routing keys are
        skipped, and so are rows meant for another ``destination`` than the worker's (held: they
        stay first in their key's order); rows without one, or a worker without one, match.
        With ``kinds``, only rows of those kinds are claimed (None: any kind): the agent claims
        Events API rows only, the hub REST rows. ``completions`` are recorded first, in the same
        transaction (one commit per worker loop turn instead of two)."""
        ...

    def complete(self, completions: Sequence[Completion], *, now: float) -> None:
        """Record outcomes of claimed rows in one transaction."""
        ...

    def get(self, row_id: int) -> OutboxRow | None: ...

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
        """Rows in id order, filtered; page with ``after_id`` (keyset pagination)."""
        ...

    def stats(self, *, kinds: Sequence[str] | None = None) -> Stats:
        """Rows by state, routing key and kind (of ``kinds`` only, if given), folds counted."""
        ...

    def next_due(
        self, *, destination: str | None = None, kinds: Sequence[str] | None = None
    ) -> float | None:
        """When the earliest active row of an unpaused key that a worker for ``destination`` and
        ``kinds`` may send becomes claimable (None: no such row)."""
        ...

    def oldest_due(
        self, *, now: float, destination: str | None = None, kinds: Sequence[str] | None = None
    ) -> float | None:
        """``created_at`` of the oldest row a worker for ``destination`` and ``kinds`` could
        send now (paused keys and held rows aside); None when there is none. The agent's health
        watches it."""
        ...

    def recorded_destination(self) -> str | None:
        """The Events API base URL the agent on this database delivers to (None: none ran)."""
        ...

    def record_destination(self, url: str | None, *, now: float) -> None:
        """Record (or, with None, forget) the agent's Events API base URL."""
        ...

    def held(
        self, *, destination: str | None = None, kinds: Sequence[str] | None = None
    ) -> list[Held]:
        """Active rows (of ``kinds``, if given) meant for another destination than
        ``destination`` (default: the recorded one), by destination."""
        ...

    def superseded(
        self, *, ids: Sequence[int] = (), dead: bool = False, routing_key: str | None = None
    ) -> list[int]:
        """Dead event rows (of ``ids``, or all / one routing key's) whose alert a later row of the
        same routing and dedup key has reached PagerDuty since: retrying would undo it."""
        ...

    def pending_count(self, *, kinds: Sequence[str] | None = None) -> int:
        """Rows pending or in flight (of ``kinds``, if given; all of them are what the maximum
        queue size limits)."""
        ...

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
        """Make dead (or, by id, any undelivered) rows pending again, due now, with a fresh
        deadline window; with ``held``, the Events API rows held for another destination (only
        those for ``held_for`` if given, of ``routing_key`` if given). ``to`` re-addresses every
        Events API row it retries (never a REST row). Superseded dead rows are skipped unless
        ``force``. Returns how many changed."""
        ...

    def purge(self, *, states: Sequence[str], before: float | None = None) -> int:
        """Delete rows in ``states`` (only those updated before ``before`` if given)."""
        ...

    def pause(self, routing_key: str, *, now: float) -> None: ...

    def resume(self, routing_key: str) -> bool:
        """Unpause; False if the key was not paused."""
        ...

    def paused(self) -> list[str]: ...

    def take_token(self, routing_key: str, *, rate: float, burst: float, now: float) -> float:
        """A token bucket per routing key, shared by every worker on this database.

        Takes one token and returns 0.0, or takes nothing and returns the seconds until one is
        available. ``rate`` is tokens per second.
        """
        ...

    def throttle(self, routing_key: str, *, until: float) -> None:
        """Empty the routing key's bucket until ``until`` (PagerDuty answered 429 with a
        Retry-After): every worker then holds that key's events, not just the one that failed."""
        ...

    def wait_notify(self, timeout: float) -> bool:
        """Block up to ``timeout`` for a new-row notification; True if one came (a hint only)."""
        ...

    def close(self) -> None: ...
