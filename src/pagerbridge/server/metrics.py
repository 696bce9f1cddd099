"""Prometheus metrics of the hub, on a registry of its own (several hubs may share a process).

Requests are counted by route template (``/api/v1/incidents/{ref}/ack``, never the raw path: a
label per incident would grow without bound), method and status, with their latency; the
incidents by status and the database's health are read at scrape time by the caller
(:mod:`pagerbridge.server.probes`, off the event loop) and exported from that snapshot.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from fastapi import APIRouter
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pagerbridge.connectors.metrics import Snapshot
from pagerbridge.connectors.webhook_intake import OUTCOMES
from pagerbridge.incidents.lifecycle import STATUSES

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: The route label of a request no route matched.
UNMATCHED = "unmatched"
#: Method labels; any other method is counted as "other" (labels must stay few).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


@dataclass(frozen=True)
class DatabaseState:
    """What the last look at the database found."""

    up: bool
    incidents: dict[str, int] = field(default_factory=dict)
    checked_at: float = 0.0


class _DatabaseCollector(Collector):
    """Gauges from the latest :class:`DatabaseState` (no I/O at collection)."""

    def __init__(self, current: Callable[[], DatabaseState | None]) -> None:
        self._current = current

    def describe(self) -> Iterator[Metric]:
        return self._families(None)

    def collect(self) -> Iterator[Metric]:
        return self._families(self._current())

    def _families(self, state: DatabaseState | None) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "pagerbridge_hub_database_up", "1 if the hub's database answered its last check."
        )
        incidents = GaugeMetricFamily(
            "pagerbridge_hub_incidents", "Incidents by status.", labels=["status"]
        )
        if state is not None:
            up.add_metric([], 1.0 if state.up else 0.0)
            if state.up:
                for status in STATUSES:
                    incidents.add_metric([status], state.incidents.get(status, 0))
        yield up
        yield incidents


class _ConnectorCollector(Collector):
    """The connectors' figures (issue 14 item 8) from the latest snapshot (no I/O at collection):
    the same as ``im metrics connector NAME``, labelled by connector."""

    def __init__(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot

    def describe(self) -> Iterator[Metric]:
        return self.collect()

    def collect(self) -> Iterator[Metric]:
        def gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(
                f"pagerbridge_connector_{name}", doc, labels=["connector", *extra]
            )

        incidents = gauge("incidents", "Local incidents linked to PagerDuty incidents.")
        syncs = gauge("syncs_24h", "Changes sent to PagerDuty in 24 h, by outcome.", ("outcome",))
        success = gauge("sync_success_ratio", "Share of changes sent without error in 24 h.")
        seconds = gauge("sync_seconds_average", "Average time from change to PagerDuty, 24 h.")
        calls = gauge("api_calls_24h", "PagerDuty REST API calls in 24 h.")
        usage = gauge(
            "rate_limit_usage_ratio", "Busiest minute of the last hour / the 960-a-minute budget."
        )
        events = gauge(
            "webhook_events_24h", "Webhook events received in 24 h, by state.", ("state",)
        )
        pending = gauge("pending", "Changes waiting to be sent to PagerDuty.")
        last_sync = gauge("last_sync_timestamp_seconds", "When a change last reached PagerDuty.")
        last_hook = gauge("last_webhook_timestamp_seconds", "When a verified webhook last arrived.")
        for m in self._snapshot.current:
            name = m.connector
            incidents.add_metric([name], m.total_incidents)
            syncs.add_metric([name, "synced"], m.synced_24h)
            syncs.add_metric([name, "error"], m.errors_24h)
            if m.sync_success_rate is not None:
                success.add_metric([name], m.sync_success_rate)
            if m.average_sync_seconds is not None:
                seconds.add_metric([name], m.average_sync_seconds)
            calls.add_metric([name], m.api_calls_24h)
            usage.add_metric([name], m.rate_limit_usage)
            for state, n in m.webhook_events_by_state.items():
                events.add_metric([name, state], n)
            pending.add_metric([name], m.pending)
            if m.last_sync_at is not None:
                last_sync.add_metric([name], m.last_sync_at)
            if m.last_webhook_at is not None:
                last_hook.add_metric([name], m.last_webhook_at)
        yield from (incidents, syncs, success, seconds, calls, usage, events, pending)
        yield from (last_sync, last_hook)
        deliveries = CounterMetricFamily(
            "pagerbridge_hub_webhook_deliveries",
            "Webhook deliveries this hub process answered, by outcome.",
            labels=["outcome"],
        )
        for outcome in dict.fromkeys((*OUTCOMES, *self._snapshot.deliveries)):
            deliveries.add_metric([outcome], self._snapshot.deliveries.get(outcome, 0))
        yield deliveries


class HubMetrics:
    """Every metric the hub exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "pagerbridge_hub_requests",
            "HTTP requests answered, by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "pagerbridge_hub_request_duration_seconds",
            "Time to answer a request, by route template.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._collector: _DatabaseCollector | None = None

    def watch_database(self, current: Callable[[], DatabaseState | None]) -> None:
        """Export the database gauges from ``current()`` (the probe's latest state)."""
        if self._collector is None:
            self._collector = _DatabaseCollector(current)
            self.registry.register(self._collector)

    def watch_connectors(self, snapshot: Snapshot) -> None:
        """Export the connectors' figures from ``snapshot`` (refreshed by ``/metrics``)."""
        self.registry.register(_ConnectorCollector(snapshot))

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class RouteTemplates:
    """Which route template a request was for, from the routes the hub declared.

    Built once from the routes and routers as declared (with their prefixes), so the label does
    not depend on how FastAPI wraps included routers. A request that was routed is looked up by
    its route object; one answered before routing (the body guard) by matching its path.
    """

    def __init__(
        self, routes: Iterable[BaseRoute], routers: Iterable[tuple[APIRouter, str]]
    ) -> None:
        self.by_id: dict[int, str] = {}
        self.patterns: list[tuple[re.Pattern[str], str]] = []
        for route in routes:
            self._add(route, "")
        for router, prefix in routers:
            for route in router.routes:
                self._add(route, prefix)

    def _add(self, route: BaseRoute, prefix: str) -> None:
        path = getattr(route, "path", None)
        if isinstance(path, str):
            template = prefix + path
            self.by_id[id(route)] = template
            self.patterns.append((compile_path(template)[0], template))

    def label(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None and id(route) in self.by_id:
            return self.by_id[id(route)]
        path = scope.get("path", "")
        for pattern, template in self.patterns:
            if pattern.match(path):
                return template
        return UNMATCHED


class RequestMetrics:
    """ASGI middleware: counts every HTTP answer (including those of middleware inside it and
    the 500 of an unexpected exception) with its route template and latency."""

    def __init__(self, app: ASGIApp, *, metrics: HubMetrics, templates: RouteTemplates) -> None:
        self.app = app
        self.metrics = metrics
        self.templates = templates

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.metrics.observe(
                self.templates.label(scope),
                scope["method"],
                status,
                time.perf_counter() - started,
            )
