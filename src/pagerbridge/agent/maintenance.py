"""Maintenance windows: time ranges and matchers; a matching event is stored as suppressed.

Suppression happens at intake, not delivery: the decision uses the time the event was accepted
(the injected clock), so an event accepted during a window stays suppressed even if it is
delivered later, and one accepted after the window is sent. Matchers AND together; the values of
one matcher OR together; an empty matcher matches anything. Sources are shell-style globs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from fnmatch import fnmatchcase
from typing import Any
from zoneinfo import ZoneInfo

from pagerbridge.agent.config import MaintenanceWindowSettings

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def event_action(event: Mapping[str, Any], *, change: bool) -> str:
    """The action a window's ``actions`` list is compared with (``change`` for change events)."""
    return "change" if change else str(event.get("event_action", ""))


@dataclass(frozen=True)
class MaintenanceWindow:
    """One configured window, ready to answer "does it cover this event at this moment?"."""

    settings: MaintenanceWindowSettings

    @property
    def name(self) -> str:
        return self.settings.name

    def active_at(self, now: datetime) -> bool:
        s = self.settings
        if s.start is not None and s.end is not None:
            return s.start <= now < s.end
        assert s.from_ is not None and s.to is not None
        local = now.astimezone(ZoneInfo(s.timezone))
        days: Sequence[str] = s.days or _DAYS
        today = _DAYS[local.weekday()]
        yesterday = _DAYS[(local.weekday() - 1) % 7]
        clock = local.time().replace(tzinfo=None)
        if s.from_ < s.to:
            return today in days and s.from_ <= clock < s.to
        if s.from_ == s.to:  # a whole day
            return today in days
        # Crosses midnight (e.g. 22:00 → 04:00): the evening belongs to the day it started.
        return (today in days and clock >= s.from_) or (yesterday in days and clock < s.to)

    def matches(self, event: Mapping[str, Any], *, change: bool = False) -> bool:
        s = self.settings
        if event_action(event, change=change) not in s.actions:
            return False
        m = s.match
        if m.routing_key and event.get("routing_key") not in m.routing_key:
            return False
        payload = event.get("payload")
        payload = payload if isinstance(payload, Mapping) else {}
        if m.source:
            source = payload.get("source")
            if not isinstance(source, str) or not any(fnmatchcase(source, p) for p in m.source):
                return False
        return not (m.severity and payload.get("severity") not in m.severity)

    def covers(self, event: Mapping[str, Any], now: datetime, *, change: bool = False) -> bool:
        return self.active_at(now) and self.matches(event, change=change)


class MaintenanceSchedule:
    """All windows of a configuration; :meth:`suppressing` names the first window that applies."""

    def __init__(self, windows: Sequence[MaintenanceWindowSettings]) -> None:
        self.windows = [MaintenanceWindow(w) for w in windows]

    def __bool__(self) -> bool:
        return bool(self.windows)

    def suppressing(
        self, event: Mapping[str, Any], now: datetime, *, change: bool = False
    ) -> str | None:
        """The name of the window that suppresses ``event`` at ``now``, or None to send it."""
        for window in self.windows:
            if window.covers(event, now, change=change):
                return window.name
        return None


def parse_clock(text: str) -> time:
    """``HH:MM`` → time (helper for tests and docs examples)."""
    return time.fromisoformat(text)
