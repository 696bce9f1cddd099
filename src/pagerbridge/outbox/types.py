"""The outbox's plain values: states, kinds, rows, statistics and results (standard library only).

``pd-send`` imports this module on its start-up path, so it must stay free of anything heavy: the
value classes are ``NamedTuple``s (immutable, cheap to define) rather than dataclasses, whose
import and per-class code generation cost ``pd-send`` about 13 ms. Use ``row._replace(...)``.
At run time they come from :mod:`pagerbridge.outbox._namedtuple` (typing's class syntax without
importing typing); mypy sees ``typing.NamedTuple``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of pd-send)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Final, NamedTuple
else:
    from pagerbridge.outbox._namedtuple import NamedTuple

#: Row states, named exactly as ``pd-queue`` shows them.
PENDING: Final = "pending"
IN_FLIGHT: Final = "in_flight"
DELIVERED: Final = "delivered"
DEAD: Final = "dead"
SUPPRESSED: Final = "suppressed"
STATES: Final = (PENDING, IN_FLIGHT, DELIVERED, DEAD, SUPPRESSED)
#: States that still hold their ordering key (a later row of the key waits for them).
ACTIVE_STATES: Final = (PENDING, IN_FLIGHT)

#: Row kinds: what the payload is, and so which worker may send it. The agent and update-watcher
#: send Events API rows (``EVENT_KINDS``) and nothing else; the hub sends REST API rows
#: (``REST_KIND``), which the PagerDuty connector writes with ``tables.enqueue_in_transaction``.
EVENT_KIND: Final = "event"
CHANGE_EVENT_KIND: Final = "change_event"
EVENT_KINDS: Final = (EVENT_KIND, CHANGE_EVENT_KIND)
REST_KIND: Final = "pd_rest"
#: The ``routing_key`` of a REST row names its rate budget: ``rest:<credential fingerprint>``, one
#: token bucket per credential, shared by every process on the database.
REST_KEY_PREFIX: Final = "rest:"
#: Older names of the event kinds.
KIND_EVENT: Final = EVENT_KIND
KIND_CHANGE_EVENT: Final = CHANGE_EVENT_KIND
KINDS: Final = EVENT_KINDS

#: Defaults, named so the agent's configuration and the docs can quote them.
DEFAULT_MAX_QUEUE: Final = 1_000_000
DEFAULT_LEASE_SECONDS: Final = 60.0
DEFAULT_RETENTION_SECONDS: Final = 7 * 24 * 3600.0


def ordering_key(routing_key: str, dedup_key: str | None, *, change: bool = False) -> str:
    """Rows with equal ordering keys are delivered strictly in order.

    Events order on (routing key, dedup key); change events have no dedup key and order on the
    routing key alone, in a lane of their own.
    """
    if change:
        return f"{routing_key}/~change"
    return f"{routing_key}/{dedup_key or ''}"


class FoldedInto(int):
    """A row id that ``insert_batch`` returns for a row it folded (an ``int``, so callers that
    only want the id need not care): the row's payload replaced that of this pending row."""

    __slots__ = ()


class EnqueuedRow(NamedTuple):
    """What ``enqueue_event`` returns: the row is durable (fsynced / committed) once you hold it.

    ``folded_into`` is set (and equals ``id``) when the event was folded into pending row ``id``
    instead of adding a row (see ``NewRow.fold``)."""

    id: int
    dedup_key: str | None
    routing_key: str
    state: str = PENDING
    folded_into: int | None = None


class OutboxRow(NamedTuple):
    """One row of the outbox, as storage returns it (times are Unix epoch seconds)."""

    id: int
    kind: str
    payload: str
    ordering_key: str
    routing_key: str
    dedup_key: str | None
    state: str
    attempts: int
    next_attempt_at: float
    lease_expires_at: float | None
    last_error: str | None
    created_at: float
    updated_at: float
    delivered_at: float | None
    #: The retry deadline counts from here: acceptance, or the last manual ``retry``.
    deadline_from: float
    #: The Events API base URL the row is meant for; a worker configured for another one holds
    #: it (None: written before any agent recorded its URL, so the first worker's).
    destination: str | None = None
    #: How many later triggers were folded into this row (None: a row that takes no folds).
    folds: int | None = None

    @property
    def change(self) -> bool:
        return self.kind == CHANGE_EVENT_KIND

    def payload_json(self) -> Any:
        """The payload parsed; the stored text is what goes on the wire, byte for byte."""
        import json  # not at the top: json imports re and enum, which pd-send does without

        return json.loads(self.payload)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``pd-queue --json``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "routing_key": self.routing_key,
            "dedup_key": self.dedup_key,
            "ordering_key": self.ordering_key,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at,
            "lease_expires_at": self.lease_expires_at,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "delivered_at": self.delivered_at,
            "deadline_from": self.deadline_from,
            "destination": self.destination,
            "folds": self.folds,
            "payload": self.payload_json(),
        }


class Completion(NamedTuple):
    """A worker's verdict on one claimed row, written back in a batch.

    ``state`` is ``delivered``, ``dead`` or ``pending`` (retry at ``next_attempt_at``).
    ``count_attempt`` is False when the row is only deferred (rate limit), not tried.
    """

    id: int
    state: str
    next_attempt_at: float | None = None
    last_error: str | None = None
    count_attempt: bool = True


class Stats(NamedTuple):
    """Queue depth for ``pd-queue status`` and ``/metrics``, over the row kinds asked for."""

    by_state: dict[str, int]
    by_routing_key: dict[str, dict[str, int]]
    oldest_pending_at: float | None
    paused: Sequence[str] = ()
    #: kind -> state -> rows (None when not computed).
    by_kind: dict[str, dict[str, int]] | None = None
    #: Triggers folded into an earlier pending trigger, summed over the rows still stored.
    folds: int = 0

    def oldest_pending_age(self, now: float) -> float | None:
        return None if self.oldest_pending_at is None else max(0.0, now - self.oldest_pending_at)


class Held(NamedTuple):
    """Pending rows meant for another Events API than the one a worker (or the agent recorded in
    the database) delivers to: they keep their place in their key's order and wait for a worker
    configured for ``destination``, or for ``pd-queue retry --held --to URL``."""

    destination: str
    rows: int
    first_id: int


class DrainResult(NamedTuple):
    """What a bounded ``drain`` achieved; ``remaining`` counts rows still pending or in flight."""

    delivered: int
    dead: int
    retried: int
    remaining: int
    timed_out: bool

    @property
    def complete(self) -> bool:
        return self.remaining == 0
