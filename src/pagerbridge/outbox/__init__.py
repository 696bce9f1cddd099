"""The outbox: pagerbridge's durable queue of outbound PagerDuty calls.

Public face (a promise to the agent, update-watcher and incident helpers)::

    outbox = open_outbox("sqlite:////var/lib/pagerbridge/pagerbridge.db")
    row = outbox.enqueue_event({"routing_key": ..., "event_action": "trigger", ...})
    row = await outbox.enqueue_event_async(event)          # group commit, for HTTP endpoints
    worker = DeliveryWorker(outbox, events_url="https://events.pagerduty.com")
    await worker.run(stop)                                 # a daemon: Events API rows only
    result = await worker.drain(timeout=30)                # or: deliver what is pending now

Importing this package loads only the standard library (``pd-send`` depends on it); the worker,
the SQLAlchemy table and the metrics adapters load on first use.
"""

from __future__ import annotations

import time

from pagerbridge.outbox.core import Clock, Outbox, prepare_event
from pagerbridge.outbox.storage import NewRow
from pagerbridge.outbox.types import (
    ACTIVE_STATES,
    CHANGE_EVENT_KIND,
    DEAD,
    DEFAULT_LEASE_SECONDS,
    DEFAULT_MAX_QUEUE,
    DEFAULT_RETENTION_SECONDS,
    DELIVERED,
    EVENT_KIND,
    EVENT_KINDS,
    IN_FLIGHT,
    KIND_CHANGE_EVENT,
    KIND_EVENT,
    PENDING,
    REST_KEY_PREFIX,
    REST_KIND,
    STATES,
    SUPPRESSED,
    Completion,
    DrainResult,
    EnqueuedRow,
    FoldedInto,
    Held,
    OutboxRow,
    Stats,
    ordering_key,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of pd-send)
if TYPE_CHECKING:
    from typing import Any

    from pagerbridge.outbox.metrics import MetricsHooks, NullMetrics, PrometheusMetrics
    from pagerbridge.outbox.policy import RateLimit, RetryPolicy
    from pagerbridge.outbox.storage_contract import OutboxStorage
    from pagerbridge.outbox.tables import enqueue_in_transaction, outbox_table
    from pagerbridge.outbox.worker import DeliveryWorker

__all__ = [
    "ACTIVE_STATES",
    "CHANGE_EVENT_KIND",
    "DEAD",
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_MAX_QUEUE",
    "DEFAULT_RETENTION_SECONDS",
    "DELIVERED",
    "EVENT_KIND",
    "EVENT_KINDS",
    "IN_FLIGHT",
    "KIND_CHANGE_EVENT",
    "KIND_EVENT",
    "PENDING",
    "REST_KEY_PREFIX",
    "REST_KIND",
    "STATES",
    "SUPPRESSED",
    "Clock",
    "Completion",
    "DeliveryWorker",
    "DrainResult",
    "EnqueuedRow",
    "FoldedInto",
    "Held",
    "MetricsHooks",
    "NewRow",
    "NullMetrics",
    "Outbox",
    "OutboxRow",
    "OutboxStorage",
    "PrometheusMetrics",
    "RateLimit",
    "RetryPolicy",
    "Stats",
    "enqueue_in_transaction",
    "open_outbox",
    "open_storage",
    "ordering_key",
    "outbox_table",
    "prepare_event",
]

_LAZY = {
    "OutboxStorage": "pagerbridge.outbox.storage_contract",
    "DeliveryWorker": "pagerbridge.outbox.worker",
    "RetryPolicy": "pagerbridge.outbox.policy",
    "RateLimit": "pagerbridge.outbox.policy",
    "MetricsHooks": "pagerbridge.outbox.metrics",
    "NullMetrics": "pagerbridge.outbox.metrics",
    "PrometheusMetrics": "pagerbridge.outbox.metrics",
    "outbox_table": "pagerbridge.outbox.tables",
    "enqueue_in_transaction": "pagerbridge.outbox.tables",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pagerbridge.outbox' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def open_storage(url: str) -> OutboxStorage:
    """The storage backend for a database URL (``sqlite:///path`` or ``postgresql://...``).

    Creates the outbox tables when absent (``CREATE TABLE IF NOT EXISTS``, the same SQL the
    ``0002_outbox`` migration runs), so ``pd-send`` works on a machine where nothing else ran.
    Raises StorageError when the database cannot be opened or written, ConfigError for an
    unsupported URL.
    """
    from pagerbridge.errors import ConfigError
    from pagerbridge.paths import sqlite_file

    if url.startswith(("postgresql", "postgres://")):
        from pagerbridge.outbox.pg_backend import PostgresStorage

        return PostgresStorage(url)
    path = sqlite_file(url)
    if path is None:
        raise ConfigError(f"unsupported database URL for the outbox: {url.split('@')[-1]!r}")
    from pagerbridge.outbox.sqlite_backend import SqliteStorage

    return SqliteStorage(path)


def open_outbox(
    url: str,
    *,
    max_queue: int | None = None,
    clock: Clock = time.time,
    destination: str | None = None,
    kinds: tuple[str, ...] | None = EVENT_KINDS,
) -> Outbox:
    """Open the outbox in the database at ``url`` (see :func:`open_storage`); ``destination``
    is stamped on the rows it enqueues; ``kinds`` are the row kinds its views cover (None:
    every kind, as ``pd-queue`` shows them)."""
    return Outbox(
        open_storage(url), max_queue=max_queue, clock=clock, destination=destination, kinds=kinds
    )
