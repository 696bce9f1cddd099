"""The storage contract every outbox backend fulfils (one contract, one shared test suite).

``NewRow`` is here; the ``OutboxStorage`` protocol is in :mod:`storage_contract` (loaded on first
use of ``storage.OutboxStorage``: typing is kept off ``pd-send``'s start-up path). Backends are
synchronous and thread-safe; async callers reach them through ``asyncio.to_thread``
(see :mod:`pagerbridge.outbox.core`), so there is one implementation per backend, not a sync and an
async twin. Times are Unix epoch seconds supplied by the caller's clock, never read here.
"""

from __future__ import annotations

from pagerbridge.outbox.types import PENDING, FoldedInto

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of pd-send)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import NamedTuple

    from pagerbridge.outbox.storage_contract import OutboxStorage as OutboxStorage
else:
    from pagerbridge.outbox._namedtuple import NamedTuple


class NewRow(NamedTuple):
    """A validated row ready to insert (payload is the exact JSON text to send).

    Immutable; derive a changed copy with ``row._replace(state="suppressed")``.
    """

    kind: str
    payload: str
    ordering_key: str
    routing_key: str
    dedup_key: str | None
    state: str = "pending"
    #: The Events API base URL the row is meant for (``events_base``); None: the first worker's.
    destination: str | None = None
    #: Fold this trigger into its lane: when the latest active row of its ordering key (routing +
    #: dedup key) is a pending (not in-flight) trigger that was itself stored with ``fold``, for
    #: the same destination, replace that row's payload and count a fold instead of adding a
    #: row. Set only on triggers (``prepare_event(fold=True)``), by event sources; ``pd-send``
    #: and the Events API intake never fold. A resolve or acknowledge is never folded away and
    #: never folded across: it is its lane's latest row until it is sent.
    fold: bool = False


class FoldPlan(NamedTuple):
    """A batch after folding its own repeats (see :func:`plan_folds`)."""

    #: The rows to write, in batch order.
    writes: list[NewRow]
    #: Per write: how many later rows of the batch were folded into it.
    folded: list[int]
    #: Per write: may fold into a stored row (it is the first active row of its lane here).
    try_stored: list[bool]
    #: Per input row: the index of the write that carries it.
    carrier: list[int]
    #: Per write: the index of the input row it started as.
    origin: list[int]

    def results(self, written: Sequence[int | None]) -> list[int | None]:
        """Each input row's id from each write's: a row folded into another write gets that
        write's id, as a ``FoldedInto``."""
        out: list[int | None] = []
        for i, w in enumerate(self.carrier):
            got = written[w]
            if got is None or self.origin[w] == i:
                out.append(got)
            else:
                out.append(FoldedInto(got))
        return out


def plan_folds(rows: Sequence[NewRow]) -> FoldPlan:
    """Fold a batch's repeated triggers into each other before any is written.

    A ``fold`` row whose lane's latest active row in this batch is a ``fold`` trigger for the
    same destination replaces that row's payload; the first active row of each lane may still
    fold into a stored row (the backend checks, under its per-lane write lock).
    """
    writes: list[NewRow] = []
    folded: list[int] = []
    try_stored: list[bool] = []
    carrier: list[int] = []
    origin: list[int] = []
    latest: dict[str, int] = {}
    for i, row in enumerate(rows):
        active = row.state == PENDING
        j = latest.get(row.ordering_key) if active else None
        if (
            j is not None
            and row.fold
            and writes[j].fold
            and writes[j].destination == row.destination
        ):
            writes[j] = writes[j]._replace(payload=row.payload)
            folded[j] += 1
            carrier.append(j)
            continue
        first = active and row.ordering_key not in latest
        writes.append(row)
        folded.append(0)
        try_stored.append(first and row.fold)
        carrier.append(len(writes) - 1)
        origin.append(i)
        if active:
            latest[row.ordering_key] = len(writes) - 1
    return FoldPlan(writes, folded, try_stored, carrier, origin)


def __getattr__(name: str) -> object:
    """``OutboxStorage`` on first use: it is a ``typing.Protocol`` (typing costs ~3 ms) and
    ``pd-send`` never needs it; it lives in :mod:`pagerbridge.outbox.storage_contract`."""
    if name == "OutboxStorage":
        from pagerbridge.outbox.storage_contract import OutboxStorage

        return OutboxStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
