"""What a reconcile run leaves behind: a line of connector activity, a ``reconcile`` log record
(``im logs --component reconcile``) and its REST calls in the connector's call counter (``im
metrics connector``), so ``status``, ``health`` and the metrics see its runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import sqlalchemy as sa

from pagerbridge.connectors import links as db
from pagerbridge.connectors import logstore
from pagerbridge.connectors.metrics import add_calls
from pagerbridge.connectors.records import ConnectorRecord

if TYPE_CHECKING:
    from pagerbridge.connectors.reconcile import ReconcileResult


def summary(result: ReconcileResult) -> str:
    """One line: ``reconcile: 3 change(s) repaired from PagerDuty (120 read, 2 requests)``."""
    text = (
        f"reconcile: {result.applied} change(s) repaired from PagerDuty "
        f"({result.entries} log entries read, {result.backfilled} open incidents backfilled, "
        f"{result.requests} requests)"
    )
    if result.failed:
        text += f"; {result.failed} could not be applied"
    if result.error:
        text += f"; stopped: {result.error}"
    return text


def record_run(
    engine: sa.Engine, record: ConnectorRecord, result: ReconcileResult, seconds: float
) -> None:
    failed = bool(result.error or result.failed)
    message = summary(result)
    data = {
        **result.as_dict(),
        "fixed": result.fixed[:10],  # a record stays small (logstore bounds it)
        "errors": result.errors[:10],
        "seconds": round(seconds, 3),
    }
    with engine.begin() as conn:
        if result.applied or failed:
            db.add_activity(conn, record.id, "reconcile", message, error=failed)
        if result.requests:
            add_calls(conn, record.id, result.requests, time.time())
        logstore.record(
            conn,
            "reconcile",
            "warning" if failed else "info",
            message,
            connector=record.name,
            data=data,
        )
