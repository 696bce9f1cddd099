"""Metrics hooks: the worker reports through this small interface; the agent maps it to
prometheus-client objects for ``/metrics`` (:class:`PrometheusMetrics`), tests count calls."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry


class MetricsHooks(Protocol):
    """Called by :class:`~pagerbridge.outbox.worker.DeliveryWorker` as rows move."""

    def delivered(self, routing_key: str, latency: float) -> None:
        """A row was accepted by PagerDuty; ``latency`` = seconds since it was accepted here."""

    def retried(self, routing_key: str, reason: str) -> None:
        """A try failed with a retryable outcome (429, 5xx, timeout, connection error)."""

    def dead(self, routing_key: str, reason: str) -> None:
        """A row was dead-lettered (rejected, or its deadline passed)."""

    def rate_limited(self, routing_key: str, wait: float) -> None:
        """The client-side rate limit deferred a row by ``wait`` seconds."""


class NullMetrics:
    """Hooks that do nothing (the default)."""

    def delivered(self, routing_key: str, latency: float) -> None:
        pass

    def retried(self, routing_key: str, reason: str) -> None:
        pass

    def dead(self, routing_key: str, reason: str) -> None:
        pass

    def rate_limited(self, routing_key: str, wait: float) -> None:
        pass


class PrometheusMetrics:
    """prometheus-client counters and a latency histogram (labels carry no routing keys: they
    are secrets, and unbounded)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, prefix: str = "pagerbridge_outbox"
    ) -> None:
        from prometheus_client import REGISTRY, Counter, Histogram

        reg: Any = registry if registry is not None else REGISTRY
        self.deliveries = Counter(f"{prefix}_delivered", "Rows delivered", registry=reg)
        self.retries = Counter(f"{prefix}_retries", "Retryable failures", ["reason"], registry=reg)
        self.dead_letters = Counter(f"{prefix}_dead", "Rows dead-lettered", registry=reg)
        self.rate_limit_waits = Counter(
            f"{prefix}_rate_limit_waits",
            "Rows deferred by the client-side rate limit",
            registry=reg,
        )
        self.latency = Histogram(
            f"{prefix}_delivery_latency_seconds",
            "Seconds from acceptance to delivery",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 300, 1800, 3600, 86400),
            registry=reg,
        )

    def delivered(self, routing_key: str, latency: float) -> None:
        self.deliveries.inc()
        self.latency.observe(latency)

    def retried(self, routing_key: str, reason: str) -> None:
        self.retries.labels(reason=_reason_label(reason)).inc()

    def dead(self, routing_key: str, reason: str) -> None:
        self.dead_letters.inc()

    def rate_limited(self, routing_key: str, wait: float) -> None:
        self.rate_limit_waits.inc()


def _reason_label(reason: str) -> str:
    """A bounded label: the status class or the kind of transport failure."""
    import re

    status = re.search(r"\bHTTP (\d{3})\b", reason)
    if status:
        return status.group(1)
    for word in ("timeout", "connection"):
        if word in reason.lower():
            return word
    return "other"
