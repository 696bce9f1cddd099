"""Maintenance windows: one-off and weekly ranges (time zones, midnight) times matchers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pagerbridge.agent.config import MaintenanceWindowSettings
from pagerbridge.agent.maintenance import MaintenanceSchedule, MaintenanceWindow

KEY = "a" * 32
OTHER = "b" * 32


def window(**kwargs: Any) -> MaintenanceWindow:
    return MaintenanceWindow(MaintenanceWindowSettings.model_validate(kwargs))


def event(
    source: str = "db-1", severity: str = "warning", key: str = KEY, action: str = "trigger"
) -> dict[str, Any]:
    return {
        "routing_key": key,
        "event_action": action,
        "payload": {"summary": "s", "source": source, "severity": severity},
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_one_off_window_is_half_open() -> None:
    w = window(start="2026-11-23T02:00:00Z", end="2026-11-23T04:00:00Z")
    assert not w.active_at(at("2026-11-23T01:59:59+00:00"))
    assert w.active_at(at("2026-11-23T02:00:00+00:00"))
    assert w.active_at(at("2026-11-23T03:00:00+01:00"))  # 02:00 UTC
    assert not w.active_at(at("2026-11-23T04:00:00+00:00"))


def test_weekly_window_in_a_time_zone_crossing_midnight() -> None:
    # Monday 22:00 → Tuesday 04:00, Berlin time (UTC+1 in November).
    w = window(days=["mon"], **{"from": "22:00"}, to="04:00", timezone="Europe/Berlin")
    assert not w.active_at(at("2026-11-23T20:59:00+00:00"))  # Mon 21:59 Berlin
    assert w.active_at(at("2026-11-23T21:00:00+00:00"))  # Mon 22:00 Berlin
    assert w.active_at(at("2026-11-24T02:59:00+00:00"))  # Tue 03:59 Berlin (Monday's night)
    assert not w.active_at(at("2026-11-24T03:00:00+00:00"))  # Tue 04:00 Berlin
    assert not w.active_at(at("2026-11-24T21:30:00+00:00"))  # Tue 22:30: Tuesday not listed
    assert not w.active_at(at("2026-11-23T02:00:00+00:00"))  # Mon 03:00: Sunday not listed


def test_weekly_window_same_day_and_every_day() -> None:
    w = window(**{"from": "09:00"}, to="10:00")  # no days: every day, UTC
    for day in range(23, 30):
        assert w.active_at(at(f"2026-11-{day}T09:30:00+00:00"))
        assert not w.active_at(at(f"2026-11-{day}T10:00:00+00:00"))
    whole_sunday = window(days=["sun"], **{"from": "00:00"}, to="00:00")
    assert whole_sunday.active_at(at("2026-11-29T13:00:00+00:00"))
    assert not whole_sunday.active_at(at("2026-11-28T13:00:00+00:00"))


def test_matchers_and_together_values_or_together() -> None:
    w = window(
        **{"from": "00:00"},
        to="00:00",
        match={"routing_key": KEY, "source": ["db-*", "cache"], "severity": ["warning", "info"]},
    )
    assert w.matches(event())
    assert w.matches(event(source="cache", severity="info"))
    assert not w.matches(event(source="web-1"))
    assert not w.matches(event(severity="critical"))
    assert not w.matches(event(key=OTHER))
    # Globs are case-sensitive and anchored.
    assert not w.matches(event(source="DB-1"))
    assert not w.matches(event(source="x-db-1"))


def test_actions_default_to_trigger_only() -> None:
    w = window(**{"from": "00:00"}, to="00:00")
    assert w.matches(event())
    # A resolve must still go out, or the alert opened before the window stays open forever.
    assert not w.matches(event(action="resolve"))
    assert not w.matches({"routing_key": KEY, "payload": {"summary": "x"}}, change=True)
    both = window(**{"from": "00:00"}, to="00:00", actions=["trigger", "change"])
    assert both.matches({"routing_key": KEY, "payload": {"source": "ci"}}, change=True)


def test_schedule_names_the_suppressing_window() -> None:
    schedule = MaintenanceSchedule(
        [
            MaintenanceWindowSettings.model_validate(
                {"name": "db", "from": "00:00", "to": "00:00", "match": {"source": "db-*"}}
            ),
            MaintenanceWindowSettings.model_validate(
                {"name": "cutover", "start": "2026-11-23T02:00:00Z", "end": "2026-11-23T03:00Z"}
            ),
        ]
    )
    assert schedule
    now = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert schedule.suppressing(event(), now) == "db"
    assert schedule.suppressing(event(source="web"), now) is None
    during = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)
    assert schedule.suppressing(event(source="web"), during) == "cutover"
    assert not MaintenanceSchedule([])
