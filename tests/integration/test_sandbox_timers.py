"""Time passing in the sandbox, with an injected clock: escalation, ack timeout, auto-resolve."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox

START = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def timed() -> Iterator[tuple[SandboxHandle, Clock]]:
    clock = Clock()
    with running_sandbox(clock=clock) as sb:
        yield sb, clock


def incident(sb: SandboxHandle) -> dict[str, Any]:
    _, body = sb.rest("GET", "/incidents?date_range=all")
    found: dict[str, Any] = body["incidents"][0]
    return found


def assignees(sb: SandboxHandle) -> list[str]:
    return [a["assignee"]["id"] for a in incident(sb)["assignments"]]


def test_unacknowledged_incident_escalates_then_stops(timed: tuple[SandboxHandle, Clock]) -> None:
    sb, clock = timed
    sb.send_event("trigger", dedup_key="esc")
    assert assignees(sb) == ["PDEMOU1"]
    clock.move(minutes=29)
    assert assignees(sb) == ["PDEMOU1"]
    clock.move(minutes=2)  # level 1's 30 minutes are up: level 2 is PDEMOU2
    assert assignees(sb) == ["PDEMOU2"]
    clock.move(hours=5)  # no more rules and num_loops is 0: it stays
    assert assignees(sb) == ["PDEMOU2"]
    _, body = sb.rest("GET", f"/incidents/{incident(sb)['id']}/log_entries")
    escalations = [e for e in body["log_entries"] if e["type"] == "escalate_log_entry"]
    assert len(escalations) == 1 and escalations[0]["channel"]["type"] == "timeout"
    assert escalations[0]["created_at"] == "2030-01-07T09:31:00Z"


def test_acknowledged_incident_does_not_escalate(timed: tuple[SandboxHandle, Clock]) -> None:
    sb, clock = timed
    sb.send_event("trigger", dedup_key="ack")
    clock.move(minutes=10)
    sb.send_event("acknowledge", dedup_key="ack")
    clock.move(hours=3)
    assert incident(sb)["status"] == "acknowledged"
    assert assignees(sb) == ["PDEMOU1"]


def test_loops_back_to_the_first_rule(timed: tuple[SandboxHandle, Clock]) -> None:
    sb, clock = timed
    sb.runtime.state.escalation_policies["PDEMOEP"]["num_loops"] = 1
    sb.send_event("trigger", dedup_key="loop")
    clock.move(minutes=91)  # 30 min -> level 2, 60 min -> level 1 again, 90 min -> level 2
    assert assignees(sb) == ["PDEMOU2"]
    clock.move(hours=2)
    assert assignees(sb) == ["PDEMOU2"]  # one loop only
    _, body = sb.rest("GET", f"/incidents/{incident(sb)['id']}/log_entries")
    assert sum(e["type"] == "escalate_log_entry" for e in body["log_entries"]) == 3


def test_acknowledgement_timeout_and_auto_resolve(timed: tuple[SandboxHandle, Clock]) -> None:
    sb, clock = timed
    body = {"service": {"acknowledgement_timeout": 600, "auto_resolve_timeout": 3600}}
    assert sb.rest("PUT", "/services/PDEMO01", body)[0] == 200
    bad = {"service": {"auto_resolve_timeout": "soon"}}
    assert sb.rest("PUT", "/services/PDEMO01", bad)[0] == 400
    sb.send_event("trigger", dedup_key="t")
    sb.send_event("acknowledge", dedup_key="t")
    clock.move(minutes=11)
    assert incident(sb)["status"] == "triggered"  # nobody followed up: back to triggered
    clock.move(minutes=50)
    assert incident(sb)["status"] == "resolved"  # an hour after it was triggered
    assert sb.send_event("resolve", dedup_key="t")[1]["status"] == "success"
    assert sb.arrivals()[-1]["outcome"] == "dropped"  # the alert was resolved with it


def test_reopened_incident_starts_again_at_level_one(timed: tuple[SandboxHandle, Clock]) -> None:
    sb, clock = timed
    sb.send_event("trigger", dedup_key="re")
    clock.move(minutes=31)
    assert assignees(sb) == ["PDEMOU2"]
    iid = incident(sb)["id"]

    def put(status: str) -> None:
        body = {"incident": {"type": "incident_reference", "status": status}}
        assert sb.rest("PUT", f"/incidents/{iid}", body, from_email=sb.user_email)[0] == 200

    put("resolved")
    clock.move(hours=1)
    put("triggered")
    assert assignees(sb) == ["PDEMOU1"]
    clock.move(minutes=31)
    assert assignees(sb) == ["PDEMOU2"]
