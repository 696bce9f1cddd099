"""Prometheus metrics of one agent, on a registry of its own (several agents may share a process).

Queue depth is read from the outbox at scrape time (cached briefly, so a busy Prometheus cannot
turn into a database load); counters and the latency histogram are fed by the intake and by the
delivery worker's observer hooks. No label carries a routing key: keys are secrets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pagerbridge.outbox.health import CHECKS, HealthReport
from pagerbridge.outbox.types import STATES, Stats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
STATS_CACHE_SECONDS = 2.0
LATENCY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 86400)


class _QueueCollector(Collector):
    """Gauges computed from ``Outbox.stats()`` when Prometheus scrapes."""

    def __init__(self, stats: Callable[[], Stats], clock: Callable[[], float]) -> None:
        self._stats = stats
        self._clock = clock
        self._cached: tuple[float, Stats] | None = None

    def _current(self) -> Stats | None:
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > STATS_CACHE_SECONDS:
            try:
                self._cached = (now, self._stats())
            except Exception:  # a scrape must not fail because the database is busy
                return self._cached[1] if self._cached else None
        return self._cached[1]

    def describe(self) -> Iterator[Metric]:
        # Registration asks for the names; answering without a query keeps start-up cheap.
        return self._families(None)

    def collect(self) -> Iterator[Metric]:
        return self._families(self._current())

    def _families(self, stats: Stats | None) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "pagerbridge_outbox_rows", "Rows in the outbox by state.", labels=["state"]
        )
        age = GaugeMetricFamily(
            "pagerbridge_outbox_oldest_pending_age_seconds",
            "Age of the oldest pending event (0 when none is pending).",
        )
        folded = GaugeMetricFamily(
            "pagerbridge_outbox_folded_events",
            "Triggers folded into a pending trigger of the same alert (rows still stored; "
            "drops when delivered rows are purged).",
        )
        if stats is not None:
            for state in STATES:
                depth.add_metric([state], stats.by_state.get(state, 0))
            age.add_metric([], stats.oldest_pending_age(self._clock()) or 0.0)
            folded.add_metric([], stats.folds)
        yield depth
        yield age
        yield folded


def reason_label(reason: str) -> str:
    """A bounded label for a retry reason: the status code or the kind of transport failure."""
    lowered = reason.lower()
    if "429" in lowered:
        return "429"
    if "timeout" in lowered or "timed out" in lowered:
        return "timeout"
    if "connect" in lowered or "reach" in lowered or "disconnect" in lowered:
        return "connection"
    for token in lowered.replace(":", " ").split():
        if len(token) == 3 and token.isdigit() and token[0] in "45":
            return token
    return "other"


class AgentMetrics:
    """Every metric the agent exports; methods are the hooks intake and worker call."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.accepted = Counter(
            "pagerbridge_events_accepted", "Events stored durably.", ["kind"], registry=r
        )
        self.suppressed = Counter(
            "pagerbridge_events_suppressed",
            "Events stored as suppressed by a maintenance window.",
            registry=r,
        )
        self.refused = Counter(
            "pagerbridge_events_refused",
            "Requests refused at intake.",
            ["reason"],
            registry=r,
        )
        self.deliveries = Counter(
            "pagerbridge_deliveries", "Delivery attempts by outcome.", ["outcome"], registry=r
        )
        self.retries = Counter(
            "pagerbridge_delivery_retries",
            "Attempts that will be retried, by reason (status code, timeout, connection).",
            ["reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "pagerbridge_dead_letters", "Rows moved to the dead letters.", registry=r
        )
        self.latency = Histogram(
            "pagerbridge_delivery_latency_seconds",
            "Time from acceptance to successful delivery.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rate_limit_waits = Counter(
            "pagerbridge_rate_limit_waits",
            "Times a row waited for the client-side rate limit.",
            registry=r,
        )
        self.rate_limit_wait_seconds = Counter(
            "pagerbridge_rate_limit_wait_seconds",
            "Total seconds rows were deferred by the client-side rate limit.",
            registry=r,
        )
        self.health_ok = Gauge(
            "pagerbridge_agent_health_ok",
            "1 when the health check passes, 0 when it fails (as GET /health last judged).",
            ["check"],
            registry=r,
        )
        for check in CHECKS:
            self.health_ok.labels(check).set(1)
        self.oldest_due_age = Gauge(
            "pagerbridge_outbox_oldest_due_age_seconds",
            "Age of the oldest event due for 10 s and still unsent (0 when none; see /health).",
            registry=r,
        )
        self.clock_drift = Gauge(
            "pagerbridge_agent_clock_drift_seconds",
            "This clock minus the Date of PagerDuty's latest answer (warning beyond 60 s).",
            registry=r,
        )
        self._collector: _QueueCollector | None = None

    def watch_queue(self, stats: Callable[[], Stats], clock: Callable[[], float]) -> None:
        """Export queue depth read through ``stats`` (the outbox's ``stats`` method)."""
        if self._collector is None:
            self._collector = _QueueCollector(stats, clock)
            self.registry.register(self._collector)

    def record_health(self, report: HealthReport) -> None:
        """Mirror a health report (``/health`` and ``/metrics`` say the same thing)."""
        for name, check in report.checks.items():
            self.health_ok.labels(name).set(1 if check.ok else 0)
        backlog = report.checks.get("backlog")
        age = backlog.details.get("oldest_due_age") if backlog is not None else None
        self.oldest_due_age.set(age if isinstance(age, int | float) else 0.0)

    # The outbox worker's MetricsHooks (pagerbridge.outbox.metrics) ---------------------------

    def delivered(self, routing_key: str, latency: float) -> None:
        self.deliveries.labels("delivered").inc()
        if latency >= 0:
            self.latency.observe(latency)

    def retried(self, routing_key: str, reason: str) -> None:
        self.deliveries.labels("retry").inc()
        self.retries.labels(reason_label(reason)).inc()

    def dead(self, routing_key: str, reason: str) -> None:
        self.deliveries.labels("dead").inc()
        self.dead_letters.inc()

    def rate_limited(self, routing_key: str, wait: float) -> None:
        self.rate_limit_waits.inc()
        self.rate_limit_wait_seconds.inc(max(0.0, wait))

    def render(self) -> bytes:
        return generate_latest(self.registry)
