"""One agent, assembled from its configuration: outbox, HTTP app, delivery worker, self-monitor.

The CLI (``pagerbridge agent``) and ``pagerbridge up`` build an :class:`Agent` and hand its app
and background tasks to :mod:`pagerbridge.agent.serving`. Nothing here reads files or the
environment: the configuration arrives as an object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from pagerbridge.agent.app import AgentApp, create_agent_app
from pagerbridge.agent.auth import TokenPolicy
from pagerbridge.agent.clock import ClockDrift
from pagerbridge.agent.config import AgentConfig
from pagerbridge.agent.forward import ForwardSender
from pagerbridge.agent.intake import Intake
from pagerbridge.agent.maintenance import MaintenanceSchedule
from pagerbridge.agent.metrics import AgentMetrics
from pagerbridge.agent.selfmonitor import SelfMonitor
from pagerbridge.agent.sources.manager import SourceManager
from pagerbridge.agent.sources.metrics import SourceMetrics
from pagerbridge.agent.sources.sink import AgentSink
from pagerbridge.outbox import DeliveryWorker, Outbox, RateLimit, RetryPolicy, open_outbox
from pagerbridge.outbox.health import DEFAULT_OLDEST_DUE_THRESHOLD, HealthMonitor, WorkerHealth
from pagerbridge.outbox.worker import Sender
from pagerbridge.pagerduty.event_rules import events_base
from pagerbridge.pagerduty.events import EventsClient
from pagerbridge.pagerduty.limits import EVENTS_REGIONS
from pagerbridge.pagerduty.outcome import Outcome

log = logging.getLogger("pagerbridge.agent")

#: Seconds before a crashed delivery worker is started again.
WORKER_RESTART_DELAY = 5.0


@dataclass(frozen=True)
class Target:
    """Where the worker delivers: PagerDuty (a region or URL), another agent, or the sandbox."""

    kind: str  # "pagerduty", "forward" or "sandbox"
    url: str

    @property
    def destination(self) -> str | None:
        """The Events API base stamped on this agent's rows; a forwarder has none of its own
        (the hub's agent stamps what arrives without one)."""
        return None if self.kind == "forward" else events_base(self.url)


def resolve_target(config: AgentConfig, *, sandbox_url: str | None = None) -> Target:
    """Forward URL, else ``pagerduty.events_url``, else the region (US by default)."""
    if config.forward is not None:
        return Target("forward", config.forward.url)
    if config.pagerduty.events_url:
        return Target("pagerduty", config.pagerduty.events_url)
    if config.pagerduty.region is None and sandbox_url is not None:
        return Target("sandbox", sandbox_url)
    return Target("pagerduty", EVENTS_REGIONS[config.pagerduty.region or "us"])


def _oldest_due_threshold(config: AgentConfig) -> float:
    """``health.oldest_due_threshold``, else the self-monitor's backlog threshold, else 15 min."""
    if config.health.oldest_due_threshold is not None:
        return config.health.oldest_due_threshold.total_seconds()
    if config.self_monitoring is not None:
        return config.self_monitoring.oldest_pending_threshold.total_seconds()
    return DEFAULT_OLDEST_DUE_THRESHOLD


class Agent:
    """The agent's parts over one database; ``run_background`` delivers until told to stop."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        database_url: str,
        target: Target,
        clock: Callable[[], float] = time.time,
        sender: Sender | None = None,
    ) -> None:
        self.config = config
        self.target = target
        self.clock = clock
        self.outbox: Outbox = open_outbox(
            database_url,
            max_queue=config.delivery.max_queue_size,
            clock=clock,
            destination=target.destination,
        )
        # pd-send and other producers on this database stamp their rows with it.
        self.outbox.record_destination(target.destination)
        self.metrics = AgentMetrics()
        self.metrics.watch_queue(self.outbox.stats, clock)
        self.intake = Intake(
            self.outbox.enqueue_row_async,
            schedule=MaintenanceSchedule(config.maintenance),
            metrics=self.metrics,
            clock=clock,
            destination=target.destination,
        )
        # Event sources (agent/sources): started by sources_running(), reloaded on SIGHUP.
        self.sources = SourceManager(
            config.sources,
            AgentSink(
                self.outbox.enqueue_row_async,
                metrics=SourceMetrics(self.metrics.registry),
                clock=clock,
                destination=target.destination,
            ),
        )
        self._forwarder: ForwardSender | None = None
        if sender is None and target.kind == "forward":
            assert config.forward is not None
            self._forwarder = ForwardSender(
                target.url,
                config.forward.token,
                proxy=config.pagerduty.proxy,
                timeout=config.pagerduty.timeout,
            )
            sender = self._forwarder
        # Clock drift: PagerDuty's answers carry Date; the agent's own Events API client reads it.
        self.clock_drift = ClockDrift(clock=clock, on_change=self.metrics.clock_drift.set)
        self._events: EventsClient | None = None
        if sender is None:
            self._events = EventsClient(
                target.url,
                proxy=config.pagerduty.proxy,
                timeout=config.pagerduty.timeout,
                on_answer=self.clock_drift.observe,
            )
            sender = self._send_event
        delivery = config.delivery
        self.worker_health = WorkerHealth()
        self.worker = DeliveryWorker(
            self.outbox,
            events_url=None if sender is not None else target.url,
            sender=sender,
            clock=clock,
            policy=RetryPolicy(
                deadline=delivery.deadline.total_seconds(),
                base=delivery.retry_initial.total_seconds(),
                cap=delivery.retry_max.total_seconds(),
            ),
            rate_limit=RateLimit(per_minute=delivery.rate_limit_per_minute or None),
            concurrency=delivery.workers,
            lease_seconds=delivery.lease.total_seconds(),
            retention=delivery.retention.total_seconds(),
            metrics=self.metrics,
            health=self.worker_health,
            proxy=config.pagerduty.proxy,
            timeout=config.pagerduty.timeout,
            destination=target.destination,
        )
        self.health_monitor = HealthMonitor(
            lambda: self.outbox.storage,
            self.worker_health,
            clock=clock,
            destination=lambda: self.worker.destination,
            worker_failing_after=config.health.worker_failing_after.total_seconds(),
            oldest_due_threshold=_oldest_due_threshold(config),
            probe_timeout=config.health.probe_timeout.total_seconds(),
        )
        self.monitor: SelfMonitor | None = None
        if config.self_monitoring is not None:
            self.monitor = SelfMonitor(
                config.self_monitoring,
                stats=self.outbox.stats,
                enqueue=self.outbox.enqueue_event_async,
                clock=clock,
            )
        self.worker_state = "starting"
        self._reloads: set[asyncio.Future[bool]] = set()
        self.app: AgentApp = create_agent_app(
            self.intake,
            metrics=self.metrics,
            policy=TokenPolicy(config.token, loopback_exempt=config.loopback_exempt),
            health=self.health,
            sources=self.sources.get,
        )

    @property
    def tls_files(self) -> tuple[str, str] | None:
        """(certificate, key) to serve HTTPS with, if configured."""
        tls = self.config.tls
        return (str(tls.cert_file), str(tls.key_file)) if tls else None

    async def _send_event(self, body: bytes, change: bool, destination: str | None) -> Outcome:
        assert self._events is not None
        return await self._events.send_raw(body, change=change)

    async def health(self) -> dict[str, Any]:
        """``GET /health``: worker, storage and backlog checks (one cached query at most every
        2 s, off the event loop, so a load balancer may call it often)."""
        report = await self.health_monitor.report(worker_state=self.worker_state)
        self.metrics.record_health(report)
        clock = self.clock_drift.report()  # a warning, never unhealthy
        return {
            "ok": report.ok,
            "status": "ok" if report.ok else "degraded",
            "worker": self.worker_state,
            "reasons": report.reasons,
            "checks": report.as_dict(),
            "clock": clock,
            "warnings": [clock["warning"]] if "warning" in clock else [],
        }

    async def run_background(self, stop: asyncio.Event) -> None:
        """Deliver (and self-monitor) until ``stop``; a crashed worker is restarted, not fatal."""
        monitor = asyncio.create_task(self.monitor.run(stop)) if self.monitor else None
        try:
            while not stop.is_set():
                self.worker_state = "running"
                try:
                    await self.worker.run(stop)
                except Exception:
                    self.worker_state = "failed"
                    log.exception(
                        "the delivery worker failed; restarting in %ss", WORKER_RESTART_DELAY
                    )
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=WORKER_RESTART_DELAY)
            self.worker_state = "stopped"
        finally:
            if monitor is not None:
                await monitor
            if self._forwarder is not None:
                await self._forwarder.aclose()
            if self._events is not None:
                await self._events.aclose()

    async def aclose(self) -> None:
        """Finish the group commit in progress and close the database."""
        await self.outbox.aclose()

    # --- event sources (agent/sources) -------------------------------------------------------

    @contextlib.asynccontextmanager
    async def sources_running(
        self, reload: Callable[[], AgentConfig] | None = None
    ) -> AsyncIterator[None]:
        """Start the configured sources (their listeners are bound when this enters: a busy port
        fails here), reload them on SIGHUP with ``reload()``'s configuration, and stop them on
        exit, each finishing the messages it already read (call before ``aclose``)."""
        await self.sources.start()
        loop = asyncio.get_running_loop()
        hooked = False
        if reload is not None:
            try:
                loop.add_signal_handler(signal.SIGHUP, self._on_sighup, reload)
                hooked = True
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                log.debug("SIGHUP cannot be handled here; sources reload only on restart")
        try:
            yield
        finally:
            if hooked:
                loop.remove_signal_handler(signal.SIGHUP)
            await self.sources.stop()

    def _on_sighup(self, reload: Callable[[], AgentConfig]) -> None:
        log.info("SIGHUP: reloading the event sources")
        task = asyncio.ensure_future(self.reload_sources(reload))
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    async def reload_sources(self, reload: Callable[[], AgentConfig]) -> bool:
        """Re-read the configuration and apply its ``sources:``; a broken file changes nothing
        (logged). Other sections need a restart."""
        from pagerbridge.errors import PagerbridgeError

        try:
            config = reload()
            await self.sources.reload(config.sources)
        except PagerbridgeError as exc:
            log.error("reload refused, the sources keep their settings: %s", exc)
            return False
        except Exception:
            log.exception("reload failed; the sources keep their settings")
            return False
        log.info("event sources reloaded: %s", ", ".join(self.sources.names) or "none")
        return True
