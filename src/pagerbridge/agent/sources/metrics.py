"""Every source's counters, on the agent's Prometheus registry (``/metrics``).

Labels are the source instance's name and a bounded reason (:class:`~.base.Reason`, or the
kind of malformed input); never a routing key or a peer address.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class SourceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or CollectorRegistry()
        self.received = Counter(
            "pagerbridge_source_received", "Messages a source decoded.", ["source"], registry=r
        )
        self.stored = Counter(
            "pagerbridge_source_stored",
            "Messages stored durably as a new outbox row.",
            ["source"],
            registry=r,
        )
        self.folded = Counter(
            "pagerbridge_source_folded",
            "Messages stored durably by folding into a pending trigger of the same key.",
            ["source"],
            registry=r,
        )
        self.dropped = Counter(
            "pagerbridge_source_dropped",
            "Messages not stored on purpose (drop rule, no rule, template or invalid event).",
            ["source", "reason"],
            registry=r,
        )
        self.errors = Counter(
            "pagerbridge_source_errors",
            "Messages or connections lost to an error (queue full, storage, transport).",
            ["source", "reason"],
            registry=r,
        )
        self.malformed = Counter(
            "pagerbridge_source_malformed",
            "Inputs that could not be fully decoded (what could be was still submitted).",
            ["source"],
            registry=r,
        )
