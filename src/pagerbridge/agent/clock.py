"""Clock drift: the agent's clock against the ``Date`` of PagerDuty's answers.

PagerDuty rejects requests whose timestamps are too far from its own time (a 403 "expired or
invalid timestamp", in PagerDuty's agent guide), and an event's ``payload.timestamp`` filled from a
wrong clock misleads responders. Every Events API answer carries a ``Date`` header, so the
delivery worker's client hands each answer's headers to :meth:`ClockDrift.observe` and the agent
compares. Beyond :data:`DRIFT_WARNING_SECONDS` it warns: a log line (at most one per
:data:`LOG_INTERVAL_SECONDS`), the ``pagerbridge_agent_clock_drift_seconds`` gauge, and a
``/health`` detail that is a warning, never a failure (a wrong clock still delivers).

``Date`` has a resolution of one second and is stamped before the answer travels back, so a
measurement is good to about a second plus the round trip: plenty against a 60 s threshold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

log = logging.getLogger("pagerbridge.agent.clock")

#: Drift beyond this (either way) is worth an operator's attention.
DRIFT_WARNING_SECONDS = 60.0
#: The warning is logged at most this often while the drift lasts.
LOG_INTERVAL_SECONDS = 600.0


def parse_http_date(value: str | None) -> float | None:
    """Seconds since the epoch from an HTTP ``Date`` (RFC 9110 IMF-fixdate), None if unusable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if moment.tzinfo is None:  # "-0000": UTC by RFC 5322's convention
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


class ClockDrift:
    """The latest measured drift (positive: this machine's clock is ahead of PagerDuty's).

    ``clock`` is the agent's clock (seconds since the epoch; tests skew it); ``monotonic`` paces
    the log. ``observe`` never raises: it runs inside the HTTP client for every answer.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        threshold: float = DRIFT_WARNING_SECONDS,
        log_interval: float = LOG_INTERVAL_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        on_change: Callable[[float], None] | None = None,
    ) -> None:
        self._clock = clock
        self.threshold = threshold
        self._log_interval = log_interval
        self._monotonic = monotonic
        self._on_change = on_change
        #: Seconds this clock is ahead of the server's, at the latest answer (None: no answer yet).
        self.drift: float | None = None
        #: When (by this clock) the latest measurement was taken.
        self.measured_at: float | None = None
        self._last_log: float | None = None
        self._warned = False

    @property
    def drifting(self) -> bool:
        return self.drift is not None and abs(self.drift) > self.threshold

    def observe(self, headers: Mapping[str, str]) -> None:
        """Take one measurement from an answer's headers (a missing or bad ``Date`` is ignored)."""
        try:
            server = parse_http_date(headers.get("Date") or headers.get("date"))
            if server is None:
                return
            now = self._clock()
            self.record(now - server, now)
        except Exception:  # a clock check must never break a delivery
            log.debug("could not measure clock drift", exc_info=True)

    def record(self, drift: float, now: float) -> None:
        self.drift = round(drift, 3)
        self.measured_at = now
        if self._on_change is not None:
            self._on_change(self.drift)
        if self.drifting:
            tick = self._monotonic()
            if self._last_log is None or tick - self._last_log >= self._log_interval:
                self._last_log = tick
                self._warned = True
                log.warning(
                    "this machine's clock is %.0f s %s PagerDuty's (more than %.0f s): PagerDuty "
                    "may reject requests with expired timestamps and event times will be wrong; "
                    "check that chrony or ntpd is running",
                    abs(self.drift),
                    "ahead of" if self.drift > 0 else "behind",
                    self.threshold,
                )
        elif self._warned:
            self._warned = False
            self._last_log = None
            log.warning("this machine's clock is back within %.0f s of PagerDuty's", self.threshold)

    def report(self) -> dict[str, Any]:
        """The ``clock`` detail of ``/health``."""
        measured = (
            datetime.fromtimestamp(self.measured_at, UTC).isoformat().replace("+00:00", "Z")
            if self.measured_at is not None
            else None
        )
        detail: dict[str, Any] = {
            "ok": not self.drifting,
            "drift_seconds": self.drift,
            "threshold_seconds": self.threshold,
            "measured_at": measured,
        }
        if self.drifting:
            assert self.drift is not None
            detail["warning"] = (
                f"the clock is {abs(self.drift):.0f} s "
                f"{'ahead of' if self.drift > 0 else 'behind'} PagerDuty's "
                f"(threshold {self.threshold:.0f} s); check chrony or ntpd"
            )
        return detail
