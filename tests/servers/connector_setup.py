"""Shared set-up of connector tests: a migrated database with a secret key, a connector pointing
at a sandbox, incident commands that tell the outbound sync, and the sandbox's incidents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from pagerbridge.connectors import service
from pagerbridge.connectors.outbound import OutboundSync
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.settings import parse_config
from pagerbridge.incidents.commands import Commands

FROM = "oncall@example.com"


def add_connector(engine: Engine, sandbox: Any, name: str = "prod-pagerduty", **extra: Any) -> None:
    raw: dict[str, Any] = {
        "base_url": sandbox.url,
        "api_key": extra.pop("api_key", "sandbox-token"),
        "sync_direction": "bidirectional",
        "custom": {"service_id": "PDEMO01", "from_email": FROM, **extra.pop("custom", {})},
        **extra,
    }
    settings, secrets = parse_config(raw)
    with engine.begin() as conn:
        service.add(
            conn=conn,
            name=name,
            settings=settings,
            secrets=secrets,
            box=SecretBox.for_engine(engine),
        )


def commands(engine: Engine, actor: str = "alice", origin: str = "local") -> Commands:
    return Commands(
        sessionmaker(engine, expire_on_commit=False),
        actor=actor,
        origin=origin,
        listener=OutboundSync(),
    )


def pd_incidents(sandbox: Any) -> list[dict[str, Any]]:
    status, body = sandbox.rest("GET", "/incidents?date_range=all&limit=100")
    assert status == 200, body
    return list(body["incidents"])


#: Every incident event type the test subscriptions ask for.
INCIDENT_EVENTS = [
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.annotated",
    "incident.reassigned",
    "incident.escalated",
]


def subscribe(
    engine: Engine,
    sandbox: Any,
    hub_url: str,
    *,
    name: str = "prod-pagerduty",
    connector_id: int = 1,
) -> str:
    """A v3 subscription in the sandbox delivering to the hub; its secret stored encrypted (as
    ``im connector webhook --enable`` stores it). Returns the secret."""
    import time

    import sqlalchemy as sa

    from pagerbridge.connectors.models import connector_subscriptions_table

    url = f"{hub_url}/connectors/{name}/webhook"
    status, body = sandbox.rest(
        "POST",
        "/webhook_subscriptions",
        {
            "webhook_subscription": {
                "type": "webhook_subscription",
                "delivery_method": {"type": "http_delivery_method", "url": url},
                "events": INCIDENT_EVENTS,
                "filter": {"type": "account_reference"},
            }
        },
    )
    assert status == 200, body  # PagerDuty answers 200 to this create
    sub = body["webhook_subscription"]
    secret = str(sub["delivery_method"]["secret"])
    box = SecretBox.for_engine(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(connector_subscriptions_table).values(
                connector_id=connector_id,
                pd_subscription_id=sub["id"],
                secret=box.encrypt_text(secret),
                key_fingerprint=box.fingerprint,
                url=url,
                state="active",
                created_at=time.time(),
            )
        )
    return secret


def post_webhook(
    hub_url: str, body: bytes, signature: str | None, *, name: str = "prod-pagerduty"
) -> tuple[int, Any]:
    """POST a delivery to the hub's intake: (status, decoded JSON answer)."""
    import json
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-PagerDuty-Signature"] = signature
    request = urllib.request.Request(
        f"{hub_url}/connectors/{name}/webhook", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def events_stored(engine: Engine) -> list[tuple[str, str]]:
    """(event type, state) of every received webhook event, in arrival order."""
    import sqlalchemy as sa

    from pagerbridge.connectors.models import connector_webhook_events_table as t

    with engine.connect() as conn:
        return [
            (r.event_type, r.state)
            for r in conn.execute(sa.select(t.c.event_type, t.c.state).order_by(t.c.id))
        ]
