"""Round trips against the real sandbox over loopback: EventsClient in, signed webhooks out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from pagerbridge.pagerduty.events import ChangeEvent, ChangePayload, Event, EventsClient, Payload
from pagerbridge.pagerduty.outcome import Accepted, Rejected, Retry
from pagerbridge.pagerduty.webhook_types import IncidentData
from pagerbridge.pagerduty.webhooks import parse_webhook, verify
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox


@pytest.fixture
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


def trigger(key: str, dedup: str) -> Event:
    return Event(
        routing_key=key,
        dedup_key=dedup,
        payload=Payload(summary=f"{dedup} is down", source="tests", severity="critical"),
    )


async def test_trigger_acknowledge_resolve_change(pd: SandboxHandle) -> None:
    key = pd.routing_key
    async with EventsClient(pd.events_url) as client:  # a URL ending in /v2/enqueue is fine
        first = await client.send(trigger(key, "rt-db1"))
        again = await client.send(trigger(key, "rt-db1"))
        ack = await client.send(
            Event(routing_key=key, event_action="acknowledge", dedup_key="rt-db1")
        )
        res = await client.send(
            {"routing_key": key, "event_action": "resolve", "dedup_key": "rt-db1"}
        )
        change = await client.send(
            ChangeEvent(routing_key=key, payload=ChangePayload(summary="deployed v2", source="ci"))
        )
        generated = await client.send(
            Event(routing_key=key, payload=Payload(summary="no key", source="t", severity="info"))
        )
    assert [type(o) for o in (first, again, ack, res, change, generated)] == [Accepted] * 6
    assert isinstance(first, Accepted) and first.dedup_key == "rt-db1" and first.status == 202
    assert isinstance(generated, Accepted) and generated.dedup_key  # PagerDuty made one up
    arrivals = await asyncio.to_thread(pd.arrivals)
    assert [(a["event_action"], a["dedup_key"], a["change"]) for a in arrivals[:5]] == [
        ("trigger", "rt-db1", False),
        ("trigger", "rt-db1", False),
        ("acknowledge", "rt-db1", False),
        ("resolve", "rt-db1", False),
        ("change", None, True),
    ]
    assert [a["outcome"] for a in arrivals[:2]] == ["created", "deduplicated"]
    status, body = await asyncio.to_thread(pd.rest, "GET", "/incidents?statuses[]=resolved")
    assert status == 200
    assert [i["incident_key"] for i in body["incidents"]] == ["rt-db1"]


async def test_sandbox_rejections_and_faults_are_classified(pd: SandboxHandle) -> None:
    async with EventsClient(pd.url, timeout=0.5) as client:
        unknown = await client.send(trigger("0" * 32, "x"))
        assert isinstance(unknown, Rejected) and unknown.status == 400
        assert any("routing_key" in e for e in unknown.errors)

        await asyncio.to_thread(pd.set_faults, burst_429=1)
        throttled = await client.send(trigger(pd.routing_key, "f1"))
        assert isinstance(throttled, Retry) and throttled.status == 429

        await asyncio.to_thread(pd.set_faults, error_rate=1.0, error_status=503)
        failing = await client.send(trigger(pd.routing_key, "f2"))
        assert isinstance(failing, Retry) and failing.status == 503

        await asyncio.to_thread(pd.set_faults, drop_rate=1.0)
        dropped = await client.send(trigger(pd.routing_key, "f3"))
        # a dropped connection (or the sandbox's 500 when it cannot drop) is a Retry; the exact
        # no-answer path is covered against tests/servers/events_server.py
        assert isinstance(dropped, Retry)

        await asyncio.to_thread(pd.set_faults, latency=2.0)
        slow = await client.send(trigger(pd.routing_key, "f4"))
        assert isinstance(slow, Retry) and "within 0.5 s" in slow.reason

        await asyncio.to_thread(pd.set_faults)
        assert isinstance(await client.send(trigger(pd.routing_key, "f5")), Accepted)


async def test_sandbox_webhooks_verify_and_parse_into_typed_models(pd: SandboxHandle) -> None:
    got: list[tuple[bytes, str]] = []
    arrived = asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        got.append((await request.read(), request.headers.get("X-PagerDuty-Signature", "")))
        if len(got) >= 3:
            arrived.set()
        return web.Response(status=202)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        subscription: dict[str, Any] = {
            "webhook_subscription": {
                "type": "webhook_subscription",
                "delivery_method": {"type": "http_delivery_method", "url": url},
                "events": ["incident.triggered", "incident.acknowledged", "incident.resolved"],
                "filter": {"type": "service_reference", "id": pd.service_id},
            }
        }
        status, created = await asyncio.to_thread(
            pd.rest, "POST", "/webhook_subscriptions", subscription
        )
        assert status == 200, created  # the REST OpenAPI documents 200 for this create
        secret = created["webhook_subscription"]["delivery_method"]["secret"]
        async with EventsClient(pd.url) as client:
            for action in ("trigger", "acknowledge", "resolve"):
                event = {"routing_key": pd.routing_key, "event_action": action, "dedup_key": "wh1"}
                if action == "trigger":
                    event["payload"] = {"summary": "wh1", "source": "t", "severity": "error"}
                assert isinstance(await client.send(event), Accepted)
        await asyncio.wait_for(arrived.wait(), timeout=20)
    finally:
        await runner.cleanup()
    statuses = []
    for body, header in got:
        verify(body, header, secret)
        event = parse_webhook(body).event
        assert isinstance(event.data, IncidentData) and event.known
        assert event.data.incident_key == "wh1"
        statuses.append((event.event_type, event.data.status))
    assert statuses == [
        ("incident.triggered", "triggered"),
        ("incident.acknowledged", "acknowledged"),
        ("incident.resolved", "resolved"),
    ]


async def test_https_sandbox_with_and_without_its_ca() -> None:
    with running_sandbox(tls=True) as tls:
        assert tls.url.startswith("https://")
        async with EventsClient(tls.url, ssl_context=tls.ssl_context()) as client:
            outcome = await client.send(trigger(tls.routing_key, "tls1"))
            assert isinstance(outcome, Accepted) and outcome.dedup_key == "tls1"
        async with EventsClient(tls.url) as untrusting:  # default checks: unknown CA
            refused = await untrusting.send(trigger(tls.routing_key, "tls2"))
        assert isinstance(refused, Retry) and "certificate" in refused.reason.lower()
        arrivals = await asyncio.to_thread(tls.arrivals)
    assert [a["dedup_key"] for a in arrivals] == ["tls1"]
