"""Intake with an injected clock: maintenance windows decide by the time of acceptance, and
the stored event carries that time; answers follow PagerDuty's shapes."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pagerbridge.agent.config import MaintenanceWindowSettings
from pagerbridge.agent.intake import Intake, Verdict
from pagerbridge.agent.maintenance import MaintenanceSchedule
from pagerbridge.outbox import PENDING, SUPPRESSED, open_outbox

KEY = "0123456789abcdef0123456789abcdef"
WINDOW = MaintenanceWindowSettings.model_validate(
    {"name": "cutover", "start": "2026-11-23T02:00:00Z", "end": "2026-11-23T03:00:00Z"}
)


def body(dedup: str) -> bytes:
    return json.dumps(
        {
            "routing_key": KEY,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {"summary": "s", "source": "db-1", "severity": "error"},
        }
    ).encode()


async def test_window_and_timestamp_follow_the_injected_clock(sqlite_url: str) -> None:
    now = [datetime(2026, 11, 23, 1, 59, 59, tzinfo=UTC).timestamp()]
    outbox = open_outbox(sqlite_url, clock=lambda: now[0])
    try:
        intake = Intake(
            outbox.enqueue_row_async,
            schedule=MaintenanceSchedule([WINDOW]),
            clock=lambda: now[0],
        )
        before = await intake.accept(body("before"))
        now[0] += 1  # 02:00:00, inside the window
        during = await intake.accept(body("during"))
        now[0] += 3600  # 03:00:00, the window's end is exclusive
        after = await intake.accept(body("after"))
        assert [v.status for v in (before, during, after)] == [202, 202, 202]
        rows = {r.dedup_key: r for r in outbox.list_rows()}
        assert rows["before"].state == PENDING
        assert rows["during"].state == SUPPRESSED
        assert rows["after"].state == PENDING
        stamp = rows["during"].payload_json()["payload"]["timestamp"]
        assert stamp.startswith("2026-11-23T02:00:00")
    finally:
        await outbox.aclose()


def test_success_body_encoding_is_pagerdutys() -> None:
    verdict = Verdict(
        202, {"status": "success", "message": "Event processed", "dedup_key": 'a"b\u221a'}
    )
    assert json.loads(verdict.encode()) == verdict.body
    error = Verdict(400, {"status": "invalid event", "message": "m", "errors": ["e"]})
    assert json.loads(error.encode()) == error.body
