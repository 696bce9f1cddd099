"""The sandbox app wires the outgoing webhooks: incident changes from events and from REST are
delivered, signed with the subscription's secret (verified with the wire layer's ``verify``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from pagerbridge.pagerduty.webhooks import verify
from pagerbridge.sandbox.testing import SandboxHandle
from pagerbridge.sandbox.webhooks_testing import WebhookReceiver


async def subscribe(sandbox: SandboxHandle, url: str, flt: dict[str, Any]) -> str:
    body = {
        "webhook_subscription": {
            "type": "webhook_subscription",
            "delivery_method": {"type": "http_delivery_method", "url": url},
            "events": [
                "incident.triggered",
                "incident.acknowledged",
                "incident.resolved",
                "incident.annotated",
            ],
            "filter": flt,
        }
    }
    status, created = await asyncio.to_thread(sandbox.rest, "POST", "/webhook_subscriptions", body)
    assert status == 200, created
    secret: str = created["webhook_subscription"]["delivery_method"]["secret"]
    return secret


def witness(rx: WebhookReceiver) -> str:
    """A second address on the receiver, for an account-wide subscription: its webhook arriving
    shows an event was published, and every subscription's match decided in the same call."""
    return rx.url.rsplit("/", 1)[0] + "/witness"


async def test_incident_lifecycle_is_delivered_signed_in_order(sandbox: SandboxHandle) -> None:
    async with WebhookReceiver() as rx:
        secret = await subscribe(sandbox, rx.url, {"type": "service_reference", "id": "PDEMO01"})
        for action in ("trigger", "acknowledge", "resolve"):
            status, _ = await asyncio.to_thread(sandbox.send_event, action, dedup_key="wh")
            assert status == 202
        received = await rx.wait_for(3)
    assert [r.event["event_type"] for r in received] == [
        "incident.triggered",
        "incident.acknowledged",
        "incident.resolved",
    ]
    for r in received:
        verify(r.body, r.headers.get("X-PagerDuty-Signature"), secret)
        assert r.headers["X-Webhook-Id"]
        assert r.event["data"]["type"] == "incident"
    assert len({r.headers["X-Webhook-Id"] for r in received}) == 3


async def test_rest_note_is_delivered_and_team_filter_matches(sandbox: SandboxHandle) -> None:
    async with WebhookReceiver() as rx:
        secret = await subscribe(sandbox, rx.url, {"type": "team_reference", "id": "PDEMOT1"})
        await asyncio.to_thread(sandbox.send_event, "trigger", dedup_key="note")
        incident_id = next(iter(sandbox.runtime.state.incidents))
        status, _ = await asyncio.to_thread(
            sandbox.rest,
            "POST",
            f"/incidents/{incident_id}/notes",
            {"note": {"content": "checking"}},
            from_email=sandbox.user_email,
        )
        assert status == 200
        received = await rx.wait_for(2)
    note = received[1]
    verify(note.body, note.headers.get("X-PagerDuty-Signature"), secret)
    assert note.event["event_type"] == "incident.annotated"
    assert note.event["data"]["content"] == "checking"
    assert note.event["data"]["incident"]["id"] == incident_id
    deliveries = await asyncio.to_thread(sandbox.webhook_deliveries)
    assert len(deliveries) >= 2


async def test_other_service_filter_gets_nothing(sandbox: SandboxHandle) -> None:
    async with WebhookReceiver() as rx:
        _, created = await asyncio.to_thread(
            sandbox.rest,
            "POST",
            "/services",
            {"service": {"type": "service", "name": "Other", "escalation_policy": {
                "id": "PDEMOEP", "type": "escalation_policy_reference"}}},
        )  # fmt: skip
        other = created["service"]["id"]
        await subscribe(sandbox, rx.url, {"type": "service_reference", "id": other})
        await subscribe(sandbox, witness(rx), {"type": "account_reference"})
        await asyncio.to_thread(sandbox.send_event, "trigger", dedup_key="elsewhere")
        await rx.wait_for(1)  # the event was matched against every subscription at once
        deliveries = await asyncio.to_thread(sandbox.webhook_deliveries)
    assert [d["url"] for d in deliveries] == [witness(rx)]
    assert [r.path for r in rx.received] == ["/witness"]


async def test_reset_forgets_subscriptions_and_deliveries(sandbox: SandboxHandle) -> None:
    async with WebhookReceiver() as rx:
        await subscribe(sandbox, rx.url, {"type": "account_reference"})
        await asyncio.to_thread(sandbox.send_event, "trigger", dedup_key="before")
        await rx.wait_for(1)
        assert await asyncio.to_thread(sandbox.webhook_deliveries)
        await asyncio.to_thread(sandbox.reset)
        assert await asyncio.to_thread(sandbox.webhook_deliveries) == []
        await subscribe(sandbox, witness(rx), {"type": "account_reference"})
        await asyncio.to_thread(sandbox.send_event, "trigger", dedup_key="after")
        await rx.wait_for(2)  # the event was matched against every subscription at once
        deliveries = await asyncio.to_thread(sandbox.webhook_deliveries)
    assert [d["url"] for d in deliveries] == [witness(rx)]
    assert [r.path for r in rx.received] == ["/webhooks", "/witness"]  # the first went with reset


async def test_deliveries_have_the_shape_of_pagerduty_examples(
    sandbox: SandboxHandle, contract_dir: Path
) -> None:
    examples = json.loads(
        (contract_dir / "webhooks-v3-event-types-and-examples.json").read_text("utf-8")
    )["examples_by_section"]
    async with WebhookReceiver() as rx:
        await subscribe(sandbox, rx.url, {"type": "account_reference"})
        await asyncio.to_thread(sandbox.send_event, "trigger", dedup_key="shape")
        incident_id = next(iter(sandbox.runtime.state.incidents))
        await asyncio.to_thread(
            sandbox.rest,
            "POST",
            f"/incidents/{incident_id}/notes",
            {"note": {"content": "shape"}},
            from_email=sandbox.user_email,
        )
        received = await rx.wait_for(2)
    triggered, annotated = (r.event["data"] for r in received[:2])
    # every key PagerDuty's example shows is present (optional extras like incident_type and
    # reopened_at only when they apply)
    optional = {"incident_type", "reopened_at"}
    assert set(examples["incident"]) - optional <= set(triggered)
    assert set(examples["incident_note"]) == set(annotated)
    assert triggered["number"] == 1 and triggered["status"] == "triggered"
    assert triggered["assignees"][0]["id"] == "PDEMOU1"
