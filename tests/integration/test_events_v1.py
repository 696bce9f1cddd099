"""The agent's Events API v1 endpoint (``/generic/2010-04-15/create_event.json``), over loopback:
v1's answers, the conversion to v2 as PagerDuty (the sandbox) receives it, and the same intake
as ``/v2/enqueue`` (rules, durable rows, both backends)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from pagerbridge.agent.events_v1 import V1_PATH
from pagerbridge.agent.testing import AgentHandle, get, post, running_agent
from pagerbridge.outbox import open_outbox
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.waiting import wait_for

KEY = "deadbeefdeadbeefdeadbeefdeadbeef"  # the sandbox's demo routing key
UNLIMITED = {"listen": "127.0.0.1:0", "delivery": {"rate_limit_per_minute": 0}}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentHandle, SandboxHandle]]:
    """One sandbox and one agent delivering to it, shared by this module's tests."""
    db = tmp_path_factory.mktemp("v1") / "agent.db"
    with (
        running_sandbox(rate_limits=False) as sandbox,
        running_agent(
            database_url=f"sqlite:///{db}", events_url=sandbox.url, config=UNLIMITED
        ) as agent,
    ):
        yield agent, sandbox


def v1(agent: AgentHandle, body: dict[str, Any] | str) -> tuple[int, Any]:
    answer = post(agent.url + V1_PATH, body)
    return answer.status, answer.json()


def incident(sandbox: SandboxHandle, key: str) -> dict[str, Any] | None:
    status, body = sandbox.rest(
        "GET", "/incidents?statuses[]=triggered&statuses[]=acknowledged&statuses[]=resolved"
    )
    assert status == 200, body
    found = [i for i in body["incidents"] if i["incident_key"] == key]
    return found[0] if found else None


def alert_body(sandbox: SandboxHandle, incident_id: str) -> dict[str, Any]:
    status, body = sandbox.rest("GET", f"/incidents/{incident_id}/alerts")
    assert status == 200, body
    alert: dict[str, Any] = body["alerts"][0]
    return alert


def test_trigger_acknowledge_resolve_reach_pagerduty_as_v2(
    live: tuple[AgentHandle, SandboxHandle],
) -> None:
    agent, sandbox = live
    trigger = {
        "service_key": KEY,
        "event_type": "trigger",
        "incident_key": "srv01/HTTP",
        "description": "FAILURE for production/HTTP on machine srv01.acme.com",
        "client": "Sample Monitoring Service",
        "client_url": "https://monitoring.example.com",
        "details": {"ping time": "1500ms", "load avg": 0.75, "host": "srv01.acme.com"},
        "contexts": [
            {"type": "link", "href": "https://acme.pagerduty.com", "text": "View"},
            {"type": "image", "src": "https://chart.example.com/c.png"},
        ],
    }
    assert v1(agent, trigger) == (
        200,
        {"status": "success", "message": "Event processed", "incident_key": "srv01/HTTP"},
    )
    found = wait_for(lambda: incident(sandbox, "srv01/HTTP"), what="the incident")
    alert = alert_body(sandbox, found["id"])
    assert alert["body"]["details"] == trigger["details"]
    cef = alert["body"]["cef_details"]
    assert cef["message"] == trigger["description"]
    assert cef["source_origin"] == "srv01.acme.com"  # details.host
    assert (cef["client"], cef["client_url"]) == (trigger["client"], trigger["client_url"])
    assert alert["severity"] == "error"

    ack = {"service_key": KEY, "event_type": "acknowledge", "incident_key": "srv01/HTTP"}
    assert v1(agent, ack)[0] == 200
    wait_for(lambda: incident(sandbox, "srv01/HTTP")["status"] == "acknowledged", what="ack")
    resolve = {**ack, "event_type": "resolve", "description": "Fixed"}
    assert v1(agent, resolve)[1]["incident_key"] == "srv01/HTTP"
    wait_for(lambda: incident(sandbox, "srv01/HTTP")["status"] == "resolved", what="resolve")


def test_a_trigger_without_incident_key_gets_one_and_the_client_as_source(
    live: tuple[AgentHandle, SandboxHandle],
) -> None:
    agent, sandbox = live
    status, body = v1(
        agent,
        {"service_key": KEY, "event_type": "trigger", "description": "d", "client": "cron-7"},
    )
    assert status == 200 and re.fullmatch(r"[0-9a-f]{32}", body["incident_key"])
    found = wait_for(lambda: incident(sandbox, body["incident_key"]), what="the incident")
    assert alert_body(sandbox, found["id"])["body"]["cef_details"]["source_origin"] == "cron-7"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"service_key": "short", "event_type": "trigger", "description": "d"},
            ["'service_key' is invalid (must be 32 characters, got 5)"],
        ),
        (
            {"service_key": KEY, "event_type": "explode", "description": "d"},
            ["'event_type' is invalid (must be one of trigger, acknowledge, resolve)"],
        ),
        (
            {"service_key": KEY, "event_type": "resolve"},
            ["'incident_key' is missing or blank (required for resolve events)"],
        ),
        ({"service_key": KEY, "event_type": "trigger"}, ["'description' is missing or blank"]),
        ("{not json", ["Could not parse the JSON body"]),
        ("[1, 2]", ["The event must be a JSON object"]),
    ],
)
def test_invalid_events_get_v1s_400_naming_v1_fields(
    live: tuple[AgentHandle, SandboxHandle], body: dict[str, Any] | str, errors: list[str]
) -> None:
    agent, _ = live
    before = len(agent.agent.outbox.list_rows(limit=1000))
    status, answer = v1(agent, body)
    assert status == 400
    assert answer["status"] == "invalid event" and answer["message"] == "Event object is invalid"
    assert [e.split(" (required to trigger)")[0] for e in answer["errors"]] == errors
    assert len(agent.agent.outbox.list_rows(limit=1000)) == before  # nothing stored


def test_other_methods_get_405(live: tuple[AgentHandle, SandboxHandle]) -> None:
    agent, _ = live
    assert get(agent.url + V1_PATH).status == 405


def test_stored_on_both_backends_like_a_v2_event(database_url: str) -> None:
    with running_agent(database_url=database_url, deliver=False) as agent:
        status, body = v1(
            agent,
            {
                "service_key": KEY,
                "event_type": "trigger",
                "incident_key": "k-1",
                "description": "x" * 2000,
                "details": "not an object",
            },
        )
        assert (status, body["incident_key"]) == (200, "k-1")
    outbox = open_outbox(database_url)
    try:
        (row,) = outbox.list_rows()
    finally:
        outbox.close()
    event = json.loads(row.payload)
    assert (row.routing_key, row.dedup_key, row.state) == (KEY, "k-1", "pending")
    assert event["payload"]["custom_details"] == {"details": "not an object"}
    assert len(event["payload"]["summary"]) == 1024  # cut with a marker, as v2 summaries are
    assert event["payload"]["timestamp"]
