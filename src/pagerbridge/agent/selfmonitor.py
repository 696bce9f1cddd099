"""Self-monitoring: the agent pages about itself through its own outbox.

Two conditions, each one PagerDuty alert with a stable dedup key per host: dead letters exist, or
the oldest pending event is older than a threshold. An alert is triggered when its condition
holds (again when the dead-letter count grows, which PagerDuty folds into the same alert) and
resolved when it clears. After a restart the agent does not know what it raised before, so a
clear condition sends one resolve (a resolve for an alert that is not open is dropped by
PagerDuty, harmless).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from pagerbridge.agent.config import SelfMonitoringSettings
from pagerbridge.outbox.types import DEAD, Stats
from pagerbridge.pagerduty.durations import format_duration

log = logging.getLogger("pagerbridge.agent")

#: Enqueues an event (``Outbox.enqueue_event_async``); errors are logged, never fatal.
EnqueueEvent = Callable[[dict[str, Any]], Awaitable[object]]

_UNKNOWN = object()


class SelfMonitor:
    """Checks the outbox's statistics and enqueues trigger/resolve events about the agent."""

    def __init__(
        self,
        settings: SelfMonitoringSettings,
        *,
        stats: Callable[[], Stats],
        enqueue: EnqueueEvent,
        clock: Callable[[], float],
        source: str | None = None,
    ) -> None:
        self.settings = settings
        self._stats = stats
        self._enqueue = enqueue
        self._clock = clock
        self.source = settings.source or source or socket.gethostname()
        # Last state sent per alert: _UNKNOWN (after start), None (resolved) or a trigger detail.
        self._sent: dict[str, object] = {"dead-letters": _UNKNOWN, "backlog": _UNKNOWN}

    def dedup_key(self, alert: str) -> str:
        return f"pagerbridge-agent/{self.source}/{alert}"

    async def check(self) -> list[str]:
        """One look at the queue; returns what was sent (``trigger:dead-letters`` …)."""
        stats = await asyncio.to_thread(self._stats)
        sent: list[str] = []
        dead = stats.by_state.get(DEAD, 0)
        dead_summary = (
            f"pagerbridge agent on {self.source}: {dead} event(s) could not be delivered "
            "(dead letters; see `pd-queue list --state dead`)"
        )
        if await self._set("dead-letters", dead_summary if dead else None, "error", dead=dead):
            sent.append(("trigger:" if dead else "resolve:") + "dead-letters")
        age = stats.oldest_pending_age(self._clock())
        limit = self.settings.oldest_pending_threshold.total_seconds()
        stale = age is not None and age > limit
        backlog_summary = (
            f"pagerbridge agent on {self.source}: oldest pending event is "
            f"{format_duration(int(age or 0))} old (threshold {format_duration(limit)}); "
            "PagerDuty may be unreachable"
        )
        if await self._set(
            "backlog", backlog_summary if stale else None, "warning", age=int(age or 0)
        ):
            sent.append(("trigger:" if stale else "resolve:") + "backlog")
        return sent

    async def _set(self, alert: str, summary: str | None, severity: str, **details: Any) -> bool:
        previous = self._sent[alert]
        if summary is None and previous is None:
            return False
        if summary is not None and previous == summary:
            return False
        event: dict[str, Any] = {
            "routing_key": self.settings.routing_key,
            "dedup_key": self.dedup_key(alert),
            "event_action": "trigger" if summary else "resolve",
        }
        if summary:
            event["payload"] = {
                "summary": summary,
                "source": self.source,
                "severity": severity,
                "component": "pagerbridge-agent",
                "custom_details": details,
            }
        try:
            await self._enqueue(event)
        except Exception as exc:  # the queue itself may be full or broken; try next time
            log.warning("self-monitoring could not enqueue its %s alert: %s", alert, exc)
            return False
        self._sent[alert] = summary
        log.warning("self-monitoring: %s %s", event["event_action"], summary or alert)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        interval = self.settings.interval.total_seconds()
        while not stop.is_set():
            try:
                await self.check()
            except Exception:
                log.exception("self-monitoring check failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
