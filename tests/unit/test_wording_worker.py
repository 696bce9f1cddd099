"""What a row's ``last_error`` says: the HTTP status once, and the deadline in a person's unit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pagerbridge.outbox import DEAD, PENDING, Outbox, RetryPolicy
from pagerbridge.outbox.sqlite_backend import SqliteStorage
from pagerbridge.outbox.worker import DeliveryWorker, describe_rejection, describe_retry
from pagerbridge.pagerduty.outcome import Outcome, Rejected, Retry, classify

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
NOW = 1_800_000_000.0


ANSWERS = [
    (500, b"<html>Internal Server Error</html>"),
    (502, b"Bad Gateway"),
    (503, b""),
    (429, b'{"status":"throttle","message":"Requests throttled"}'),
    (400, b'{"status":"invalid event","message":"Event object is invalid","errors":["x"]}'),
    (400, b'{"errors":["only errors"]}'),
    (404, b"Not Found"),
    (301, b""),
    (413, b"too big"),
]


@pytest.mark.parametrize(("status", "body"), ANSWERS)
def test_no_recorded_text_repeats_its_status(status: int, body: bytes) -> None:
    outcome = classify(status, body, {"Location": "https://elsewhere"})
    text = describe_rejection(outcome) if isinstance(outcome, Rejected) else None
    if isinstance(outcome, Retry):
        text = describe_retry(outcome)
    assert text is not None
    assert text.count(f"HTTP {status}") == 1, text
    assert text.startswith(f"HTTP {status}"), text


def test_rejection_keeps_pagerdutys_message_and_every_error() -> None:
    text = describe_rejection(Rejected(400, "Event object is invalid", ["a", "b"]))
    assert text == "HTTP 400: Event object is invalid: a; b"
    assert describe_retry(Retry("no answer from x within 10 s")) == "no answer from x within 10 s"


async def test_the_deadline_message_says_what_happened_in_human_units(tmp_path: Path) -> None:
    """Dead-lettered once the next try would fall past the deadline, with the deadline in a
    person's unit (a 20 s deadline once read ``0.00555556 h``) and the last error once."""
    clock = [NOW]
    outbox = Outbox(SqliteStorage(tmp_path / "o.db"), clock=lambda: clock[0])
    row = outbox.enqueue_event(
        {
            "routing_key": RK,
            "event_action": "trigger",
            "payload": {"summary": "s", "source": "h", "severity": "info"},
        }
    )

    async def down(body: bytes, change: bool, *destination: str | None) -> Outcome:
        return Retry("HTTP 503: Service Unavailable", delay=15.0, status=503)

    worker = DeliveryWorker(
        outbox, sender=down, policy=RetryPolicy(deadline=20.0), clock=lambda: clock[0]
    )
    await asyncio.wait_for(worker.drain(timeout=5), 10)
    first = outbox.get(row.id)
    assert first is not None and first.state == PENDING
    assert first.last_error == "HTTP 503: Service Unavailable"
    clock[0] += 15.0  # due again; the next try would be at +30 s, past the 20 s deadline
    await asyncio.wait_for(worker.drain(timeout=5), 10)
    dead = outbox.get(row.id)
    assert dead is not None and dead.state == DEAD
    assert dead.last_error == (
        "gave up after 2 attempts: the next try would fall past the 20 s retry deadline; "
        "last: HTTP 503: Service Unavailable"
    )
    outbox.close()
