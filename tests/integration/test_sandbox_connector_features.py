"""What the PagerDuty connector needs of the sandbox (issue 13 item 5, issue 14), over real HTTP.

A read-only API key, incident custom fields, users found by email, incident_key lookups and the
duplicate-key 400, PagerDuty's 6-month search cap, and the request record tests count calls
with. Scripted faults and the state file are in test_sandbox_connector_faults.py; answers
PagerDuty's OpenAPI describes are validated in tests/contract/test_sandbox_connector_contract.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pagerbridge.sandbox.app import rest_routes
from pagerbridge.sandbox.request_log import fingerprint
from pagerbridge.sandbox.state import iso
from pagerbridge.sandbox.testing import (
    SandboxHandle,
    running_sandbox,
)

SERVICE = {"id": "PDEMO01", "type": "service_reference"}


class ShiftedClock:
    """Real time plus an offset a test can move (incidents "created months ago")."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
def shared() -> Iterator[tuple[SandboxHandle, ShiftedClock]]:
    clock = ShiftedClock()
    with running_sandbox(clock=clock, rate_limits=False) as sb:
        yield sb, clock


@pytest.fixture
def sb(shared: tuple[SandboxHandle, ShiftedClock]) -> Iterator[SandboxHandle]:
    """The module's sandbox, back at the seed, its clock at now."""
    handle, clock = shared
    clock.offset = timedelta()
    handle.reset()
    yield handle
    clock.offset = timedelta()


def create(
    sb: SandboxHandle, key: str | None = None, *, token: str | None = None
) -> tuple[int, Any]:
    incident: dict[str, Any] = {"type": "incident", "title": "db slow", "service": SERVICE}
    if key is not None:
        incident["incident_key"] = key
    body = {"incident": incident}
    return sb.rest("POST", "/incidents", body, from_email=sb.user_email, token=token)


def put(sb: SandboxHandle, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
    return sb.rest("PUT", path, body, from_email=sb.user_email, **kw)


# -- a. the read-only API key --------------------------------------------------------------


def _concrete(path: str) -> str:
    return (
        path.replace("{id}", "PNOPE01")
        .replace("{alert_id}", "QNOPE")
        .replace("{field_id}", "PDEMOF1")
    )


def test_readonly_key_reads_everything_and_every_rest_write_is_a_403(sb: SandboxHandle) -> None:
    routes = [(m, r.path) for r in rest_routes() for m in sorted(r.methods or ()) if m != "HEAD"]
    writes = [(m, p) for m, p in routes if m != "GET"]
    assert len(writes) >= 19
    status, before = sb.rest("GET", "/incidents?date_range=all")
    for method, path in writes:
        status, body = sb.rest(method, _concrete(path), {}, token=sb.readonly_token)
        assert status == 403, (method, path, body)
        assert body["error"]["code"] == 2010 and body["error"]["message"] == "Access Denied"
        assert "read-only" in body["error"]["errors"][0]
    for method, path in routes:
        if method == "GET" and "{" not in path and path != "/users/me":
            status, body = sb.rest("GET", path, token=sb.readonly_token)
            assert status == 200, (path, body)
    # the refused create changed nothing; the same call with the full key works
    assert sb.rest("GET", "/incidents?date_range=all")[1] == before
    status, body = create(sb, key="ro")
    assert status == 201
    status, body = sb.rest("GET", "/incidents/" + body["incident"]["id"], token=sb.readonly_token)
    assert status == 200 and body["incident"]["incident_key"] == "ro"


# -- b. incident custom fields ---------------------------------------------------------------


def test_custom_fields_are_defined_set_by_name_or_id_and_read_back(sb: SandboxHandle) -> None:
    status, body = sb.rest("GET", "/incidents/custom_fields")
    assert status == 200
    fields = {f["name"]: f for f in body["fields"]}
    assert {"environment", "customer_impact"} <= set(fields)
    assert fields["environment"]["data_type"] == "string"
    incident = create(sb)[1]["incident"]["id"]
    path = f"/incidents/{incident}/custom_fields/values"
    status, body = sb.rest("GET", path)
    assert status == 200
    assert {v["name"]: v["value"] for v in body["custom_fields"]} == {
        "environment": None,
        "customer_impact": None,
    }
    env_id = fields["environment"]["id"]
    status, body = put(
        sb,
        path,
        {
            "custom_fields": [
                {"name": "customer_impact", "value": "checkout fails for 5%"},
                {"id": env_id, "value": "production"},
            ]
        },
    )
    assert status == 201
    assert [v["name"] for v in body["custom_fields"]] == ["customer_impact", "environment"]
    values = {v["name"]: v["value"] for v in sb.rest("GET", path)[1]["custom_fields"]}
    assert values == {"environment": "production", "customer_impact": "checkout fails for 5%"}
    # by incident number too, and null clears
    number = sb.rest("GET", f"/incidents/{incident}")[1]["incident"]["incident_number"]
    put(sb, f"/incidents/{number}/custom_fields/values", {"custom_fields": [
        {"name": "environment", "value": None}]})  # fmt: skip
    values = {v["name"]: v["value"] for v in sb.rest("GET", path)[1]["custom_fields"]}
    assert values["environment"] is None and values["customer_impact"]
    assert sb.rest("GET", "/incidents/PNOPE01/custom_fields/values")[0] == 404


@pytest.mark.parametrize(
    ("item", "fragment"),
    [
        ({"name": "nope", "value": "x"}, "no custom field is named 'nope'"),
        ({"id": "PNOPE01", "value": "x"}, "no custom field has id"),
        ({"name": "environment", "value": 5}, "must be a string"),
        ({"name": "environment", "value": ["a"]}, "must be a string"),
        ({"name": "environment", "value": "x" * 201}, "longer than 200"),
        ({"name": "environment"}, "'value'"),
        ({"value": "x"}, "needs 'name' or 'id'"),
    ],
)
def test_custom_field_values_refused_as_pagerduty_does(
    sb: SandboxHandle, item: dict[str, Any], fragment: str
) -> None:
    incident = create(sb)[1]["incident"]["id"]
    path = f"/incidents/{incident}/custom_fields/values"
    valid = {"name": "customer_impact", "value": "none"}
    status, body = put(sb, path, {"custom_fields": [valid, item]})
    assert status == 400, body
    assert body["error"]["code"] == 2001 and fragment in " ".join(body["error"]["errors"])
    # all or nothing: the valid item before the bad one was not stored
    values = {v["name"]: v["value"] for v in sb.rest("GET", path)[1]["custom_fields"]}
    assert values["customer_impact"] is None


def test_custom_field_definitions_types_options_and_delete(sb: SandboxHandle) -> None:
    def field(**kw: Any) -> tuple[int, Any]:
        return sb.rest("POST", "/incidents/custom_fields", {"field": kw})

    status, body = field(name="Bad Name", display_name="X", data_type="string")
    assert status == 400 and "lower-case" in body["error"]["errors"][0]
    assert field(name="environment", display_name="Env2", data_type="string")[0] == 400
    assert (
        field(name="n", display_name="N", data_type="integer", field_type="multi_value")[0] == 400
    )
    status, body = field(
        name="tier",
        display_name="Tier",
        data_type="string",
        field_type="multi_value_fixed",
        field_options=[{"data": {"data_type": "string", "value": v}} for v in ("a", "b")],
    )
    assert status == 201
    tier = body["field"]["id"]
    count = field(name="count", display_name="Count", data_type="integer")[1]["field"]["id"]
    incident = create(sb)[1]["incident"]["id"]
    path = f"/incidents/{incident}/custom_fields/values"
    assert put(sb, path, {"custom_fields": [{"id": tier, "value": ["a", "c"]}]})[0] == 400
    assert put(sb, path, {"custom_fields": [{"id": count, "value": True}]})[0] == 400
    status, body = put(
        sb, path, {"custom_fields": [{"id": tier, "value": ["b", "a"]}, {"id": count, "value": 3}]}
    )
    assert status == 201
    values = {v["name"]: v["value"] for v in sb.rest("GET", path)[1]["custom_fields"]}
    assert values["tier"] == ["b", "a"] and values["count"] == 3
    status, body = sb.rest("GET", f"/incidents/custom_fields/{tier}?include[]=field_options")
    assert [o["data"]["value"] for o in body["field"]["field_options"]] == ["a", "b"]
    assert "field_options" not in sb.rest("GET", f"/incidents/custom_fields/{tier}")[1]["field"]
    assert sb.rest("DELETE", f"/incidents/custom_fields/{tier}")[0] == 204
    names = {v["name"] for v in sb.rest("GET", path)[1]["custom_fields"]}
    assert "tier" not in names and "count" in names
    assert sb.rest("GET", f"/incidents/custom_fields/{tier}")[0] == 404


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)
ITEM = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["environment", "customer_impact", "x"]) | JSON,
        "id": st.sampled_from(["PDEMOF1", "PDEMOF2"]) | JSON,
        "value": JSON,
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(
        JSON, st.fixed_dictionaries({"custom_fields": st.lists(ITEM, max_size=3) | JSON})
    )
)
def test_hostile_custom_field_values_never_break_a_later_read(
    shared: tuple[SandboxHandle, ShiftedClock], body: Any
) -> None:
    handle, _ = shared
    incidents = handle.runtime.state.incidents
    incident = next(iter(incidents)) if incidents else create(handle)[1]["incident"]["id"]
    path = f"/incidents/{incident}/custom_fields/values"
    status, answer = put(handle, path, body)
    assert status in (201, 400), answer
    status, answer = handle.rest("GET", path)
    assert status == 200
    json.dumps(answer)  # stored values are plain JSON


FIELD = st.fixed_dictionaries(
    {},
    optional={
        "name": st.sampled_from(["ok_name", "Bad", ""]) | JSON,
        "display_name": st.text(max_size=60) | JSON,
        "data_type": st.sampled_from(["string", "integer", "url", "x"]) | JSON,
        "field_type": st.sampled_from(["single_value", "multi_value_fixed"]) | JSON,
        "default_value": JSON,
        "field_options": st.lists(
            st.fixed_dictionaries({"data": st.fixed_dictionaries({"value": JSON})}), max_size=2
        )
        | JSON,
    },
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.one_of(JSON, st.fixed_dictionaries({"field": FIELD | JSON})))
def test_hostile_field_definitions_never_break_the_list(
    shared: tuple[SandboxHandle, ShiftedClock], body: Any
) -> None:
    handle, _ = shared
    status, answer = handle.rest("POST", "/incidents/custom_fields", body)
    assert status in (201, 400), answer
    status, listing = handle.rest("GET", "/incidents/custom_fields?include[]=field_options")
    assert status == 200 and len(listing["fields"]) <= 10
    incident = create(handle)[1]["incident"]["id"]
    assert handle.rest("GET", f"/incidents/{incident}/custom_fields/values")[0] == 200
    if answer and "field" in answer:
        assert handle.rest("DELETE", f"/incidents/custom_fields/{answer['field']['id']}")[0] == 204


# -- c. users by email ------------------------------------------------------------------------


def test_users_are_found_by_email_or_name_case_insensitively(sb: SandboxHandle) -> None:
    def ids(query: str) -> list[str]:
        status, body = sb.rest("GET", "/users?query=" + urllib.request.quote(query))
        assert status == 200
        return [u["id"] for u in body["users"]]

    assert ids("ONCALL@Example.com") == ["PDEMOU1"]
    assert ids("backup@") == ["PDEMOU2"]
    assert ids("demo") == ["PDEMOU1", "PDEMOU2"]
    assert ids("nobody@example.com") == []


# -- d. incident_key: lookup in any range, duplicate create ----------------------------------


def test_incident_key_lookup_any_range_and_duplicate_create(
    shared: tuple[SandboxHandle, ShiftedClock], sb: SandboxHandle
) -> None:
    _, clock = shared
    clock.offset = -timedelta(days=300)  # created ten months ago
    status, body = create(sb, key="pagerbridge/i1/INC-1/PDEMO01")
    assert status == 201
    first = body["incident"]["id"]
    clock.offset = timedelta()
    query = "/incidents?incident_key=pagerbridge/i1/INC-1/PDEMO01&service_ids[]=PDEMO01"
    assert sb.rest("GET", query)[1]["incidents"] == []  # outside the default month
    found = sb.rest("GET", query + "&date_range=all")[1]["incidents"]
    assert [i["id"] for i in found] == [first]
    assert sb.rest("GET", query.replace("PDEMO01", "POTHER1", 1))[1]["incidents"] == []
    status, body = create(sb, key="pagerbridge/i1/INC-1/PDEMO01")
    assert status == 400
    assert body["error"] == {
        "message": "Arguments Caused Error",
        "code": 2002,
        "errors": ["Open incident with matching dedup key already exists on this service"],
    }
    # a resolved incident's key may be used again
    put(sb, f"/incidents/{first}", {"incident": {"type": "incident", "status": "resolved"}})
    status, body = create(sb, key="pagerbridge/i1/INC-1/PDEMO01")
    assert status == 201
    found = sb.rest("GET", query + "&date_range=all&statuses[]=triggered")[1]["incidents"]
    assert [i["id"] for i in found] == [body["incident"]["id"]]


# -- e. the 6-month search cap -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/incidents", "/log_entries"])
def test_searches_wider_than_six_months_are_refused(sb: SandboxHandle, path: str) -> None:
    since = datetime(2026, 1, 31, tzinfo=UTC)
    six = datetime(2026, 7, 31, tzinfo=UTC)

    def search(query: str) -> tuple[int, Any]:
        return sb.rest("GET", f"{path}?{query}")

    assert search(f"since={iso(since)}&until={iso(six)}")[0] == 200
    status, body = search(f"since={iso(since)}&until={iso(six + timedelta(seconds=1))}")
    assert status == 400
    assert body["error"]["code"] == 2001 and "6 months" in body["error"]["errors"][0]
    now = datetime.now(UTC)
    assert search(f"since={iso(now - timedelta(days=200))}")[0] == 400  # until defaults to now
    assert search(f"since={iso(now - timedelta(days=150))}")[0] == 200
    assert search("date_range=all")[0] == 200


def test_default_search_is_the_last_month_and_until_alone_the_month_before(
    shared: tuple[SandboxHandle, ShiftedClock], sb: SandboxHandle
) -> None:
    _, clock = shared
    clock.offset = -timedelta(days=40)
    old = create(sb)[1]["incident"]["id"]
    clock.offset = timedelta()
    new = create(sb)[1]["incident"]["id"]
    assert [i["id"] for i in sb.rest("GET", "/incidents")[1]["incidents"]] == [new]
    until = iso(datetime.now(UTC) - timedelta(days=35))
    assert [i["id"] for i in sb.rest("GET", f"/incidents?until={until}")[1]["incidents"]] == [old]
    triggers = {
        e["incident"]["id"]
        for e in sb.rest("GET", "/log_entries")[1]["log_entries"]
        if e["type"] == "trigger_log_entry"
    }
    assert triggers == {new}


# -- g. the request record ----------------------------------------------------------------------


def test_request_record_counts_exactly_what_a_client_sent(sb: SandboxHandle) -> None:
    first = sb.clear_requests()
    sb.rest("GET", "/incidents")
    create(sb, token=sb.readonly_token)
    create(sb, key="k1")
    sb.send_event("trigger", dedup_key="e1")
    sb.request("GET", "/_sandbox/events")  # admin calls are not recorded
    rows = sb.requests(after=first)
    assert [(r["method"], r["path"], r["api"], r["status"]) for r in rows] == [
        ("GET", "/incidents", "rest", 200),
        ("POST", "/incidents", "rest", 403),
        ("POST", "/incidents", "rest", 201),
        ("POST", "/v2/enqueue", "events", 202),
    ]
    assert rows[1]["credential"] == {
        "kind": "account_token",
        "id": fingerprint(sb.readonly_token),
        "user_id": None,
        "read_only": True,
    }
    assert rows[3]["credential"] is None
    assert sb.count_requests("POST", "/incidents") == 2
    assert sb.count_requests("POST", "/incidents", token=sb.token) == 1
    assert sb.count_requests("GET", "/incid*") == 1
    assert "sandbox-readonly-token" not in json.dumps(rows)
    assert sb.requests(api="events")[0]["path"] == "/v2/enqueue"
    sb.clear_requests()
    assert sb.requests() == []
