"""Events API v2 semantics of the sandbox, over real loopback HTTP."""

from __future__ import annotations

from typing import Any

from pagerbridge.sandbox.testing import SandboxHandle


def incidents(sandbox: SandboxHandle, **params: str) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in {"date_range": "all", **params}.items())
    status, body = sandbox.rest("GET", f"/incidents?{query}")
    assert status == 200, body
    result: list[dict[str, Any]] = body["incidents"]
    return result


def test_trigger_opens_alert_and_incident_with_pagerduty_answer(sandbox: SandboxHandle) -> None:
    status, body = sandbox.send_event("trigger", dedup_key="disk/web1")
    assert status == 202
    assert body == {"status": "success", "message": "Event processed", "dedup_key": "disk/web1"}
    [incident] = incidents(sandbox)
    assert incident["status"] == "triggered"
    assert incident["incident_key"] == "disk/web1"
    assert incident["service"]["id"] == sandbox.service_id
    assert incident["assignments"][0]["assignee"]["id"] == "PDEMOU1"  # on call in the schedule
    assert incident["alert_counts"] == {"all": 1, "triggered": 1, "resolved": 0}


def test_trigger_without_dedup_key_gets_one(sandbox: SandboxHandle) -> None:
    status, body = sandbox.send_event("trigger")
    assert status == 202
    assert len(body["dedup_key"]) == 32
    assert incidents(sandbox)[0]["incident_key"] == body["dedup_key"]


def test_same_key_deduplicates_then_ack_and_resolve(sandbox: SandboxHandle) -> None:
    sandbox.send_event("trigger", dedup_key="k")
    sandbox.send_event("trigger", dedup_key="k")
    assert len(incidents(sandbox)) == 1
    assert sandbox.send_event("acknowledge", dedup_key="k")[0] == 202
    assert incidents(sandbox)[0]["status"] == "acknowledged"
    assert sandbox.send_event("resolve", dedup_key="k")[0] == 202
    [incident] = incidents(sandbox)
    assert incident["status"] == "resolved"
    assert incident["alert_counts"] == {"all": 1, "triggered": 0, "resolved": 1}
    outcomes = [(a["event_action"], a["outcome"]) for a in sandbox.arrivals()]
    assert outcomes == [
        ("trigger", "created"),
        ("trigger", "deduplicated"),
        ("acknowledge", "acknowledged"),
        ("resolve", "resolved"),
    ]


def test_after_resolve_old_actions_are_dropped_and_trigger_opens_new(
    sandbox: SandboxHandle,
) -> None:
    sandbox.send_event("trigger", dedup_key="k")
    sandbox.send_event("resolve", dedup_key="k")
    assert sandbox.send_event("acknowledge", dedup_key="k")[0] == 202
    assert sandbox.send_event("resolve", dedup_key="k")[0] == 202
    assert [i["status"] for i in incidents(sandbox)] == ["resolved"]
    sandbox.send_event("trigger", dedup_key="k")
    statuses = [i["status"] for i in incidents(sandbox)]
    assert statuses == ["resolved", "triggered"]
    assert [a["outcome"] for a in sandbox.arrivals()] == [
        "created",
        "resolved",
        "dropped",
        "dropped",
        "created",
    ]


def test_acknowledge_unknown_key_is_accepted_and_dropped(sandbox: SandboxHandle) -> None:
    status, body = sandbox.send_event("acknowledge", dedup_key="never-seen")
    assert status == 202 and body["dedup_key"] == "never-seen"
    assert incidents(sandbox) == []


def test_invalid_event_gets_pagerduty_400(sandbox: SandboxHandle) -> None:
    status, body = sandbox.request(
        "POST",
        "/v2/enqueue",
        {
            "routing_key": sandbox.routing_key,
            "event_action": "trigger",
            "payload": {"summary": "x", "source": "y", "severity": "bad"},
        },
    )
    assert status == 400
    assert body["status"] == "invalid event"
    assert any("payload.severity" in e for e in body["errors"])
    assert sandbox.arrivals() == []


def test_unparseable_body_and_unknown_routing_key(sandbox: SandboxHandle) -> None:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(sandbox.events_url, data=b"{not json", method="POST")
    try:
        urllib.request.urlopen(req, timeout=5)
        raise AssertionError("expected 400")
    except urllib.error.HTTPError as exc:
        assert exc.code == 400
        assert b"JSON parse error" in exc.read()
    status, body = sandbox.request(
        "POST",
        "/v2/enqueue",
        {
            "routing_key": "0" * 32,
            "event_action": "trigger",
            "payload": {"summary": "x", "source": "y", "severity": "info"},
        },
    )
    assert status == 400
    assert "routing_key" in body["errors"][0]


def test_change_events_are_stored(sandbox: SandboxHandle) -> None:
    status, body = sandbox.request(
        "POST",
        "/v2/change/enqueue",
        {"routing_key": sandbox.routing_key, "payload": {"summary": "deploy 42", "source": "ci"}},
    )
    assert status == 202 and body["status"] == "success"
    status, body = sandbox.rest("GET", "/change_events")
    assert [e["summary"] for e in body["change_events"]] == ["deploy 42"]
    assert sandbox.arrivals()[0]["change"] is True


def test_maintenance_window_suppresses_incidents(sandbox: SandboxHandle) -> None:
    now = sandbox.runtime.state.now()
    from datetime import timedelta

    from pagerbridge.sandbox.state import iso

    status, body = sandbox.rest(
        "POST",
        "/maintenance_windows",
        {
            "maintenance_window": {
                "type": "maintenance_window",
                "start_time": iso(now - timedelta(minutes=1)),
                "end_time": iso(now + timedelta(hours=1)),
                "description": "upgrade",
                "services": [{"id": sandbox.service_id, "type": "service_reference"}],
            }
        },
        from_email=sandbox.user_email,
    )
    assert status == 201, body
    assert sandbox.send_event("trigger", dedup_key="m")[0] == 202
    assert incidents(sandbox) == []
    assert sandbox.arrivals()[0]["outcome"] == "suppressed"
    window_id = body["maintenance_window"]["id"]
    assert sandbox.rest("DELETE", f"/maintenance_windows/{window_id}")[0] == 204
    sandbox.send_event("trigger", dedup_key="m")
    assert len(incidents(sandbox)) == 1


def test_events_rate_limit_per_routing_key() -> None:
    from pagerbridge.sandbox.testing import running_sandbox

    with running_sandbox(events_per_minute=3) as sb:
        codes = [sb.send_event("trigger", dedup_key=f"k{i}")[0] for i in range(5)]
        assert codes == [202, 202, 202, 429, 429]
        status, body = sb.send_event("trigger")
        assert status == 429 and body["status"] == "throttle event"
        assert len(sb.arrivals()) == 3


def test_sink_mode_counts_without_incidents() -> None:
    from pagerbridge.sandbox.testing import running_sandbox

    with running_sandbox(sink=True, rate_limits=False) as sb:
        for i in range(5):
            assert sb.send_event("trigger", dedup_key=f"s{i}")[0] == 202
        assert sb.send_event("trigger", payload={"summary": "x"})[0] == 400
        assert sb.sink_count() == 5
        assert sb.arrivals() == []
        assert sb.runtime.state.incidents == {}


def test_any_routing_key_gives_each_key_a_service() -> None:
    from pagerbridge.sandbox.testing import running_sandbox

    with running_sandbox(any_routing_key=True) as sb:
        for key in ("a" * 32, "b" * 32, "a" * 32):
            sb.routing_key = key
            assert sb.send_event("trigger")[0] == 202
        _, body = sb.rest("GET", "/services?total=true")
        assert body["total"] == 3  # the demo service and one per new key
        _, body = sb.rest("GET", "/incidents")
        assert len({i["service"]["id"] for i in body["incidents"]}) == 2
