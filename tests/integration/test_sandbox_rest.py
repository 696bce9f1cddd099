"""REST API v2 behaviour of the sandbox: auth, From, pagination, filters, updates, errors."""

from __future__ import annotations

from typing import Any

import pytest

from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox

SERVICE = {"id": "PDEMO01", "type": "service_reference"}


def create(sb: SandboxHandle, title: str = "t", **fields: Any) -> tuple[int, Any]:
    body = {"incident": {"type": "incident", "title": title, "service": SERVICE, **fields}}
    return sb.rest("POST", "/incidents", body, from_email=sb.user_email)


def test_auth_token_and_missing_or_wrong(sandbox: SandboxHandle) -> None:
    status, body = sandbox.request("GET", "/incidents")
    assert status == 401
    assert body == {"error": {"message": "Authentication failed", "code": 2006}}
    status, _ = sandbox.request("GET", "/incidents", headers={"Authorization": "Token token=no"})
    assert status == 401
    status, _ = sandbox.request(
        "GET", "/incidents", headers={"Authorization": "Bearer not-a-token"}
    )
    assert status == 401
    assert sandbox.rest("GET", "/incidents")[0] == 200


def test_oauth_bearer_token_is_accepted(sandbox: SandboxHandle) -> None:
    import urllib.parse
    import urllib.request

    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "scope": "as_account-us.sandbox incidents.read",
        }
    ).encode()
    req = urllib.request.Request(
        sandbox.url + "/oauth/token",
        data=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    import json

    with urllib.request.urlopen(req, timeout=5) as resp:
        token = json.loads(resp.read())["access_token"]
    status, body = sandbox.request(
        "GET", "/incidents", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200 and body["incidents"] == []


def test_from_header_is_required_for_writes_with_account_token(sandbox: SandboxHandle) -> None:
    body = {"incident": {"type": "incident", "title": "x", "service": SERVICE}}
    status, answer = sandbox.rest("POST", "/incidents", body)
    assert status == 400 and answer["error"]["code"] == 2011
    status, answer = sandbox.rest("POST", "/incidents", body, from_email="nobody@example.com")
    assert status == 400 and answer["error"]["message"] == "Requester User Not Found"
    # a user-level token acts as its user: no From needed
    sandbox.token = "sandbox-user-token"
    assert sandbox.rest("POST", "/incidents", body)[0] == 201


def test_create_rejects_repeated_open_incident_key(sandbox: SandboxHandle) -> None:
    status, body = create(sandbox, incident_key="same")
    assert status == 201
    incident = body["incident"]
    assert incident["incident_key"] == "same" and incident["status"] == "triggered"
    status, body = create(sandbox, incident_key="same")
    assert status == 400
    assert body["error"]["code"] == 2002  # "Arguments Caused Error", as PagerDuty answers it
    assert "matching dedup key" in body["error"]["errors"][0]
    sandbox.rest(
        "PUT",
        f"/incidents/{incident['id']}",
        {"incident": {"type": "incident_reference", "status": "resolved"}},
        from_email=sandbox.user_email,
    )
    assert create(sandbox, incident_key="same")[0] == 201


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"incident": {"type": "incident", "service": SERVICE}}, "title"),
        ({"incident": {"type": "incident", "title": "x"}}, "service"),
        (
            {
                "incident": {
                    "type": "incident",
                    "title": "x",
                    "service": SERVICE,
                    "urgency": "medium",
                }
            },
            "urgency",
        ),
        ({"nothing": 1}, "'incident' must be an object"),
    ],
)
def test_create_validation_errors(sandbox: SandboxHandle, body: Any, fragment: str) -> None:
    status, answer = sandbox.rest("POST", "/incidents", body, from_email=sandbox.user_email)
    assert status == 400, answer
    assert fragment in " ".join(answer["error"]["errors"])


def test_update_status_reopen_priority_urgency_assign_policy(sandbox: SandboxHandle) -> None:
    _, body = create(sandbox)
    iid = body["incident"]["id"]

    def put(**changes: Any) -> tuple[int, Any]:
        return sandbox.rest(
            "PUT",
            f"/incidents/{iid}",
            {"incident": {"type": "incident_reference", **changes}},
            from_email=sandbox.user_email,
        )

    status, body = put(status="acknowledged")
    assert status == 200 and body["incident"]["status"] == "acknowledged"
    assert body["incident"]["acknowledgements"][0]["acknowledger"]["id"] == "PDEMOU1"
    assert put(status="triggered")[1]["incident"]["status"] == "triggered"  # unacknowledge
    assert put(status="resolved", resolution="fixed")[1]["incident"]["status"] == "resolved"
    status, body = put(status="acknowledged")
    assert status == 400 and body["error"]["code"] == 1001
    status, body = put(status="triggered")  # reopen
    assert status == 200 and body["incident"]["status"] == "triggered"
    assert body["incident"]["resolved_at"] is None
    status, body = put(priority={"id": "PDEMOP1", "type": "priority_reference"})
    assert body["incident"]["priority"]["name"] == "P1"
    assert put(urgency="low")[1]["incident"]["urgency"] == "low"
    status, body = put(assignments=[{"assignee": {"id": "PDEMOU2", "type": "user_reference"}}])
    assert [a["assignee"]["id"] for a in body["incident"]["assignments"]] == ["PDEMOU2"]
    status, body = put(escalation_policy={"id": "PDEMOEP", "type": "escalation_policy_reference"})
    assert body["incident"]["assignments"][0]["assignee"]["id"] == "PDEMOU1"
    status, body = put(escalation_level=2)
    assert [a["assignee"]["id"] for a in body["incident"]["assignments"]] == ["PDEMOU2"]
    status, body = put(escalation_level=9)
    assert status == 400 and body["error"]["code"] == 1006
    status, body = put(status="snoozed")
    assert status == 400 and body["error"]["code"] == 1003
    _, entries = sandbox.rest("GET", f"/incidents/{iid}/log_entries")
    kinds = [e["type"] for e in entries["log_entries"]]
    for kind in ("trigger", "acknowledge", "unacknowledge", "resolve", "assign", "escalate"):
        assert f"{kind}_log_entry" in kinds


def test_bulk_update(sandbox: SandboxHandle) -> None:
    ids = [create(sandbox, f"t{i}")[1]["incident"]["id"] for i in range(3)]
    body = {
        "incidents": [{"id": i, "type": "incident_reference", "status": "resolved"} for i in ids]
    }
    status, answer = sandbox.rest("PUT", "/incidents", body, from_email=sandbox.user_email)
    assert status == 200
    assert [i["status"] for i in answer["incidents"]] == ["resolved"] * 3
    status, answer = sandbox.rest(
        "PUT", "/incidents", {"incidents": [{"id": "NOPE"}]}, from_email=sandbox.user_email
    )
    assert status == 404


def test_list_filters_sorting_and_pagination(sandbox: SandboxHandle) -> None:
    for i in range(12):
        create(sandbox, f"n{i}", incident_key=f"key-{i}", urgency="low" if i % 2 else "high")
    _, body = sandbox.rest("GET", "/incidents?urgencies[]=low&total=true")
    assert body["total"] == 6 and {i["urgency"] for i in body["incidents"]} == {"low"}
    _, body = sandbox.rest("GET", "/incidents?incident_key=key-3")
    assert [i["title"] for i in body["incidents"]] == ["n3"]
    _, body = sandbox.rest("GET", "/incidents?limit=5&offset=10&sort_by=incident_number:desc")
    assert [i["incident_number"] for i in body["incidents"]] == [2, 1]
    assert body["more"] is False and body["limit"] == 5 and body["offset"] == 10
    assert body["total"] is None
    _, body = sandbox.rest("GET", "/incidents?limit=5")
    assert body["more"] is True
    _, body = sandbox.rest("GET", "/incidents?service_ids[]=OTHER")
    assert body["incidents"] == []
    _, body = sandbox.rest("GET", "/incidents?since=2000-01-01T00:00:00Z&until=2000-02-01T00:00Z")
    assert body["incidents"] == []
    _, body = sandbox.rest("GET", "/incidents?include[]=services&include[]=assignees&limit=1")
    assert body["incidents"][0]["service"]["type"] == "service"
    assert body["incidents"][0]["assignments"][0]["assignee"]["type"] == "user"


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("offset=9990&limit=20", 2001),
        ("statuses[]=open", 2001),
        ("since=yesterday", 2004),
        ("since=2020-02-01T00:00:00Z&until=2020-01-01T00:00:00Z", 2005),
        ("sort_by=title", 2001),
        ("limit=abc", 2001),
    ],
)
def test_list_errors(sandbox: SandboxHandle, query: str, code: int) -> None:
    status, body = sandbox.rest("GET", f"/incidents?{query}")
    assert status == 400
    assert body["error"]["code"] == code
    assert body["error"]["errors"]


def test_not_found_and_method(sandbox: SandboxHandle) -> None:
    status, body = sandbox.rest("GET", "/incidents/NOPE")
    assert status == 404 and body["error"]["code"] == 2100
    assert sandbox.rest("GET", "/services/NOPE")[1]["error"]["code"] == 5002
    assert sandbox.rest("GET", "/abilities/nonexistent")[0] == 402


def test_notes_and_log_entries(sandbox: SandboxHandle) -> None:
    iid = create(sandbox)[1]["incident"]["id"]
    status, body = sandbox.rest(
        "POST",
        f"/incidents/{iid}/notes",
        {"note": {"content": "hi"}},
        from_email=sandbox.user_email,
    )
    assert status == 200 and body["note"]["user"]["id"] == "PDEMOU1"
    assert sandbox.rest("POST", f"/incidents/{iid}/notes", {"note": {"content": "x"}})[0] == 400
    _, body = sandbox.rest("GET", f"/incidents/{iid}/notes")
    assert [n["content"] for n in body["notes"]] == ["hi"]
    _, body = sandbox.rest("GET", "/log_entries?include[]=incidents")
    annotate = [e for e in body["log_entries"] if e["type"] == "annotate_log_entry"]
    assert annotate and annotate[0]["incident"]["type"] == "incident"


def test_oncalls_and_schedule_rendering(sandbox: SandboxHandle) -> None:
    _, body = sandbox.rest("GET", "/oncalls?since=2024-01-03T00:00:00Z")
    first = [e for e in body["oncalls"] if e["escalation_level"] == 1]
    assert first[0]["user"]["id"] == "PDEMOU1" and first[0]["schedule"]["id"] == "PDEMOS1"
    assert first[0]["start"] == "2024-01-01T00:00:00Z" and first[0]["end"] == "2024-01-08T00:00:00Z"
    _, body = sandbox.rest("GET", "/oncalls?user_ids[]=PDEMOU2")
    assert [e["escalation_level"] for e in body["oncalls"]] == [2]
    _, body = sandbox.rest(
        "GET", "/schedules/PDEMOS1?since=2024-01-05T00:00:00Z&until=2024-01-20T00:00:00Z"
    )
    entries = body["schedule"]["final_schedule"]["rendered_schedule_entries"]
    assert entries == [
        {
            "start": "2024-01-05T00:00:00Z",
            "end": "2024-01-20T00:00:00Z",
            "user": entries[0]["user"],
        }
    ]
    assert body["schedule"]["final_schedule"]["rendered_coverage_percentage"] == 100.0


def test_webhook_subscription_secret_shown_once(sandbox: SandboxHandle) -> None:
    body = {
        "webhook_subscription": {
            "type": "webhook_subscription",
            "delivery_method": {
                "type": "http_delivery_method",
                "url": "http://127.0.0.1:9/x",
                "custom_headers": [{"name": "X-Token", "value": "s3cret"}],
            },
            "events": ["incident.triggered"],
            "filter": {"type": "service_reference", "id": "PDEMO01"},
        }
    }
    status, created = sandbox.rest("POST", "/webhook_subscriptions", body)
    assert status == 200
    secret = created["webhook_subscription"]["delivery_method"]["secret"]
    assert isinstance(secret, str) and len(secret) >= 32
    sid = created["webhook_subscription"]["id"]
    _, fetched = sandbox.rest("GET", f"/webhook_subscriptions/{sid}")
    method = fetched["webhook_subscription"]["delivery_method"]
    assert method["secret"] is None
    assert method["custom_headers"][0]["value"] == "redacted"
    bad = {"webhook_subscription": {**body["webhook_subscription"], "events": ["nope"]}}
    assert sandbox.rest("POST", "/webhook_subscriptions", bad)[0] == 400


def test_rest_rate_limit_headers_and_429() -> None:
    with running_sandbox(rest_per_minute=3) as sb:
        for _ in range(3):
            status, _ = sb.rest("GET", "/services")
            assert status == 200
        import urllib.error
        import urllib.request

        req = urllib.request.Request(
            sb.url + "/services", headers={"Authorization": f"Token token={sb.token}"}
        )
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(req, timeout=5)
        assert caught.value.code == 429
        assert caught.value.headers["ratelimit-limit"] == "3"
        assert caught.value.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(caught.value.headers["ratelimit-reset"]) <= 60
        assert b'"code": 2020' in caught.value.read()
        # the Events API has its own limit and is unaffected
        assert sb.send_event("trigger")[0] == 202


def test_rate_limit_headers_on_success(sandbox: SandboxHandle) -> None:
    import urllib.request

    req = urllib.request.Request(
        sandbox.url + "/priorities", headers={"Authorization": f"Token token={sandbox.token}"}
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["ratelimit-limit"] == "960"
        assert resp.headers["ratelimit-remaining"] == "959"


def oauth_token(sb: SandboxHandle, scope: str) -> str:
    import json
    import urllib.parse
    import urllib.request

    form = urllib.parse.urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": "sandbox-client",
            "client_secret": "sandbox-secret",
            "scope": scope,
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


def test_oauth_scopes_are_enforced(sandbox: SandboxHandle) -> None:
    token = oauth_token(sandbox, "as_account-us.sandbox incidents.read")
    auth = {"Authorization": f"Bearer {token}"}
    assert sandbox.request("GET", "/log_entries", headers=auth)[0] == 200
    status, body = sandbox.request("GET", "/services", headers=auth)
    assert status == 403 and body["error"]["code"] == 2010
    assert "services.read" in body["error"]["errors"][0]
    incident = {"incident": {"type": "incident", "title": "x", "service": SERVICE}}
    status, body = sandbox.request(
        "POST", "/incidents", incident, headers={**auth, "From": sandbox.user_email}
    )
    assert status == 403 and "incidents.write" in body["error"]["errors"][0]
    writer = oauth_token(sandbox, "as_account-us.sandbox incidents.write")
    status, _ = sandbox.request(
        "POST",
        "/incidents",
        incident,
        headers={"Authorization": f"Bearer {writer}", "From": sandbox.user_email},
    )
    assert status == 201


def test_resolving_the_alert_resolves_the_incident(sandbox: SandboxHandle) -> None:
    sandbox.send_event("trigger", dedup_key="via-alert")
    incident = next(iter(sandbox.runtime.state.incidents.values()))
    _, body = sandbox.rest("GET", f"/incidents/{incident['id']}/alerts")
    [alert] = body["alerts"]
    status, body = sandbox.rest(
        "PUT",
        f"/incidents/{incident['id']}/alerts/{alert['id']}",
        {"alert": {"type": "alert", "status": "resolved"}},
        from_email=sandbox.user_email,
    )
    assert status == 200 and body["alert"]["status"] == "resolved"
    assert (
        sandbox.rest("GET", f"/incidents/{incident['id']}")[1]["incident"]["status"] == "resolved"
    )
    # the dedup key is free again: a new trigger opens a new incident
    sandbox.send_event("trigger", dedup_key="via-alert")
    assert len(sandbox.runtime.state.incidents) == 2


def test_maintenance_window_update_and_audit_cursor(sandbox: SandboxHandle) -> None:
    for i in range(3):
        status, _ = sandbox.rest("PUT", "/services/PDEMO01", {"service": {"description": f"d{i}"}})
        assert status == 200
    _, page1 = sandbox.rest("GET", "/audit/records?limit=2")
    assert len(page1["records"]) == 2 and page1["next_cursor"]
    fields = page1["records"][0]["details"]["fields"]
    assert fields == [{"name": "description", "value": "d2", "before_value": "d1"}]
    _, page2 = sandbox.rest("GET", f"/audit/records?limit=2&cursor={page1['next_cursor']}")
    assert len(page2["records"]) == 1 and page2["next_cursor"] is None
    assert sandbox.rest("GET", "/audit/records?cursor=!!")[0] == 400

    start = sandbox.runtime.state.now()
    from datetime import timedelta

    from pagerbridge.sandbox.state import iso

    window = {
        "type": "maintenance_window",
        "start_time": iso(start + timedelta(hours=1)),
        "end_time": iso(start + timedelta(hours=2)),
        "services": [SERVICE],
    }
    _, body = sandbox.rest(
        "POST",
        "/maintenance_windows",
        {"maintenance_window": window},
        from_email=sandbox.user_email,
    )
    wid = body["maintenance_window"]["id"]
    status, body = sandbox.rest(
        "PUT",
        f"/maintenance_windows/{wid}",
        {"maintenance_window": {"start_time": iso(start - timedelta(minutes=5))}},
    )
    assert status == 200
    sandbox.send_event("trigger", dedup_key="during")  # the window now covers the present
    assert sandbox.arrivals()[-1]["outcome"] == "suppressed"
    bad = {"maintenance_window": {"end_time": iso(start - timedelta(hours=1))}}
    assert sandbox.rest("PUT", f"/maintenance_windows/{wid}", bad)[0] == 400


def test_unknown_route_and_method_are_json_errors(sandbox: SandboxHandle) -> None:
    status, body = sandbox.rest("GET", "/business_services")
    assert status == 404 and body["error"]["code"] == 2100
    status, body = sandbox.rest("DELETE", "/incidents")
    assert status == 405 and body["error"]["message"] == "Method Not Allowed"


def test_updates_are_all_or_nothing(sandbox: SandboxHandle) -> None:
    first = create(sandbox, "first")[1]["incident"]["id"]
    second = create(sandbox, "second")[1]["incident"]["id"]
    status, body = sandbox.rest(
        "PUT",
        f"/incidents/{first}",
        {
            "incident": {
                "title": "renamed",
                "priority": {"id": "NOPE", "type": "priority_reference"},
            }
        },
        from_email=sandbox.user_email,
    )
    assert status == 400 and body["error"]["code"] == 1020
    assert sandbox.rest("GET", f"/incidents/{first}")[1]["incident"]["title"] == "first"
    bulk = {
        "incidents": [
            {"id": first, "type": "incident_reference", "status": "resolved"},
            {"id": second, "type": "incident_reference", "status": "snoozed"},
        ]
    }
    status, _ = sandbox.rest("PUT", "/incidents", bulk, from_email=sandbox.user_email)
    assert status == 400
    assert sandbox.rest("GET", f"/incidents/{first}")[1]["incident"]["status"] == "triggered"
