"""Is delivery healthy? The three checks behind the agent's ``GET /health``.

``/health`` used to say only whether the worker task was alive, so on a full disk it answered 200
while every claim failed and nothing was delivered. Now it answers for what matters:

- **worker**: claiming or recording outcomes has failed for longer than ``worker_failing_after``
  (the worker tells :class:`WorkerHealth` after each claim), or the worker task is not running;
- **storage**: a cheap query (:meth:`OutboxStorage.oldest_due`) fails or does not answer within
  ``probe_timeout``;
- **backlog**: the oldest row the worker could have sent ``due_grace`` seconds ago and still has
  not (paused keys, rows held for another destination and rows of kinds it does not send, such
  as the hub's REST rows, aside) was accepted longer than
  ``oldest_due_threshold`` ago. The grace keeps a long-retried row that became due a moment ago
  (and is claimed within a second) from flipping ``/health`` to 503 while PagerDuty is down.

Every time comes from the injected clock; the probe is cached for ``probe_interval`` seconds, so a
busy load balancer cannot turn ``/health`` into database load, and runs off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pagerbridge.outbox.types import EVENT_KINDS
from pagerbridge.pagerduty.durations import format_duration

if TYPE_CHECKING:
    from pagerbridge.outbox.storage_contract import OutboxStorage

log = logging.getLogger(__name__)

DEFAULT_WORKER_FAILING_AFTER = 30.0
DEFAULT_OLDEST_DUE_THRESHOLD = 15 * 60.0
DEFAULT_PROBE_TIMEOUT = 5.0
#: Seconds a probe's answer is reused (wall time, not the injected clock: it only bounds load).
DEFAULT_PROBE_INTERVAL = 2.0
#: Rows due for less than this do not count as backlog: a working worker claims them sooner.
DEFAULT_DUE_GRACE = 10.0
CHECKS = ("worker", "storage", "backlog")
#: Worker task states (the agent's) in which delivery is expected to work.
LIVE_STATES = ("starting", "running", "stopping")
_DOWN = {
    "failed": "the delivery worker crashed; it is restarted in a few seconds",
    "stopped": "the delivery worker has stopped",
}


class WorkerHealth:
    """What the delivery worker last saw of its storage: told after every claim and record.

    Called from the worker's event loop and read there too, so it needs no lock.
    """

    def __init__(self) -> None:
        self.last_success: float | None = None
        #: When the current run of failures began (None while claims succeed).
        self.failing_since: float | None = None
        self.failures = 0
        self.operation: str | None = None
        self.last_error: str | None = None

    def succeeded(self, now: float) -> None:
        self.last_success = now
        self.failing_since = None
        self.failures = 0

    def failed(self, now: float, operation: str, error: str) -> None:
        """``operation`` is what failed (``claim``, ``record``), ``error`` the storage's words."""
        if self.failing_since is None:
            self.failing_since = now
        self.failures += 1
        self.operation = operation
        self.last_error = error


@dataclass(frozen=True)
class Check:
    """One check's verdict; ``details`` are extra JSON-ready facts for ``/health``."""

    ok: bool
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason, **self.details}


@dataclass(frozen=True)
class Probe:
    """The storage probe's answer: ``oldest_due`` when it worked, ``error`` when it did not."""

    at: float
    error: str | None = None
    oldest_due: float | None = None


@dataclass(frozen=True)
class HealthReport:
    ok: bool
    checks: dict[str, Check]

    @property
    def reasons(self) -> list[str]:
        return [f"{name}: {c.reason}" for name, c in self.checks.items() if not c.ok and c.reason]

    def as_dict(self) -> dict[str, dict[str, Any]]:
        return {name: check.as_dict() for name, check in self.checks.items()}


def worker_check(worker: WorkerHealth, *, state: str, now: float, failing_after: float) -> Check:
    """Failing once the worker task is down, or its storage calls failed for ``failing_after``."""
    details: dict[str, Any] = {"state": state, "failing_for": None, "last_error": None}
    if worker.failing_since is not None:
        failing_for = max(0.0, now - worker.failing_since)
        details.update(failing_for=round(failing_for, 3), last_error=worker.last_error)
        if failing_for >= failing_after:
            reason = (
                f"{worker.operation} failing for {format_duration(failing_for)}: "
                f"{worker.last_error}"
            )
            return Check(False, reason, details)
    if state not in LIVE_STATES:
        return Check(False, _DOWN.get(state, f"the delivery worker is {state}"), details)
    return Check(True, None, details)


def storage_check(probe: Probe | None) -> Check:
    if probe is None:
        return Check(True, None, {"checked": False})
    if probe.error is not None:
        return Check(False, f"the outbox database probe failed: {probe.error}", {"checked": True})
    return Check(True, None, {"checked": True})


def backlog_check(probe: Probe | None, *, now: float, threshold: float) -> Check:
    """Failing when the oldest row left unsent while due is older than ``threshold``."""
    details: dict[str, Any] = {"oldest_due_age": None, "threshold": threshold}
    if probe is None or probe.error is not None:  # unknown: the storage check speaks
        return Check(True, None, {**details, "known": False})
    if probe.oldest_due is None:
        return Check(True, None, {**details, "known": True})
    age = max(0.0, now - probe.oldest_due)
    details.update(oldest_due_age=round(age, 3), known=True)
    if age > threshold:
        reason = (
            f"the oldest event waiting to be sent was accepted {format_duration(age)} ago "
            f"(threshold {format_duration(threshold)})"
        )
        return Check(False, reason, details)
    return Check(True, None, details)


class HealthMonitor:
    """Computes the three checks; ``await report(worker_state=...)`` is ``/health``'s body.

    ``storage`` and ``destination`` are callables so the monitor follows what the worker uses
    (``destination`` is the worker's: rows held for another are not its backlog). ``kinds`` are
    the row kinds the worker sends (the agent's: Events API rows; a REST row waiting for the hub
    is not the agent's backlog).
    """

    def __init__(
        self,
        storage: Callable[[], OutboxStorage],
        worker: WorkerHealth,
        *,
        clock: Callable[[], float],
        destination: Callable[[], str | None] = lambda: None,
        kinds: Sequence[str] = EVENT_KINDS,
        worker_failing_after: float = DEFAULT_WORKER_FAILING_AFTER,
        oldest_due_threshold: float = DEFAULT_OLDEST_DUE_THRESHOLD,
        probe_timeout: float = DEFAULT_PROBE_TIMEOUT,
        probe_interval: float = DEFAULT_PROBE_INTERVAL,
        due_grace: float = DEFAULT_DUE_GRACE,
    ) -> None:
        self._storage = storage
        self.worker = worker
        self._clock = clock
        self._destination = destination
        self.kinds = tuple(kinds)
        self.worker_failing_after = worker_failing_after
        self.oldest_due_threshold = oldest_due_threshold
        self.probe_timeout = probe_timeout
        self.probe_interval = probe_interval
        self.due_grace = due_grace
        self._probe: Probe | None = None
        self._probed_at = 0.0  # time.monotonic() of the cached probe
        self._running: asyncio.Future[Probe] | None = None
        self._started = 0.0  # time.monotonic() when the running probe began

    async def report(self, *, worker_state: str) -> HealthReport:
        probe = await self.probe()
        now = self._clock()
        checks = {
            "worker": worker_check(
                self.worker, state=worker_state, now=now, failing_after=self.worker_failing_after
            ),
            "storage": storage_check(probe),
            "backlog": backlog_check(probe, now=now, threshold=self.oldest_due_threshold),
        }
        return HealthReport(all(c.ok for c in checks.values()), checks)

    async def probe(self) -> Probe:
        """The cached probe, or a fresh one; one runs at a time, however many ask."""
        if self._probe is not None and time.monotonic() - self._probed_at < self.probe_interval:
            return self._probe
        if self._running is None:
            self._started = time.monotonic()
            self._running = asyncio.ensure_future(asyncio.to_thread(self._query, self._clock()))
        running = self._running
        remaining = self.probe_timeout - (time.monotonic() - self._started)
        done, _ = await asyncio.wait({running}, timeout=max(0.0, remaining))
        if running in done:
            if self._running is running:
                self._running = None
                self._probe, self._probed_at = running.result(), time.monotonic()
            return running.result()
        # Still running: a hung database. Say so; later requests look at this query again
        # rather than start another one behind it.
        waited = time.monotonic() - self._started
        return Probe(self._clock(), error=f"no answer within {format_duration(waited)}")

    def _query(self, now: float) -> Probe:
        """In a worker thread: the backlog query doubles as the storage probe."""
        try:
            oldest = self._storage().oldest_due(
                now=now - self.due_grace, destination=self._destination(), kinds=self.kinds
            )
            return Probe(now, oldest_due=oldest)
        except Exception as exc:  # any failure of the probe is the finding, not a crash
            log.warning("health: the outbox storage probe failed: %s", exc)
            return Probe(now, error=str(exc) or type(exc).__name__)
