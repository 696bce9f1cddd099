"""The outbound sync, end to end against the sandbox: every incident change reaches PagerDuty
once, in order, through the outbox (``im connector sync`` semantics: ``sync_now``).

SQLite and PostgreSQL; real HTTP to a real sandbox; requests counted at the sandbox.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from pagerbridge.connectors.outbound import OutboundSync
from pagerbridge.connectors.runtime import sync_now
from pagerbridge.incidents.commands import Commands
from servers.connector_setup import FROM, add_connector, commands, pd_incidents


def sync(database_url: str, engine: Engine, name: str = "prod-pagerduty", **kw: Any) -> Any:
    return asyncio.run(sync_now(database_url, engine, name, **kw))


def test_declare_ack_note_resolve_reach_pagerduty_once_in_order(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox)
    im = commands(engine)
    declared = im.declare(
        title="Database performance issue", severity="SEV-2", services=["db"], description="slow"
    )
    ref = declared["incident"]["id"]
    im.transition(ref, "ack", note="Investigating database locks")
    im.note(ref, "index rebuild started")
    im.transition(ref, "resolve", note="Database locks cleared after index optimization")

    result = sync(database_url, engine)
    assert result.ok, result
    assert result.delivered == 4

    [pd] = pd_incidents(sandbox)
    assert pd["title"] == "Database performance issue"
    assert pd["urgency"] == "high"  # SEV-2 → high (the reference's mapping)
    assert pd["status"] == "resolved"
    assert pd["incident_key"].startswith("pagerbridge/") and pd["incident_key"].endswith(
        f"/{ref}/PDEMO01"
    )
    _status, notes = sandbox.rest("GET", f"/incidents/{pd['id']}/notes")
    assert [n["content"] for n in notes["notes"]] == [
        "Investigating database locks",
        "index rebuild started",
        "Database locks cleared after index optimization",
    ]
    # One create, then exactly the calls the changes need: ack, note, note, resolve, note.
    writes = [
        (r["method"], r["path"])
        for r in sandbox.requests(api="rest")
        if r["method"] in ("POST", "PUT")
    ]
    assert writes == [
        ("POST", "/incidents"),
        ("PUT", f"/incidents/{pd['id']}"),
        ("POST", f"/incidents/{pd['id']}/notes"),
        ("POST", f"/incidents/{pd['id']}/notes"),
        ("PUT", f"/incidents/{pd['id']}"),
        ("POST", f"/incidents/{pd['id']}/notes"),
    ]
    timeline = [e["body"] for e in im.timeline(ref) if e["kind"] == "pagerduty"]
    assert timeline[0].startswith(f"PagerDuty incident created: #{pd['incident_number']}")
    assert pd["html_url"] in timeline[0]
    # Nothing left to send: a second sync sends nothing.
    before = len(sandbox.requests(api="rest"))
    assert sync(database_url, engine).delivered == 0
    assert len(sandbox.requests(api="rest")) == before


def test_multi_service_declare_makes_one_linked_incident_per_service(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    status, body = sandbox.rest(
        "POST",
        "/services",
        {
            "service": {
                "type": "service",
                "name": "API Service",
                "escalation_policy": {"id": "PDEMOEP", "type": "escalation_policy_reference"},
            }
        },
        from_email=FROM,
    )
    assert status == 201, body
    api_service = body["service"]["id"]
    add_connector(engine, sandbox, custom={"service_mappings": {"api": api_service}})
    im = commands(engine)
    declared = im.declare(
        title="Database cluster failure", severity="SEV-1", services=["database", "api"]
    )
    assert sync(database_url, engine).ok
    made = pd_incidents(sandbox)
    assert sorted(i["service"]["id"] for i in made) == sorted(["PDEMO01", api_service])
    correlation = declared["incident"]["correlation_id"]
    assert correlation
    for pd in made:
        _status, full = sandbox.rest("GET", f"/incidents/{pd['id']}?include[]=body")
        assert correlation in full["incident"]["body"]["details"]


def test_a_create_whose_answer_was_lost_is_linked_not_duplicated(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox)
    sandbox.script_fault("drop_after_write", method="POST", path="/incidents", times=1)
    ref = commands(engine).declare(title="Lost answer", severity="SEV-1")["incident"]["id"]
    result = sync(database_url, engine)
    assert result.ok, result
    [pd] = pd_incidents(sandbox)  # exactly one PagerDuty incident
    assert sandbox.count_requests("POST", "/incidents") == 1  # the retry looked it up instead
    assert any(
        e["body"].startswith("PagerDuty incident linked") for e in commands(engine).timeline(ref)
    )
    assert pd["incident_key"].endswith(f"/{ref}/PDEMO01")


def test_a_read_only_key_becomes_a_dead_letter_that_says_so(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, api_key="sandbox-readonly-token")
    ref = commands(engine).declare(title="Nope", severity="SEV-3")["incident"]["id"]
    result = sync(database_url, engine)
    assert result.failed == 1 and not result.ok
    assert "read-only" in result.errors[0]
    failures = [e for e in commands(engine).timeline(ref) if "sync failed" in e["body"]]
    assert failures and "read-only" in failures[0]["body"]
    assert pd_incidents(sandbox) == []


def test_changes_from_pagerduty_are_never_sent_back(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox)
    im = commands(engine)
    ref = im.declare(title="Echo", severity="SEV-2")["incident"]["id"]
    assert sync(database_url, engine).ok
    from_pd = Commands(
        sessionmaker(engine, expire_on_commit=False),
        actor="pagerduty",
        origin="pagerduty",
        listener=OutboundSync(),
    )
    from_pd.transition(ref, "ack")
    marker = sandbox.clear_requests()
    assert sync(database_url, engine).delivered == 0
    assert sandbox.requests(api="rest", after=marker) == []


def test_the_hub_sends_api_changes_to_pagerduty_within_a_second(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    import json
    import time
    import urllib.request

    from pagerbridge.server.testing import running_hub
    from servers.waiting import wait_for

    add_connector(engine, sandbox)
    with running_hub(database_url) as hub:
        token = hub.create_token("tests")

        def call(method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
            request = urllib.request.Request(
                f"{hub.url}/api/v1{path}",
                data=json.dumps(body).encode(),
                method=method,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                result: dict[str, Any] = json.load(answer)
            return result

        started = time.monotonic()
        ref = call("POST", "/incidents", {"title": "From the API", "severity": "SEV-1"})[
            "incident"
        ]["id"]
        [pd] = wait_for(lambda: pd_incidents(sandbox), "the PagerDuty incident", 10)
        assert time.monotonic() - started < 1.5  # ≤ 1 s on an idle machine; CI is shared
        call("POST", f"/incidents/{ref}/ack", {"note": "on it"})  # the hot route
        wait_for(
            lambda: pd_incidents(sandbox)[0]["status"] == "acknowledged", "the acknowledgement"
        )
        assert pd["title"] == "From the API"


def test_fields_priority_and_escalation_policy_map_as_configured(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(
        engine,
        sandbox,
        custom={
            "priority_mapping": {"SEV-1": "P1"},
            "custom_field_mappings": {
                "environment": "environment",
                "customer_impact": "custom_details.customer_impact",
            },
        },
    )
    from pagerbridge.connectors import service as connectors

    with engine.begin() as conn:
        connectors.map_escalation(
            conn=conn, name="prod-pagerduty", im_service="api", escalation_policy_id="PDEMOEP"
        )
    commands(engine).declare(
        title="Checkout down",
        severity="SEV-1",
        services=["api"],
        custom_fields={"environment": "production", "customer_impact": "all EU customers"},
    )
    assert sync(database_url, engine).ok
    [pd] = pd_incidents(sandbox)
    assert pd["priority"]["summary"] == "P1"
    assert pd["urgency"] == "high"
    assert pd["escalation_policy"]["id"] == "PDEMOEP"
    _status, full = sandbox.rest("GET", f"/incidents/{pd['id']}?include[]=body")
    assert "customer_impact: all EU customers" in full["incident"]["body"]["details"]
    _status, values = sandbox.rest("GET", f"/incidents/{pd['id']}/custom_fields/values")
    by_name = {v["name"]: v["value"] for v in values["custom_fields"]}
    assert by_name["environment"] == "production"


def test_server_errors_are_retried_and_still_make_one_incident(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox)
    sandbox.script_fault("status", method="POST", path="/incidents", status=503, times=2)
    commands(engine).declare(title="Flaky PagerDuty", severity="SEV-2")
    result = sync(database_url, engine)
    assert result.ok, result
    assert len(pd_incidents(sandbox)) == 1
    statuses = [r["status"] for r in sandbox.requests(method="POST", path="/incidents")]
    assert statuses[:2] == [503, 503] and statuses[-1] == 201


def test_a_routing_key_connector_sends_events_api_alerts(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    from pagerbridge.connectors.secrets import SecretBox
    from pagerbridge.connectors.settings import parse_config

    settings, secrets = parse_config(
        {
            "auth_type": "routing_key",
            "routing_key": sandbox.routing_key,
            "base_url": sandbox.url,
            "events_url": sandbox.url,
            "sync_direction": "outbound",
        }
    )
    from pagerbridge.connectors import service as connectors

    with engine.begin() as conn:
        connectors.add(
            conn=conn,
            name="events-only",
            settings=settings,
            secrets=secrets,
            box=SecretBox.for_engine(engine),
        )
    im = commands(engine)
    ref = im.declare(title="Via the Events API", severity="SEV-1")["incident"]["id"]
    im.note(ref, "not sent: the Events API has no notes")
    im.transition(ref, "ack")
    im.transition(ref, "resolve")
    assert sync(database_url, engine, "events-only").ok
    arrivals = sandbox.arrivals(sandbox.routing_key)
    assert [a["event_action"] for a in arrivals] == ["trigger", "acknowledge", "resolve"]
    assert {a["dedup_key"] for a in arrivals} == {arrivals[0]["dedup_key"]}
    assert arrivals[0]["dedup_key"].endswith(f"/{ref}/events")
    assert arrivals[0]["summary"] == "Via the Events API"


def test_a_custom_field_the_account_lacks_leaves_the_incident_and_says_so(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, custom={"custom_field_mappings": {"team": "no_such_field"}})
    im = commands(engine)
    ref = im.declare(title="Fields", severity="SEV-3", custom_fields={"team": "payments"})[
        "incident"
    ]["id"]
    im.transition(ref, "ack")
    assert sync(database_url, engine).ok
    [pd] = pd_incidents(sandbox)
    assert pd["status"] == "acknowledged"  # later changes still follow
    lines = [e["body"] for e in im.timeline(ref) if e["kind"] == "pagerduty"]
    assert any(line.startswith("custom fields not set in PagerDuty") for line in lines)


def test_the_acting_user_is_looked_up_once_for_many_changes(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox)
    im = commands(engine, actor="backup@example.com")  # a PagerDuty user: the From of writes
    ref = im.declare(title="Lookups", severity="SEV-2")["incident"]["id"]
    im.transition(ref, "ack", note="one")
    im.note(ref, "two")
    im.note(ref, "three")
    assert sync(database_url, engine).ok
    assert sandbox.count_requests("GET", "/users") == 1  # not once per row
    writes = sandbox.requests(method="POST", path="/incidents/*")
    assert writes and all(r["status"] < 300 for r in writes)
