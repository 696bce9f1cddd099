"""Sandbox fidelity fixes: OAuth scopes as PagerDuty documents them, the webhook ping, documented
v3 event types only, and reset revoking OAuth tokens."""

from __future__ import annotations

import asyncio
import json
import urllib.parse
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from pagerbridge.sandbox.state import iso
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from pagerbridge.sandbox.webhooks_testing import WebhookReceiver

SERVICE = {"id": "PDEMO01", "type": "service_reference"}


def oauth_token(sb: SandboxHandle, scope: str) -> str:
    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "scope": "as_account-us.sandbox " + scope,
        }
    ).encode()
    req = urllib.request.Request(
        sb.url + "/oauth/token",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        token: str = json.loads(resp.read())["access_token"]
    return token


def bearer(token: str, sb: SandboxHandle) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "From": sb.user_email}


def test_maintenance_windows_need_the_services_scope(sandbox: SandboxHandle) -> None:
    """PagerDuty's x-pd-requires-scope for /maintenance_windows is services.*, not a scope named
    after the path's first segment (which PagerDuty does not even have)."""
    now = sandbox.runtime.state.now()
    window = {
        "maintenance_window": {
            "type": "maintenance_window",
            "start_time": iso(now + timedelta(hours=1)),
            "end_time": iso(now + timedelta(hours=2)),
            "services": [SERVICE],
        }
    }
    writer = bearer(oauth_token(sandbox, "services.write"), sandbox)
    status, body = sandbox.request("POST", "/maintenance_windows", window, headers=writer)
    assert status == 201, body
    assert sandbox.request("GET", "/maintenance_windows", headers=writer)[0] == 200

    reader = bearer(oauth_token(sandbox, "incidents.read"), sandbox)
    status, body = sandbox.request("GET", "/maintenance_windows", headers=reader)
    assert status == 403 and body["error"]["code"] == 2010
    assert body["error"]["errors"] == ["the token lacks the scope services.read"]


def test_reset_revokes_oauth_tokens(sandbox: SandboxHandle) -> None:
    headers = bearer(oauth_token(sandbox, "incidents.read"), sandbox)
    assert sandbox.request("GET", "/incidents", headers=headers)[0] == 200
    sandbox.reset()
    status, body = sandbox.request("GET", "/incidents", headers=headers)
    assert status == 401 and body["error"]["code"] == 2006
    # a fresh token works again, and the seeded API token was never affected
    assert (
        sandbox.request("GET", "/incidents", headers=bearer(oauth_token(sandbox, "read"), sandbox))[
            0
        ]
        == 200
    )
    assert sandbox.rest("GET", "/incidents")[0] == 200


async def test_ping_sends_pagey_ping_and_answers_202() -> None:
    async with WebhookReceiver() as rx:
        with running_sandbox() as sb:
            sub_body = {
                "webhook_subscription": {
                    "type": "webhook_subscription",
                    "delivery_method": {"type": "http_delivery_method", "url": rx.url},
                    "events": ["incident.triggered"],
                    "filter": {"type": "service_reference", "id": "PDEMO01"},
                }
            }
            status, created = await asyncio.to_thread(
                sb.rest, "POST", "/webhook_subscriptions", sub_body
            )
            assert status == 200, created
            sid = created["webhook_subscription"]["id"]
            status, body = await asyncio.to_thread(
                sb.rest, "POST", f"/webhook_subscriptions/{sid}/ping"
            )
            assert (status, body) == (202, None)
            [received] = await rx.wait_for(1)
            status, body = await asyncio.to_thread(
                sb.rest, "POST", "/webhook_subscriptions/PNOSUCH/ping"
            )
    assert received.event["event_type"] == "pagey.ping"
    assert received.headers["X-Webhook-Subscription"] == sid
    assert status == 404 and body["error"]["message"] == "Webhook Not Found"


def test_every_published_event_type_is_documented(
    sandbox: SandboxHandle, contract_dir: Path
) -> None:
    """A full incident lifecycle publishes only PagerDuty's documented v3 event types."""
    doc = json.loads((contract_dir / "webhooks-v3-event-types-and-examples.json").read_text())
    documented = {t["event_type"] for t in doc["event_types"]}
    assert len(documented) == 30
    published: list[str] = []
    sandbox.runtime.publishers.append(lambda event_type, *_a, **_k: published.append(event_type))

    sandbox.send_event("trigger", dedup_key="lifecycle")
    iid = next(iter(sandbox.runtime.state.incidents))

    def put(**changes: Any) -> None:
        status, body = sandbox.rest(
            "PUT",
            f"/incidents/{iid}",
            {"incident": {"type": "incident_reference", **changes}},
            from_email=sandbox.user_email,
        )
        assert status == 200, body

    put(status="acknowledged")
    put(status="triggered")  # unacknowledge
    put(assignments=[{"assignee": {"id": "PDEMOU2", "type": "user_reference"}}])
    put(escalation_policy={"id": "PDEMOEP", "type": "escalation_policy_reference"})
    put(escalation_level=2)
    put(urgency="low")
    put(priority={"id": "PDEMOP1", "type": "priority_reference"})
    status, _ = sandbox.rest(
        "POST",
        f"/incidents/{iid}/notes",
        {"note": {"content": "looking"}},
        from_email=sandbox.user_email,
    )
    assert status == 200  # as the OpenAPI document says
    put(status="resolved")
    put(status="triggered")  # reopen

    assert published == [
        "incident.triggered",
        "incident.acknowledged",
        "incident.unacknowledged",
        "incident.reassigned",
        "incident.delegated",  # an escalation-policy change, per PagerDuty's table
        "incident.escalated",
        # urgency: PagerDuty has no v3 event type for it, so nothing is published
        "incident.priority_updated",
        "incident.annotated",
        "incident.resolved",
        "incident.reopened",
    ]
    assert set(published) <= documented
