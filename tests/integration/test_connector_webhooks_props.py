"""Hostile but correctly signed webhook bodies: never a 500, and nothing stored or applied that
breaks a later read (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from pagerbridge.connectors.models import connector_webhook_events_table
from pagerbridge.pagerduty.webhooks import sign
from pagerbridge.server.testing import running_hub
from servers.connector_setup import (
    add_connector,
    commands,
    events_stored,
    post_webhook,
    subscribe,
)
from servers.waiting import wait_for


def _envelope(event_type: str, data: dict[str, Any]) -> bytes:
    event = {"id": f"{event_type}/{data['id']}", "event_type": event_type, "data": data}
    return json.dumps({"event": event}).encode()


TEXT = st.text(max_size=40)  # any code point, NUL and lone surrogates included
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and ±Infinity too: the webhook fast path does not use the hub's guard
    | TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)
EVENT_TYPES = (
    st.sampled_from(
        [
            "incident.triggered",
            "incident.acknowledged",
            "incident.unacknowledged",
            "incident.resolved",
            "incident.reopened",
            "incident.annotated",
            "incident.reassigned",
            "incident.priority_updated",
            "service.updated",
            "pagey.ping",
        ]
    )
    | TEXT
)
INCIDENT = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["PX1", "PX2", "PX3"]) | TEXT,
        "service": st.just({"id": "PDEMO01"}) | VALUES,
        "title": VALUES,
    },
    optional={
        "incident_key": VALUES,
        "urgency": VALUES,
        "assignees": VALUES,
        "priority": VALUES,
        "number": VALUES,
        "html_url": VALUES,
    },
)
EVENTS = st.fixed_dictionaries(
    {
        "id": st.uuids().map(str),
        "event_type": EVENT_TYPES,
        "data": INCIDENT | VALUES,
    },
    optional={"occurred_at": VALUES, "agent": VALUES},
)
#: Mostly well-formed envelopes with hostile values (they reach the applier), some raw bytes.
BODIES = st.one_of(
    *[EVENTS.map(lambda e: json.dumps({"event": e}).encode())] * 4, st.binary(max_size=200)
)


def test_signed_hostile_bodies_never_fail_the_hub_or_later_reads(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, webhook={"rate_limit_per_s": 100000})
    with running_hub(database_url) as hub:
        secret = subscribe(engine, sandbox, hub.url)

        @settings(
            max_examples=80,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(BODIES)
        @example(
            _envelope(
                "incident.triggered",
                {
                    "id": "PNUL",
                    "title": "a\x00b\ud800\nc",
                    "service": {"id": "PDEMO01"},
                    "html_url": "\x00",
                    "number": 2**70,
                },
            )
        )
        @example(_envelope("incident.annotated\x00", {"id": "PNUL"}))
        @example(_envelope("incident.triggered", {"id": "P" * 65, "service": {"id": "\x00"}}))
        def one(body: bytes) -> None:
            status, answer = post_webhook(hub.url, body, sign(body, secret))
            assert status in (202, 400, 413, 422), (status, answer, body)

        one()
        t = connector_webhook_events_table

        def settled() -> bool:
            return all(state != "pending" for _, state in events_stored(engine))

        wait_for(settled, "every stored event settled", 30)
        with engine.connect() as conn:
            errors = conn.execute(
                sa.select(t.c.event_type, t.c.result).where(t.c.state == "error")
            ).all()
        assert errors == []  # refused values are ignored with a reason, never a crash
        states = {state for _, state in events_stored(engine)}
        assert {"applied", "ignored"} <= states, states  # both paths were driven
        listed = commands(engine).list_incidents(limit=500)  # every incident still reads
        for incident in listed["incidents"]:
            commands(engine).show(incident["id"])
            commands(engine).timeline(incident["id"])
