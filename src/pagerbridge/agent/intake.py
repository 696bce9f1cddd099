"""Events API v2 intake: bytes in, a PagerDuty-style verdict out, 202 only once durable.

This is the agent's one boundary for request bodies: size, JSON, PagerDuty's rules
(:mod:`pagerbridge.pagerduty.event_rules`), maintenance windows, then the outbox's group-commit
enqueue. Every failure becomes a status and a PagerDuty-shaped body; nothing here raises.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pagerbridge.agent.maintenance import MaintenanceSchedule
from pagerbridge.agent.metrics import AgentMetrics
from pagerbridge.errors import ConfigError, EventValidationError, QueueFullError, StorageError
from pagerbridge.outbox.core import prepare_event
from pagerbridge.outbox.storage import NewRow
from pagerbridge.outbox.types import SUPPRESSED, EnqueuedRow
from pagerbridge.pagerduty.event_rules import events_base
from pagerbridge.pagerduty.limits import EVENT_MAX_BYTES

log = logging.getLogger("pagerbridge.agent")

#: Seconds a client is asked to wait when the queue is full (HTTP Retry-After).
QUEUE_FULL_RETRY_AFTER = 30
SUCCESS_MESSAGE = "Event processed"
_SUCCESS_HEAD = b'{"status":"success","message":"Event processed","dedup_key":'
CHANGE_SUCCESS_MESSAGE = "Change event processed"
#: The longest destination a forwarding agent may name (X-Pagerbridge-Destination).
DESTINATION_MAX = 2048


#: Stores one prepared row durably (the outbox's group commit); raises QueueFullError or
#: StorageError. In the agent this is ``Outbox.enqueue_row_async``.
Enqueue = Callable[[NewRow], Awaitable[EnqueuedRow]]


@dataclass(frozen=True)
class Verdict:
    """An HTTP answer: status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)

    def encode(self) -> bytes:
        if self.status == 202 and set(self.body) == {"status", "message", "dedup_key"}:
            # The hot path: PagerDuty's success body with only the key to fill in.
            key = json.dumps(self.body["dedup_key"], ensure_ascii=False)
            return _SUCCESS_HEAD + key.encode("utf-8") + b"}"
        return json.dumps(self.body, separators=(",", ":")).encode("utf-8")


def error(status: int, short: str, message: str, errors: list[str]) -> Verdict:
    """PagerDuty's error shape: ``{"status": ..., "message": ..., "errors": [...]}``."""
    return Verdict(status, {"status": short, "message": message, "errors": errors})


def unrecognized(detail: str) -> Verdict:
    return error(400, "Unrecognized object", "Event object format is unrecognized", [detail])


def invalid(errors: list[str]) -> Verdict:
    return error(400, "invalid event", "Event object is invalid", errors)


def too_large(size: int | None) -> Verdict:
    got = f"{size} bytes" if size is not None else f"more than {EVENT_MAX_BYTES} bytes"
    return invalid([f"Event is too large: {got}; the limit is {EVENT_MAX_BYTES} bytes (512 KB)"])


class Intake:
    """Turns a request body into a stored row and PagerDuty's answer."""

    def __init__(
        self,
        enqueue: Enqueue,
        *,
        schedule: MaintenanceSchedule | None = None,
        metrics: AgentMetrics | None = None,
        clock: Callable[[], float] = time.time,
        destination: str | None = None,
    ) -> None:
        self._enqueue = enqueue
        #: Stamped on every row unless a forwarding agent names the row's own destination.
        self.destination = destination
        self._schedule = schedule or MaintenanceSchedule([])
        self._metrics = metrics or AgentMetrics()
        self._clock = clock
        self._accepted_event = self._metrics.accepted.labels("event")
        self._accepted_change = self._metrics.accepted.labels("change")

    def refuse(self, reason: str, verdict: Verdict) -> Verdict:
        self._metrics.refused.labels(reason).inc()
        return verdict

    def parse(
        self, body: bytes, *, change: bool, now: float, destination: str | None = None
    ) -> NewRow | Verdict:
        """Size, JSON and PagerDuty's rules; the row to store or a 400 verdict.

        The outbox's ``prepare_event`` validates (one rule source), fills ``payload.timestamp``
        with ``now`` and gives a trigger without a dedup key a fresh one, as PagerDuty would, so
        a retry after a crash stays idempotent and the client learns the key from our 202.
        """
        if len(body) > EVENT_MAX_BYTES:
            return self.refuse("too_large", too_large(len(body)))
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            return self.refuse("invalid", unrecognized("JSON parse error"))
        if not isinstance(data, dict):
            return self.refuse("invalid", unrecognized("Event object must be a JSON object"))
        if destination is not None:
            try:
                if len(destination) > DESTINATION_MAX:
                    raise ConfigError(f"longer than {DESTINATION_MAX} characters")
                destination = events_base(destination)
            except ConfigError as exc:
                why = f"X-Pagerbridge-Destination is not an events URL: {exc}"
                return self.refuse("invalid", invalid([why]))
        try:
            row = prepare_event(
                data, change=change, now=now, destination=destination or self.destination
            )
        except EventValidationError as exc:
            return self.refuse("invalid", invalid(exc.errors or ["Event object is invalid"]))
        except (RecursionError, ValueError, TypeError):  # odd input a rule choked on; never a 500
            log.exception("event validation failed unexpectedly")
            return self.refuse("invalid", invalid(["Event object could not be validated"]))
        if self._schedule:
            window = self._schedule.suppressing(
                data, datetime.fromtimestamp(now, UTC), change=change
            )
            if window is not None:
                log.info("event suppressed by maintenance window %r", window)
                row = row._replace(state=SUPPRESSED)
        return row

    async def accept(
        self, body: bytes, *, change: bool = False, destination: str | None = None
    ) -> Verdict:
        """Store ``body`` durably and answer as PagerDuty would; ``destination`` is what a
        forwarding agent said the event is meant for (else this agent's own)."""
        row = self.parse(body, change=change, now=self._clock(), destination=destination)
        if isinstance(row, Verdict):
            return row
        try:
            stored = await self._enqueue(row)
        except QueueFullError as exc:
            verdict = error(
                503,
                "queue full",
                "The agent's queue is full; retry later",
                [str(exc) or "queue full"],
            )
            verdict.headers["Retry-After"] = str(QUEUE_FULL_RETRY_AFTER)
            return self.refuse("queue_full", verdict)
        except StorageError as exc:
            log.error("cannot store event: %s", exc)
            return self.refuse(
                "storage",
                error(507, "storage error", "The event could not be stored", [str(exc)]),
            )
        except Exception as exc:  # unknown failure while storing: not durable, say so
            log.exception("unexpected failure while storing an event")
            return self.refuse(
                "storage",
                error(507, "storage error", "The event could not be stored", [type(exc).__name__]),
            )
        if stored.state == SUPPRESSED:
            self._metrics.suppressed.inc()
        (self._accepted_change if change else self._accepted_event).inc()
        if change:
            return Verdict(202, {"status": "success", "message": CHANGE_SUCCESS_MESSAGE})
        return Verdict(
            202, {"status": "success", "message": SUCCESS_MESSAGE, "dedup_key": stored.dedup_key}
        )
