"""Outgoing v3 webhooks over real loopback HTTP, to a receiver that fails on purpose."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.errors import SignatureError
from pagerbridge.pagerduty.webhooks import verify
from pagerbridge.sandbox.webhooks_data import note_data
from pagerbridge.sandbox.webhooks_out import WebhookDispatcher
from pagerbridge.sandbox.webhooks_policy import WebhookPolicy
from pagerbridge.sandbox.webhooks_testing import WebhookReceiver, sample_incident

SERVICE = {"service_id": "PDEMO01", "team_ids": ["PDEMOT1"]}
AGENT = {
    "id": "PDEMOU1",
    "type": "user_reference",
    "summary": "On-call Person",
    "self": "http://127.0.0.1:8090/users/PDEMOU1",
    "html_url": "http://127.0.0.1:8090/#/users/PDEMOU1",
}
ALL_EVENTS = [
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.annotated",
    "incident.priority_updated",
]


class FakeTime:
    """A monotonic clock that jumps forward when the dispatcher sleeps (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


def subscription(url: str, **overrides: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "id": "PSUB001",
        "type": "webhook_subscription",
        "active": True,
        "events": ALL_EVENTS,
        "filter": {"type": "service_reference", "id": "PDEMO01"},
        "delivery_method": {
            "type": "http_delivery_method",
            "url": url,
            "secret": "secret-new",
            "secrets": ["secret-old"],
            "custom_headers": [{"name": "X-Custom", "value": "hello"}],
            "temporarily_disabled": False,
        },
    }
    sub.update(overrides)
    return sub


FAST = WebhookPolicy(first_delay=10, max_delay=60, jitter=0, timeout=2.0)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as rx:
        yield rx


async def run(dispatcher: WebhookDispatcher, within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        await dispatcher.wait_idle()


async def test_deliveries_are_signed_ordered_and_shaped_like_the_examples(
    receiver: WebhookReceiver, contract_dir: Path
) -> None:
    examples = json.loads((contract_dir / "webhooks-v3-event-types-and-examples.json").read_text())
    sub = subscription(receiver.url)
    dispatcher = WebhookDispatcher(lambda: [sub], policy=FAST)
    await dispatcher.start()
    try:
        incident = sample_incident()
        dispatcher.publish("incident.triggered", incident, agent=None, **SERVICE)
        incident["status"] = "acknowledged"
        dispatcher.publish("incident.acknowledged", incident, agent=AGENT, **SERVICE)
        note = note_data(incident, note_id="N1", content="looking")
        dispatcher.publish("incident.annotated", note, agent=AGENT, **SERVICE)
        await run(dispatcher)
    finally:
        await dispatcher.stop()

    got = receiver.received
    assert [r.event["event_type"] for r in got] == [
        "incident.triggered",
        "incident.acknowledged",
        "incident.annotated",
    ]
    envelope_keys = set(examples["examples_by_section"]["Webhook Payload"]["event"])
    for request in got:
        verify(request.body, request.headers["X-PagerDuty-Signature"], "secret-new")
        verify(request.body, request.headers["X-PagerDuty-Signature"], "secret-old")
        with pytest.raises(SignatureError):
            verify(request.body, request.headers["X-PagerDuty-Signature"], "wrong")
        assert request.headers["X-PagerDuty-Signature"].count("v1=") == 2
        assert request.headers["User-Agent"] == "PagerDuty-Webhook/V3.0"
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["X-Webhook-Subscription"] == "PSUB001"
        assert request.headers["X-Custom"] == "hello"
        assert request.headers["X-Webhook-Id"]
        assert set(request.event) == envelope_keys
        assert request.event["resource_type"] == "incident"
        assert request.event["occurred_at"].endswith("Z")
    sections = examples["examples_by_section"]
    assert set(got[0].event["data"]) == set(sections["incident"])
    assert got[0].event["data"]["status"] == "triggered"  # a snapshot, not the live dict
    assert got[1].event["data"]["status"] == "acknowledged"
    assert got[1].event["agent"] == AGENT and got[0].event["agent"] is None
    assert set(got[2].event["data"]) == set(sections["incident_note"])
    assert len({r.headers["X-Webhook-Id"] for r in got}) == 3
    assert [d.status for d in dispatcher.deliveries()] == ["delivered"] * 3


async def test_retries_keep_the_order_per_incident_and_the_webhook_id() -> None:
    """500, 429 and a dropped connection for incident A: its events still arrive in order,
    each retry repeats the X-Webhook-Id, and incident B is not held up behind A."""
    script: dict[str, list[int | str]] = {"QA": [500, 429, "close"], "QB": []}

    def decide(body: bytes, headers: Any) -> int | str:
        incident_id = json.loads(body)["event"]["data"]["id"]
        answers = script[incident_id]
        return answers.pop(0) if answers else 200

    time = FakeTime()
    async with WebhookReceiver(decide=decide) as rx:
        sub = subscription(rx.url)
        dispatcher = WebhookDispatcher(
            lambda: [sub], policy=FAST, clock=time.clock, sleep=time.sleep
        )
        await dispatcher.start()
        try:
            a = sample_incident("QA")
            b = sample_incident("QB", number=2)
            for event_type in ("incident.triggered", "incident.acknowledged", "incident.resolved"):
                dispatcher.publish(event_type, a, agent=None, **SERVICE)
            dispatcher.publish("incident.triggered", b, agent=None, **SERVICE)
            await run(dispatcher)
        finally:
            await dispatcher.stop()

    received = rx.received
    a_ok = [r.event["event_type"] for r in received if r.answer == 200 and _id(r) == "QA"]
    assert a_ok == ["incident.triggered", "incident.acknowledged", "incident.resolved"]
    first_a = [r for r in received if _id(r) == "QA"][:4]
    assert [r.answer for r in first_a] == [500, 429, "close", 200]
    assert len({r.headers["X-Webhook-Id"] for r in first_a}) == 1  # the same webhook, retried
    b_index = next(i for i, r in enumerate(received) if _id(r) == "QB")
    assert b_index < 3, "incident B waited for incident A's retries"
    # 500 -> 10 s backoff; 429 honours Retry-After: 0; connection closed -> 3rd backoff (40 s).
    assert time.sleeps == [10.0, 0.0, 40.0]
    delivery = dispatcher.deliveries()[0]
    assert [a.status for a in delivery.attempts] == [500, 429, None, 200]
    assert delivery.attempts[2].outcome == "retry"


def _id(request: Any) -> str:
    return str(request.event["data"]["id"])


async def test_a_timeout_is_retried() -> None:
    async with WebhookReceiver(["hang", 200], hang_for=2.0) as rx:
        sub = subscription(rx.url)
        policy = WebhookPolicy(first_delay=0.01, jitter=0, timeout=0.3)
        dispatcher = WebhookDispatcher(lambda: [sub], policy=policy)
        await dispatcher.start()
        try:
            dispatcher.publish("incident.triggered", sample_incident(), agent=None, **SERVICE)
            await run(dispatcher)
        finally:
            await dispatcher.stop()
    delivery = dispatcher.deliveries()[0]
    assert delivery.status == "delivered"
    assert delivery.attempts[0].status is None
    assert "no response within 0.3s" in delivery.attempts[0].detail
    assert [r.headers["X-Webhook-Id"] for r in rx.received] == [delivery.webhook_id] * 2


async def test_three_drops_disable_the_subscription_and_drop_its_queue() -> None:
    async with WebhookReceiver([400, 404, 410]) as rx:
        sub = subscription(rx.url)
        dispatcher = WebhookDispatcher(lambda: [sub], policy=FAST)
        await dispatcher.start()
        try:
            incident = sample_incident()
            for event_type in ALL_EVENTS[:5]:
                dispatcher.publish(event_type, incident, agent=None, **SERVICE)
            await run(dispatcher)
            assert sub["active"] is False
            assert sub["delivery_method"]["temporarily_disabled"] is True
            assert dispatcher.submit("incident.resolved", incident, agent=None, **SERVICE) == []
            record = dispatcher.record()
            dispatcher.enable("PSUB001")
            assert sub["active"] is True
            again = dispatcher.submit("incident.resolved", incident, agent=None, **SERVICE)
            assert len(again) == 1
            await run(dispatcher)
        finally:
            await dispatcher.stop()
    assert [r.answer for r in rx.received] == [400, 404, 410, 200]
    assert [d["status"] for d in record] == ["dropped"] * 5
    assert [d["reason"] for d in record[3:]] == ["subscription disabled"] * 2
    assert [len(d["attempts"]) for d in record] == [1, 1, 1, 0, 0]
    assert record[0]["attempts"][0]["status"] == 400
    assert record[0]["attempts"][0]["time"].endswith("Z") and record[0]["created"].endswith("Z")
    assert "headers" not in record[0] and "X-Custom" not in json.dumps(record)
    assert again[0].status == "delivered"


async def test_a_success_resets_the_drop_count() -> None:
    async with WebhookReceiver([400, 400, 200, 400, 400]) as rx:
        sub = subscription(rx.url)
        dispatcher = WebhookDispatcher(lambda: [sub], policy=FAST)
        await dispatcher.start()
        try:
            for event_type in ALL_EVENTS[:5]:
                dispatcher.publish(event_type, sample_incident(), agent=None, **SERVICE)
            await run(dispatcher)
        finally:
            await dispatcher.stop()
    assert sub["active"] is True
    assert len(rx.received) == 5


async def test_exhausted_retries_drop_the_webhook_after_the_window() -> None:
    time = FakeTime()
    async with WebhookReceiver([503] * 50) as rx:
        sub = subscription(rx.url)
        policy = WebhookPolicy(first_delay=10, multiplier=2, jitter=0, retry_window=100)
        dispatcher = WebhookDispatcher(
            lambda: [sub], policy=policy, clock=time.clock, sleep=time.sleep
        )
        await dispatcher.start()
        try:
            dispatcher.publish("incident.triggered", sample_incident(), agent=None, **SERVICE)
            await run(dispatcher)
        finally:
            await dispatcher.stop()
    delivery = dispatcher.deliveries()[0]
    assert delivery.status == "dropped"
    assert delivery.reason is not None and delivery.reason.startswith("retries exhausted")
    assert time.sleeps == [10.0, 20.0, 40.0]  # attempts at 0, 10, 30, 70; 150 > 100
    assert len(rx.received) == 4


async def test_unmatched_events_are_not_sent_and_published_before_start_are_kept() -> None:
    async with WebhookReceiver() as rx:
        team_sub = subscription(
            rx.url, id="PTEAM01", filter={"type": "team_reference", "id": "PDEMOT1"}
        )
        other = subscription(rx.url, id="POTHER1", filter={"type": "service_reference", "id": "PX"})
        dispatcher = WebhookDispatcher(lambda: [team_sub, other], policy=FAST)
        queued = dispatcher.submit("incident.triggered", sample_incident(), agent=None, **SERVICE)
        assert [d.subscription_id for d in queued] == ["PTEAM01"]
        unwanted = dispatcher.submit("incident.delegated", sample_incident(), agent=None, **SERVICE)
        assert unwanted == []
        await dispatcher.start()
        try:
            await run(dispatcher)
        finally:
            await dispatcher.stop()
    assert [r.headers["X-Webhook-Subscription"] for r in rx.received] == ["PTEAM01"]


async def test_publish_from_another_thread_is_handed_to_the_loop(
    receiver: WebhookReceiver,
) -> None:
    sub = subscription(receiver.url)
    dispatcher = WebhookDispatcher(lambda: [sub], policy=FAST)
    await dispatcher.start()
    try:
        await asyncio.to_thread(
            dispatcher.publish, "incident.triggered", sample_incident(), agent=None, **SERVICE
        )
        await receiver.wait_for(1)
        await run(dispatcher)
    finally:
        await dispatcher.stop()
    assert dispatcher.deliveries()[0].status == "delivered"


async def test_an_unreachable_url_is_retried_as_a_connection_error(unused_port: int) -> None:
    time = FakeTime()
    sub = subscription(f"http://127.0.0.1:{unused_port}/nobody-home")
    policy = WebhookPolicy(first_delay=1, jitter=0, retry_window=5)
    dispatcher = WebhookDispatcher(lambda: [sub], policy=policy, clock=time.clock, sleep=time.sleep)
    await dispatcher.start()
    try:
        dispatcher.publish("incident.triggered", sample_incident(), agent=None, **SERVICE)
        await run(dispatcher)
    finally:
        await dispatcher.stop()
    delivery = dispatcher.deliveries()[0]
    assert delivery.status == "dropped"
    assert all(a.detail.startswith("connection failed") for a in delivery.attempts)
    assert len(delivery.attempts) == 3  # at 0, 1, 3; the next (7) would pass the 5 s window


async def test_ping_reaches_a_subscription_whatever_its_events(
    receiver: WebhookReceiver,
) -> None:
    sub = subscription(receiver.url, events=["incident.resolved"])
    dispatcher = WebhookDispatcher(lambda: [sub], policy=FAST)
    await dispatcher.start()
    try:
        assert dispatcher.ping("PNOSUCH") is None
        delivery = dispatcher.ping("PSUB001")
        await run(dispatcher)
    finally:
        await dispatcher.stop()
    assert delivery is not None and delivery.status == "delivered"
    (request,) = receiver.received
    verify(request.body, request.headers["X-PagerDuty-Signature"], "secret-new")
    assert request.event["event_type"] == "pagey.ping"
    assert request.event["resource_type"] == "pagey"
    assert request.event["data"] == {"message": "Hello from your friend Pagey!", "type": "ping"}


async def test_https_receivers_are_verified_and_tls_errors_drop_at_once() -> None:
    import ssl

    import trustme

    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    async with WebhookReceiver(ssl_context=server_ctx) as rx:
        assert rx.url.startswith("https://")
        sub = subscription(rx.url)
        for ctx, expected in ((trusting, "delivered"), (None, "dropped")):
            dispatcher = WebhookDispatcher(lambda: [sub], policy=FAST, ssl_context=ctx)
            await dispatcher.start()
            try:
                dispatcher.publish("incident.triggered", sample_incident(), agent=None, **SERVICE)
                await run(dispatcher)
            finally:
                await dispatcher.stop()
            delivery = dispatcher.deliveries()[0]
            assert delivery.status == expected
            if expected == "dropped":  # an untrusted certificate is permanent: no retry
                assert len(delivery.attempts) == 1
                assert delivery.reason is not None and delivery.reason.startswith("TLS")
    assert len(rx.received) == 1
    verify(rx.received[0].body, rx.received[0].headers["X-PagerDuty-Signature"], "secret-new")
