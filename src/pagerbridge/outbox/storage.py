"""The storage contract every outbox backend fulfils (one contract, one shared test suite).

``NewRow`` is here; the ``OutboxStorage`` protocol is in :mod:`storage_contract` (loaded on first
use of ``storage.OutboxStorage``: typing is kept off ``pd-send``'s start-up path). Backends are
synchronous and thread-safe; async callers reach them through ``asyncio.to_thread``
(see :mod:`pagerbridge.outbox.core`), so there is one implementation per backend, not a sync and an
async twin. Times are Unix epoch seconds supplied by the caller's clock, never read here.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of pd-send)
if TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    """``OutboxStorage`` on first use: it is a ``typing.Protocol`` (typing costs ~3 ms) and
    ``pd-send`` never needs it; it lives in :mod:`pagerbridge.outbox.storage_contract`."""
    if name == "OutboxStorage":
        from pagerbridge.outbox.storage_contract import OutboxStorage

        return OutboxStorage
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
