"""Sandbox faults found by fuzzing PagerDuty's own REST OpenAPI against it (issue 11, item 5).

Each test talks to a real sandbox over loopback HTTP and checks the answers against PagerDuty's
OpenAPI document (patched and checked as the contract test does: tests/servers/openapi_check.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from pagerbridge.sandbox.seed import default_seed_text
from pagerbridge.sandbox.state import iso, parse_time
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.openapi_check import Op, conforms, load_openapi

#: PagerDuty's ``ArgumentError`` body (any documented 400 has it).
INVALID = Op("POST", "/maintenance_windows", 400)
SERVICE = {"id": "PDEMO01", "type": "service_reference"}


def refused(document: dict[str, Any], answer: tuple[int, Any]) -> None:
    """A 400 in PagerDuty's REST error shape."""
    status, body = answer
    assert status == 400, body
    conforms(document, INVALID, body)


def incident_of(sb: SandboxHandle, dedup_key: str) -> str:
    state = sb.runtime.state
    return next(i["id"] for i in state.incidents.values() if i["incident_key"] == dedup_key)


@pytest.fixture(scope="module")
def openapi(contract_dir: Path) -> dict[str, Any]:
    """PagerDuty's REST document, patched where it contradicts PagerDuty's docs."""
    return load_openapi(contract_dir)


@pytest.fixture
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(rate_limits=False) as handle:
        yield handle


# -- maintenance windows ---------------------------------------------------------------------


def test_times_are_rfc3339_with_four_digit_years() -> None:
    assert iso(datetime(1, 4, 1, tzinfo=UTC)) == "0001-04-01T00:00:00Z"
    assert iso(datetime(639, 12, 1, 5, 6, 7, tzinfo=UTC)) == "0639-12-01T05:06:07Z"
    assert parse_time(iso(datetime(1, 4, 1, tzinfo=UTC))) == datetime(1, 4, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("0001-01-01T00:00:00+01:00")  # before year 1 in UTC
    with pytest.raises(ValueError):
        parse_time("1-04-01T00:00:00Z")


def test_ancient_maintenance_window_is_refused_and_events_keep_working(
    sb: SandboxHandle, openapi: dict[str, Any]
) -> None:
    def window(start: str, end: str) -> dict[str, Any]:
        return {"maintenance_window": {"start_time": start, "end_time": end, "services": [SERVICE]}}

    email = sb.user_email
    # An end in the past is refused, as PagerDuty's MaintenanceWindow says.
    ancient = window("0001-04-01T00:00:00Z", "0999-04-01T00:00:00Z")
    refused(openapi, sb.rest("POST", "/maintenance_windows", ancient, from_email=email))
    assert sb.send_event("trigger", dedup_key="after-ancient")[0] == 202
    # A start in the past becomes now; the far future is kept, written with four digits.
    status, body = sb.rest(
        "POST",
        "/maintenance_windows",
        window("0001-04-01T00:00:00Z", "9999-12-31T23:59:59Z"),
        from_email=email,
    )
    assert status == 201, body
    conforms(openapi, Op("POST", "/maintenance_windows", 201), body)
    created = body["maintenance_window"]
    assert abs(parse_time(created["start_time"]) - sb.runtime.state.now()) < timedelta(minutes=1)
    assert created["end_time"] == "9999-12-31T23:59:59Z"
    status, answer = sb.send_event("trigger", dedup_key="in-window")
    assert status == 202, answer
    assert sb.arrivals()[-1]["outcome"] == "suppressed"
    wid = created["id"]
    refused(
        openapi,
        sb.rest("PUT", f"/maintenance_windows/{wid}", {"maintenance_window": {"end_time": 5}}),
    )
    status, body = sb.rest("GET", f"/maintenance_windows/{wid}")
    assert status == 200
    conforms(openapi, Op("GET", "/maintenance_windows/{id}", 200), body)
    status, body = sb.rest("GET", "/maintenance_windows")
    conforms(openapi, Op("GET", "/maintenance_windows", 200), body)


def test_an_unreadable_stored_window_never_breaks_the_events_api(sb: SandboxHandle) -> None:
    """A state saved by an older sandbox may hold ``1-04-01T...``: it covers nothing."""
    sb.runtime.state.maintenance_windows["POLD001"] = {
        "id": "POLD001",
        "type": "maintenance_window",
        "start_time": "1-04-01T00:00:00Z",
        "end_time": "999-04-01T00:00:00Z",
        "services": [SERVICE],
    }
    for action in ("trigger", "acknowledge", "resolve"):
        status, body = sb.send_event(action, dedup_key="old-state")
        assert status == 202, body
    assert [a["outcome"] for a in sb.arrivals()] == ["created", "acknowledged", "resolved"]
    status, body = sb.rest("GET", "/maintenance_windows?filter=ongoing")
    assert status == 200 and body["maintenance_windows"] == []


# -- schedules -------------------------------------------------------------------------------


def test_schedule_from_year_639_is_bounded_and_never_blocks_the_loop(
    sb: SandboxHandle, openapi: dict[str, Any]
) -> None:
    path = "/schedules/PDEMOS1?since=0639-12-01T00:00:00Z&until=2024-01-15T00:00:00Z"
    answers: list[tuple[int, Any]] = []
    heavy = [
        threading.Thread(target=lambda: answers.append(sb.rest("GET", path))) for _ in range(2)
    ]
    started = time.monotonic()
    for thread in heavy:
        thread.start()
    for _ in range(3):  # answered promptly while (or just after) the schedules are rendered
        before = time.monotonic()
        assert sb.rest("GET", "/priorities")[0] == 200
        assert time.monotonic() - before < 2.0
    for thread in heavy:
        thread.join(timeout=15)
    assert time.monotonic() - started < 5.0
    assert len(answers) == 2
    for status, body in answers:
        assert status == 200, body
        conforms(openapi, Op("GET", "/schedules/{id}", 200), body)
        final = body["schedule"]["final_schedule"]
        assert [
            (e["start"], e["end"], e["user"]["id"]) for e in final["rendered_schedule_entries"]
        ] == [("2024-01-01T00:00:00Z", "2024-01-15T00:00:00Z", "PDEMOU1")]
        since = datetime(639, 12, 1, tzinfo=UTC)
        until = datetime(2024, 1, 15, tzinfo=UTC)
        share = timedelta(days=14) / (until - since)
        assert final["rendered_coverage_percentage"] == round(100 * share, 2)


def test_schedule_entries_before_year_1000_have_four_digit_years(tmp_path: Path) -> None:
    seed = yaml.safe_load(default_seed_text())
    seed["schedules"].append(
        {
            "id": "PANCIENT",
            "name": "Ancient rotation",
            "layers": [
                {
                    "start": "0600-01-01T00:00:00Z",
                    "rotation_turn_length_seconds": 604800,
                    "users": ["PDEMOU1", "PDEMOU2"],
                }
            ],
        }
    )
    (tmp_path / "seed.yaml").write_text(yaml.safe_dump(seed))
    with running_sandbox(seed=tmp_path / "seed.yaml", rate_limits=False) as sb:
        status, body = sb.rest(
            "GET", "/schedules/PANCIENT?since=0639-12-01T00:00:00Z&until=0639-12-29T00:00:00Z"
        )
    assert status == 200, body
    entries = body["schedule"]["final_schedule"]["rendered_schedule_entries"]
    assert len(entries) == 5
    for entry in entries:
        assert entry["start"].startswith("0639-12-") and entry["end"].startswith("0639-12-")
        assert parse_time(entry["start"]) < parse_time(entry["end"])
    assert {e["user"]["id"] for e in entries} == {"PDEMOU1", "PDEMOU2"}


@pytest.mark.parametrize(
    "query",
    [
        "since=9999-12-30T00:00:00Z",
        "since=0001-01-01T00:00:00Z",
        "until=0001-01-02T00:00:00Z",
        "since=0001-01-01T00:00:00%2B01:00",
    ],
)
def test_schedule_and_oncalls_at_the_ends_of_the_calendar(sb: SandboxHandle, query: str) -> None:
    for path in ("/schedules/PDEMOS1", "/oncalls"):
        status, body = sb.rest("GET", f"{path}?{query}")
        assert status in (200, 400), body
        if status == 400:
            assert body["error"]["code"] == 2004


# -- webhook subscriptions -------------------------------------------------------------------


def test_webhook_subscription_updates_are_validated_like_creates(
    sb: SandboxHandle, openapi: dict[str, Any]
) -> None:
    create = {
        "webhook_subscription": {
            "type": "webhook_subscription",
            "delivery_method": {"type": "http_delivery_method", "url": "http://127.0.0.1:9/h"},
            "events": ["incident.triggered"],
            "filter": {"type": "account_reference"},
        }
    }
    status, body = sb.rest("POST", "/webhook_subscriptions", create)
    assert status == 200, body
    sid = body["webhook_subscription"]["id"]
    path = f"/webhook_subscriptions/{sid}"
    for bad in (
        {"events": None},
        {"filter": None},
        {"events": []},
        {"events": ["incident.triggered", 7]},
        {"filter": {"type": "service_reference", "id": 5}},
        {"description": 5},
        {"active": "yes"},
        {"delivery_method": None},
        {"delivery_method": {"url": "ftp://example.com"}},
        {"delivery_method": {"url": "http://a\x00b"}},
        {"delivery_method": {"custom_headers": "abc"}},
        {"delivery_method": {"custom_headers": [{"name": "X-A", "value": 1}]}},
    ):
        status, answer = sb.rest("PUT", path, {"webhook_subscription": bad})
        assert status == 400, (bad, answer)
        conforms(openapi, INVALID, answer)  # PagerDuty documents this 400 without a body
    status, answer = sb.rest(
        "PUT",
        path,
        {"webhook_subscription": {"events": ["incident.resolved"] * 2, "description": None}},
    )
    assert status == 200, answer
    conforms(openapi, Op("PUT", "/webhook_subscriptions/{id}", 200), answer)
    status, answer = sb.rest("GET", path)
    assert status == 200
    conforms(openapi, Op("GET", "/webhook_subscriptions/{id}", 200), answer)
    sub = answer["webhook_subscription"]
    assert sub["events"] == ["incident.resolved"] and sub["description"] == ""
    assert sub["filter"] == {"type": "account_reference"}
    conforms(openapi, Op("GET", "/webhook_subscriptions", 200), sb.rest("GET", path[:-8])[1])
    assert sb.send_event("trigger", dedup_key="hooked")[0] == 202
    assert sb.send_event("resolve", dedup_key="hooked")[0] == 202


# -- incidents -------------------------------------------------------------------------------


def test_conference_bridge_fields_must_be_strings(
    sb: SandboxHandle, openapi: dict[str, Any]
) -> None:
    sb.send_event("trigger", dedup_key="bridge")
    path = f"/incidents/{incident_of(sb, 'bridge')}"
    good = {"conference_number": "+1 415-555-1212,,,,1234#", "conference_url": "https://x/y"}
    status, body = sb.rest(
        "PUT", path, {"incident": {"conference_bridge": good}}, from_email=sb.user_email
    )
    assert status == 200, body
    conforms(openapi, Op("PUT", "/incidents/{id}", 200), body)
    for bad in (
        {"conference_number": 5},
        {"conference_url": ["https://x"]},
        {"conference_number": None},
        {"conference_number": "1", "dial_in": "2"},
        "https://x",
    ):
        answer = sb.rest(
            "PUT", path, {"incident": {"conference_bridge": bad}}, from_email=sb.user_email
        )
        refused(openapi, answer)
    status, body = sb.rest("GET", path)
    assert status == 200 and body["incident"]["conference_bridge"] == good
    conforms(openapi, Op("GET", "/incidents/{id}", 200), body)


def test_events_acknowledge_lists_the_service_as_acknowledger(
    sb: SandboxHandle, openapi: dict[str, Any]
) -> None:
    sb.send_event("trigger", dedup_key="ack-me")
    assert sb.send_event("acknowledge", dedup_key="ack-me")[0] == 202
    path = f"/incidents/{incident_of(sb, 'ack-me')}"
    status, body = sb.rest("GET", path)
    assert status == 200
    conforms(openapi, Op("GET", "/incidents/{id}", 200), body)
    incident = body["incident"]
    assert incident["status"] == "acknowledged"
    [ack] = incident["acknowledgements"]
    assert ack["acknowledger"]["type"] == "service_reference"
    assert ack["acknowledger"]["id"] == "PDEMO01"
    assert parse_time(ack["at"]) == parse_time(incident["last_status_change_at"])
    status, body = sb.rest("GET", f"{path}?include[]=acknowledgers")
    conforms(openapi, Op("GET", "/incidents/{id}", 200), body)
    assert body["incident"]["acknowledgements"][0]["acknowledger"]["type"] == "service"
    assert sb.send_event("resolve", dedup_key="ack-me")[0] == 202
    assert sb.rest("GET", path)[1]["incident"]["acknowledgements"] == []


def test_alert_contexts_are_typed_and_creation_time_is_filled(
    sb: SandboxHandle, openapi: dict[str, Any]
) -> None:
    before = sb.runtime.state.now().replace(microsecond=0)
    sb.send_event(
        "trigger",
        dedup_key="contexts",
        links=[{"href": "https://example.com/run", "text": "runbook"}],
        images=[{"src": "https://example.com/g.png", "href": "https://example.com/g"}],
    )
    stamped = {
        "summary": "s",
        "source": "h",
        "severity": "info",
        "timestamp": "2015-07-17T08:42:58.315+0000",
    }
    sb.send_event("trigger", dedup_key="stamped", payload=stamped)
    after = sb.runtime.state.now()
    status, body = sb.rest("GET", f"/incidents/{incident_of(sb, 'contexts')}/alerts")
    assert status == 200
    conforms(openapi, Op("GET", "/incidents/{id}/alerts", 200), body)
    alert_body = body["alerts"][0]["body"]
    assert alert_body["contexts"] == [
        {"type": "link", "href": "https://example.com/run", "text": "runbook"},
        {"type": "image", "src": "https://example.com/g.png", "href": "https://example.com/g"},
    ]
    received = parse_time(alert_body["cef_details"]["creation_time"])
    assert before <= received <= after
    _, body = sb.rest("GET", f"/incidents/{incident_of(sb, 'stamped')}/alerts")
    assert body["alerts"][0]["body"]["cef_details"]["creation_time"] == stamped["timestamp"]


@pytest.mark.parametrize("payload", ["text", 5, 1.5, True, [1, 2], []])
@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_non_object_payload_on_acknowledge_or_resolve_is_an_invalid_event(
    sb: SandboxHandle, action: str, payload: Any
) -> None:
    sb.send_event("trigger", dedup_key="payload")
    status, body = sb.send_event(action, dedup_key="payload", payload=payload)
    assert status == 400, body
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any("'payload'" in error for error in body["errors"]), body
    assert sb.send_event(action, dedup_key="payload", payload={"summary": "ok"})[0] == 202
