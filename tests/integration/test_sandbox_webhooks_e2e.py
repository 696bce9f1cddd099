"""End to end through the whole sandbox: an event sent to /v2/enqueue becomes a signed v3 webhook
delivered to a subscription created through the REST API; an OAuth app token reads the REST API."""

from __future__ import annotations

import asyncio
import urllib.parse
from typing import Any

from pagerbridge.pagerduty.webhooks import verify
from pagerbridge.sandbox.testing import running_sandbox
from pagerbridge.sandbox.webhooks_policy import WebhookPolicy
from pagerbridge.sandbox.webhooks_testing import WebhookReceiver


def _subscription(url: str) -> dict[str, Any]:
    return {
        "webhook_subscription": {
            "type": "webhook_subscription",
            "delivery_method": {
                "type": "http_delivery_method",
                "url": url,
                "custom_headers": [{"name": "X-Team", "value": "blue"}],
            },
            "description": "e2e",
            "events": ["incident.triggered", "incident.acknowledged", "incident.resolved"],
            "filter": {"type": "service_reference", "id": "PDEMO01"},
        }
    }


async def test_enqueued_events_become_signed_webhooks_in_order() -> None:
    async with WebhookReceiver([500]) as rx:
        with running_sandbox() as sandbox:
            sandbox.app.state.webhooks.policy = WebhookPolicy(first_delay=0.05, jitter=0)
            status, created = await asyncio.to_thread(
                sandbox.rest, "POST", "/webhook_subscriptions", _subscription(rx.url)
            )
            assert status == 200, created  # as the OpenAPI document says
            sub = created["webhook_subscription"]
            secret = sub["delivery_method"]["secret"]
            assert secret
            for action in ("trigger", "acknowledge", "resolve"):
                status, body = await asyncio.to_thread(
                    sandbox.send_event, action, dedup_key="e2e-disk-full"
                )
                assert status == 202, body
            received = await rx.wait_for(4)
            deliveries = await asyncio.to_thread(sandbox.webhook_deliveries)

    assert [r.answer for r in received] == [500, 200, 200, 200]
    types = [r.event["event_type"] for r in received]
    assert types == [
        "incident.triggered",
        "incident.triggered",
        "incident.acknowledged",
        "incident.resolved",
    ]
    for request in received:
        verify(request.body, request.headers["X-PagerDuty-Signature"], secret)
        assert request.headers["X-Webhook-Subscription"] == sub["id"]
        assert request.headers["X-Team"] == "blue"
        data = request.event["data"]
        assert data["type"] == "incident" and data["service"]["id"] == "PDEMO01"
        assert data["incident_key"] == "e2e-disk-full"
    assert received[0].headers["X-Webhook-Id"] == received[1].headers["X-Webhook-Id"]
    assert [r.event["data"]["status"] for r in received[1:]] == [
        "triggered",
        "acknowledged",
        "resolved",
    ]
    assert [d["status"] for d in deliveries] == ["delivered"] * 3
    assert [len(d["attempts"]) for d in deliveries] == [2, 1, 1]


async def test_an_oauth_app_token_reads_the_rest_api() -> None:
    with running_sandbox() as sandbox:
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
                "scope": "as_account-us.sandbox incidents.read services.read",
            }
        ).encode()

        def token() -> tuple[int, Any]:
            import json
            import urllib.request

            req = urllib.request.Request(sandbox.url + "/oauth/token", data=form, method="POST")
            req.add_header("Content-Type", "application/x-www-form-urlencoded")
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, json.loads(resp.read())

        status, grant = await asyncio.to_thread(token)
        assert status == 200 and grant["token_type"] == "bearer"
        bearer = {"Authorization": f"Bearer {grant['access_token']}"}
        status, body = await asyncio.to_thread(sandbox.request, "GET", "/services", None, bearer)
        assert status == 200 and any(s["id"] == "PDEMO01" for s in body["services"])
        wrong = {"Authorization": "Bearer pdus+_0SANDBX_nope"}
        status, body = await asyncio.to_thread(sandbox.request, "GET", "/services", None, wrong)
        assert status == 401
