"""The answers the PagerDuty connector relies on are what PagerDuty's OpenAPI documents.

A read-only key's 403, the duplicate ``incident_key`` 400, the 6-month search 400, custom field
definitions and values (and their 400s), ``/users?query=``, and the scripted faults' 500/429
answers, each validated against the response schema of the operation in
rest-api-v2.openapiv3.json (tests/servers/openapi_check.py). Where the document lists no answer
for a status (``PUT .../custom_fields/values`` has no 400), the generic error schema it uses for
every 4xx (``ArgumentError``) is the reference.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.openapi_check import Op, conforms, load_openapi, validate

SERVICE = {"id": "PDEMO01", "type": "service_reference"}
ARGUMENT_ERROR = "#/components/responses/ArgumentError/content/application~1json/schema"


@pytest.fixture(scope="module")
def openapi(contract_dir: Path) -> dict[str, Any]:
    return load_openapi(contract_dir)


@pytest.fixture(scope="module")
def sb() -> Iterator[SandboxHandle]:
    with running_sandbox(rate_limits=False) as handle:
        yield handle


@pytest.fixture(scope="module")
def incident(sb: SandboxHandle) -> str:
    body = {"incident": {"type": "incident", "title": "c", "service": SERVICE, "incident_key": "k"}}
    status, answer = sb.rest("POST", "/incidents", body, from_email=sb.user_email)
    assert status == 201
    incident_id: str = answer["incident"]["id"]
    return incident_id


def test_readonly_key_writes_get_the_documented_403(
    sb: SandboxHandle, incident: str, openapi: dict[str, Any]
) -> None:
    cases = [
        (Op("POST", "/incidents", 403), "/incidents", {"incident": {}}),
        (Op("PUT", "/incidents/{id}", 403), f"/incidents/{incident}", {"incident": {}}),
        (
            Op("PUT", "/incidents/{id}/custom_fields/values", 403),
            f"/incidents/{incident}/custom_fields/values",
            {"custom_fields": []},
        ),
    ]
    for op, path, body in cases:
        status, answer = sb.rest(op.method, path, body, token=sb.readonly_token)
        assert status == 403, answer
        conforms(openapi, op, answer)


def test_duplicate_key_and_six_month_range_answers_are_documented_400s(
    sb: SandboxHandle, incident: str, openapi: dict[str, Any]
) -> None:
    body = {"incident": {"type": "incident", "title": "c", "service": SERVICE, "incident_key": "k"}}
    status, answer = sb.rest("POST", "/incidents", body, from_email=sb.user_email)
    assert status == 400
    conforms(openapi, Op("POST", "/incidents", 400), answer)
    wide = "since=2025-01-01T00:00:00Z&until=2025-08-01T00:00:00Z"
    for path in ("/incidents", "/log_entries"):
        status, answer = sb.rest("GET", f"{path}?{wide}")
        assert status == 400
        conforms(openapi, Op("GET", path, 400), answer)
    status, answer = sb.rest(
        "GET", "/incidents?incident_key=k&service_ids[]=PDEMO01&date_range=all"
    )
    assert status == 200 and len(answer["incidents"]) == 1
    conforms(openapi, Op("GET", "/incidents", 200), answer)


def test_custom_field_answers_match_the_document(
    sb: SandboxHandle, incident: str, openapi: dict[str, Any]
) -> None:
    path = f"/incidents/{incident}/custom_fields/values"
    status, answer = sb.rest(
        "PUT", path, {"custom_fields": [{"name": "environment", "value": "production"}]}
    )
    assert status == 201
    conforms(openapi, Op("PUT", "/incidents/{id}/custom_fields/values", 201), answer)
    status, answer = sb.rest("GET", path)
    conforms(openapi, Op("GET", "/incidents/{id}/custom_fields/values", 200), answer)
    assert {v["name"]: v["value"] for v in answer["custom_fields"]}["environment"] == "production"
    status, answer = sb.rest("PUT", path, {"custom_fields": [{"name": "nope", "value": 1}]})
    assert status == 400
    validate(openapi, ARGUMENT_ERROR, answer)
    status, answer = sb.rest("GET", "/incidents/NOPE/custom_fields/values")
    assert status == 404
    conforms(openapi, Op("GET", "/incidents/{id}/custom_fields/values", 404), answer)
    field = {"name": "x y", "display_name": "X", "data_type": "string"}
    status, answer = sb.rest("POST", "/incidents/custom_fields", {"field": field})
    assert status == 400
    conforms(openapi, Op("POST", "/incidents/custom_fields", 400), answer)
    status, answer = sb.rest("GET", "/incidents/custom_fields/NOPE")
    assert status == 404
    conforms(openapi, Op("GET", "/incidents/custom_fields/{field_id}", 404), answer)


def test_users_by_email_answer_matches_the_document(
    sb: SandboxHandle, openapi: dict[str, Any]
) -> None:
    status, answer = sb.rest("GET", "/users?query=oncall%40example.com")
    assert status == 200 and [u["email"] for u in answer["users"]] == ["oncall@example.com"]
    conforms(openapi, Op("GET", "/users", 200), answer)


def test_scripted_fault_answers_are_pagerduty_errors(
    sb: SandboxHandle, incident: str, openapi: dict[str, Any]
) -> None:
    sb.script_fault("status", method="PUT", path=f"/incidents/{incident}", status=429)
    sb.script_fault("status", method="PUT", path=f"/incidents/{incident}/*", status=500)
    status, answer = sb.rest("PUT", f"/incidents/{incident}", {"incident": {}})
    assert status == 429
    conforms(openapi, Op("PUT", "/incidents/{id}", 429), answer)
    path = f"/incidents/{incident}/custom_fields/values"
    status, answer = sb.rest("PUT", path, {"custom_fields": []})
    assert status == 500
    conforms(openapi, Op("PUT", "/incidents/{id}/custom_fields/values", 500), answer)
