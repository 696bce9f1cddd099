"""PagerDuty's answers are data: hostile log entries and incidents become a change or nothing,
never an exception that would stop a reconcile run (hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pagerbridge.connectors import reconcile_entries as entries

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
values = st.recursive(
    scalars | st.sampled_from(["2026-05-01T10:00:00Z", "0001-01-01T00:00:00-23:59", "PX1"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
ENTRY_KEYS = [
    "id",
    "type",
    "created_at",
    "incident",
    "service",
    "agent",
    "channel",
    "note",
    "assignees",
    "first_trigger_log_entry",
    "assignments",
    "title",
    "status",
]
hostile = st.dictionaries(st.sampled_from(ENTRY_KEYS), values)
types = st.sampled_from([*entries.BY_TYPE, "trigger_log_entry", "notify_log_entry"])


@settings(max_examples=60, deadline=None)
@given(entry=hostile, kind=types, incident=hostile)
def test_hostile_log_entries_are_passed_over_or_read(
    entry: dict[str, Any], kind: str, incident: dict[str, Any]
) -> None:
    for candidate in (entry, {**entry, "type": kind, "incident": {**incident, "id": "Q1"}}):
        change = entries.from_entry(candidate)
        if change is not None:
            assert entries.parse_at(change.at).tzinfo is not None
            event = entries.event_of(change)
            assert event["event_type"].startswith("incident.")


@settings(max_examples=60, deadline=None)
@given(incident=hostile)
def test_hostile_incidents_backfill_as_a_trigger_or_nothing(incident: dict[str, Any]) -> None:
    for candidate in (incident, {**incident, "id": "Q1", "status": "acknowledged"}):
        for change in entries.from_incident(candidate):
            assert entries.parse_at(change.at).tzinfo is not None
            assert entries.event_of(change)["data"] is not None


def test_times_are_normalised_to_utc_seconds() -> None:
    assert entries.normal_at("2026-05-01T12:00:00.750+02:00") == "2026-05-01T10:00:00Z"
    assert entries.normal_at("yesterday") is None
    assert entries.normal_at(1714557600) is None
