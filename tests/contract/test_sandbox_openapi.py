"""Every REST operation the sandbox implements answers with a body valid under PagerDuty's OpenAPI.

The OpenAPI document (rest-api-v2.openapiv3.json, 2.7 MB) is loaded once per session; response
schemas are validated with $refs resolved against the whole document (tests/servers/
openapi_check.py, shared with the hostile-input tests). A second test checks that
this walk covers every REST route the app registers, so a new route cannot skip the contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.sandbox.gate import is_rest
from pagerbridge.sandbox.state import iso
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.openapi_check import Op, load_openapi, response_schema_pointer, validate


def _incident_body(ids: dict[str, str]) -> Any:
    return {
        "incident": {
            "type": "incident",
            "title": "contract incident",
            "service": {"id": "PDEMO01", "type": "service_reference"},
            "urgency": "low",
            "body": {"type": "incident_body", "details": "made by the contract test"},
        }
    }


def _window_body(ids: dict[str, str]) -> Any:
    return {
        "maintenance_window": {
            "type": "maintenance_window",
            "start_time": ids["future_start"],
            "end_time": ids["future_end"],
            "description": "contract window",
            "services": [{"id": "PDEMO01", "type": "service_reference"}],
        }
    }


def _subscription_body(ids: dict[str, str]) -> Any:
    return {
        "webhook_subscription": {
            "type": "webhook_subscription",
            "delivery_method": {"type": "http_delivery_method", "url": "http://127.0.0.1:9/hook"},
            "description": "contract",
            "events": ["incident.triggered", "incident.resolved"],
            "filter": {"type": "account_reference"},
        }
    }


OPS = [
    Op("GET", "/incidents", 200, lambda i: "/incidents?statuses[]=triggered&include[]=services"),
    Op("POST", "/incidents", 201, body=_incident_body, from_header=True),
    Op(
        "PUT",
        "/incidents",
        200,
        body=lambda i: {
            "incidents": [
                {"id": i["incident"], "type": "incident_reference", "status": "acknowledged"}
            ]
        },
        from_header=True,
    ),
    Op("GET", "/incidents/{id}", 200, lambda i: f"/incidents/{i['incident']}"),
    Op(
        "PUT",
        "/incidents/{id}",
        200,
        lambda i: f"/incidents/{i['incident']}",
        lambda i: {
            "incident": {
                "type": "incident_reference",
                "priority": {"id": "PDEMOP2", "type": "priority_reference"},
            }
        },
        from_header=True,
    ),
    Op("GET", "/incidents/{id}/notes", 200, lambda i: f"/incidents/{i['incident']}/notes"),
    Op(
        "POST",
        "/incidents/{id}/notes",
        200,
        lambda i: f"/incidents/{i['incident']}/notes",
        lambda i: {"note": {"content": "a contract note"}},
        from_header=True,
    ),
    Op(
        "GET",
        "/incidents/{id}/log_entries",
        200,
        lambda i: f"/incidents/{i['incident']}/log_entries",
    ),
    Op("GET", "/incidents/{id}/alerts", 200, lambda i: f"/incidents/{i['incident']}/alerts"),
    Op(
        "GET",
        "/incidents/{id}/alerts/{alert_id}",
        200,
        lambda i: f"/incidents/{i['incident']}/alerts/{i['alert']}",
    ),
    Op(
        "PUT",
        "/incidents/{id}/alerts/{alert_id}",
        200,
        lambda i: f"/incidents/{i['incident2']}/alerts/{i['alert2']}",
        lambda i: {"alert": {"type": "alert", "status": "resolved"}},
        from_header=True,
    ),
    Op(
        "PUT",
        "/incidents/{id}/alerts",
        200,
        lambda i: f"/incidents/{i['incident2']}/alerts",
        lambda i: {"alerts": [{"id": i["alert2"], "type": "alert", "status": "resolved"}]},
        from_header=True,
    ),
    Op("GET", "/log_entries", 200),
    Op("GET", "/log_entries/{id}", 200, lambda i: f"/log_entries/{i['log_entry']}"),
    Op("GET", "/services", 200),
    Op(
        "POST",
        "/services",
        201,
        body=lambda i: {
            "service": {
                "type": "service",
                "name": "Contract Service",
                "escalation_policy": {"id": "PDEMOEP", "type": "escalation_policy_reference"},
            }
        },
    ),
    Op("GET", "/services/{id}", 200, lambda i: "/services/PDEMO01"),
    Op(
        "PUT",
        "/services/{id}",
        200,
        lambda i: "/services/PDEMO01",
        lambda i: {"service": {"type": "service", "description": "changed"}},
    ),
    Op("GET", "/escalation_policies", 200),
    Op("GET", "/escalation_policies/{id}", 200, lambda i: "/escalation_policies/PDEMOEP"),
    Op("GET", "/users", 200),
    Op("GET", "/users/me", 200, token="sandbox-user-token"),
    Op("GET", "/users/{id}", 200, lambda i: "/users/PDEMOU1"),
    Op("GET", "/teams", 200),
    Op("GET", "/teams/{id}", 200, lambda i: "/teams/PDEMOT1"),
    Op("GET", "/priorities", 200),
    Op("GET", "/abilities", 200),
    Op("GET", "/abilities/{id}", 204, lambda i: "/abilities/teams"),
    Op("GET", "/schedules", 200),
    Op("GET", "/schedules/{id}", 200, lambda i: "/schedules/PDEMOS1"),
    Op("GET", "/oncalls", 200),
    Op("GET", "/webhook_subscriptions", 200),
    Op("POST", "/webhook_subscriptions", 200, body=_subscription_body),
    Op(
        "GET",
        "/webhook_subscriptions/{id}",
        200,
        lambda i: f"/webhook_subscriptions/{i['subscription']}",
    ),
    Op(
        "PUT",
        "/webhook_subscriptions/{id}",
        200,
        lambda i: f"/webhook_subscriptions/{i['subscription']}",
        lambda i: {"webhook_subscription": {"description": "changed"}},
    ),
    Op(
        "POST",
        "/webhook_subscriptions/{id}/enable",
        200,
        lambda i: f"/webhook_subscriptions/{i['subscription']}/enable",
    ),
    Op(
        "POST",
        "/webhook_subscriptions/{id}/ping",
        202,
        lambda i: f"/webhook_subscriptions/{i['subscription']}/ping",
    ),
    Op(
        "DELETE",
        "/webhook_subscriptions/{id}",
        204,
        lambda i: f"/webhook_subscriptions/{i['subscription_to_delete']}",
    ),
    Op("GET", "/maintenance_windows", 200),
    Op("POST", "/maintenance_windows", 201, body=_window_body, from_header=True),
    Op(
        "GET",
        "/maintenance_windows/{id}",
        200,
        lambda i: f"/maintenance_windows/{i['window']}",
    ),
    Op(
        "DELETE",
        "/maintenance_windows/{id}",
        204,
        lambda i: f"/maintenance_windows/{i['window_to_delete']}",
    ),
    Op(
        "PUT",
        "/maintenance_windows/{id}",
        200,
        lambda i: f"/maintenance_windows/{i['window']}",
        lambda i: {"maintenance_window": {"type": "maintenance_window", "description": "moved"}},
    ),
    Op("GET", "/change_events", 200),
    Op("GET", "/audit/records", 200, lambda i: "/audit/records?root_resource_types[]=services"),
    # incident custom fields (helper H2, issue 13 item 5)
    Op(
        "GET",
        "/incidents/custom_fields",
        200,
        lambda i: "/incidents/custom_fields?include[]=field_options",
    ),
    Op(
        "POST",
        "/incidents/custom_fields",
        201,
        body=lambda i: {
            "field": {
                "name": "contract_tier",
                "display_name": "Contract Tier",
                "data_type": "string",
                "field_type": "single_value_fixed",
                "default_value": "gold",
                "field_options": [
                    {"data": {"data_type": "string", "value": "gold"}},
                    {"data": {"data_type": "string", "value": "silver"}},
                ],
            }
        },
    ),
    Op(
        "GET",
        "/incidents/custom_fields/{field_id}",
        200,
        lambda i: "/incidents/custom_fields/PDEMOF1",
    ),
    Op(
        "DELETE",
        "/incidents/custom_fields/{field_id}",
        204,
        lambda i: f"/incidents/custom_fields/{i['field_to_delete']}",
    ),
    Op(
        "GET",
        "/incidents/{id}/custom_fields/values",
        200,
        lambda i: f"/incidents/{i['incident']}/custom_fields/values",
    ),
    Op(
        "PUT",
        "/incidents/{id}/custom_fields/values",
        201,
        lambda i: f"/incidents/{i['incident']}/custom_fields/values",
        lambda i: {"custom_fields": [{"name": "environment", "value": "production"}]},
    ),
]
#: Implemented routes that PagerDuty's REST document does not describe (none today).
NOT_IN_OPENAPI: set[str] = set()


@pytest.fixture(scope="module")
def walk() -> Iterator[tuple[SandboxHandle, dict[str, str]]]:
    """One sandbox with an incident, alert, note, subscription and windows to point at."""
    with running_sandbox(rate_limits=False) as sb:
        sb.send_event("trigger", dedup_key="contract")
        sb.request(
            "POST",
            "/v2/change/enqueue",
            {"routing_key": sb.routing_key, "payload": {"summary": "deploy", "source": "ci"}},
        )
        state = sb.runtime.state
        sb.send_event("trigger", dedup_key="contract-2")
        incident, incident2 = list(state.incidents.values())
        sb.rest("PUT", "/services/PDEMO01", {"service": {"description": "audited"}})
        now = state.now()
        ids = {
            "incident": incident["id"],
            "alert": next(a for a in state.alerts.values() if a["alert_key"] == "contract")["id"],
            "incident2": incident2["id"],
            "alert2": next(a for a in state.alerts.values() if a["alert_key"] == "contract-2")[
                "id"
            ],
            "log_entry": next(iter(state.log_entries)),
            "future_start": iso(now + timedelta(days=1)),
            "future_end": iso(now + timedelta(days=1, hours=1)),
        }
        for key in ("subscription", "subscription_to_delete"):
            _, body = sb.rest("POST", "/webhook_subscriptions", _subscription_body(ids))
            ids[key] = body["webhook_subscription"]["id"]
        _, body = sb.rest(
            "POST",
            "/incidents/custom_fields",
            {"field": {"name": "doomed", "display_name": "Doomed", "data_type": "integer"}},
        )
        ids["field_to_delete"] = body["field"]["id"]
        for key in ("window", "window_to_delete"):
            _, body = sb.rest(
                "POST", "/maintenance_windows", _window_body(ids), from_email=sb.user_email
            )
            ids[key] = body["maintenance_window"]["id"]
        yield sb, ids


@pytest.fixture(scope="session")
def openapi(contract_dir: Path) -> dict[str, Any]:
    return load_openapi(contract_dir)


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_response_matches_openapi(
    op: Op, walk: tuple[SandboxHandle, dict[str, str]], openapi: dict[str, Any]
) -> None:
    sb, ids = walk
    path = op.path(ids) if op.path else op.template
    body = op.body(ids) if op.body else None
    sb.token = op.token
    try:
        status, answer = sb.rest(
            op.method, path, body, from_email=sb.user_email if op.from_header else None
        )
    finally:
        sb.token = "sandbox-token"
    assert status == op.status, answer
    pointer = response_schema_pointer(openapi, op)
    if pointer is None:
        assert answer is None
        return
    validate(openapi, pointer, answer)


def test_walk_covers_every_rest_route(openapi: dict[str, Any]) -> None:
    from starlette.routing import Route

    from pagerbridge.sandbox.app import rest_routes

    implemented = {
        f"{method} {route.path}"
        for route in rest_routes()
        if isinstance(route, Route) and is_rest(route.path)
        for method in (route.methods or set()) - {"HEAD"}
    }
    walked = {op.name for op in OPS}
    assert implemented - NOT_IN_OPENAPI == walked
    for op in OPS:
        assert op.method.lower() in openapi["paths"][op.template], op.name


ERROR_CASES = [
    # (operation as documented, path, body, token, expected status)
    (Op("GET", "/incidents", 401), "/incidents", None, "wrong-token"),
    (Op("GET", "/incidents", 400), "/incidents?offset=9999&limit=25", None, "sandbox-token"),
    (Op("POST", "/incidents", 400), "/incidents", {"incident": {}}, "sandbox-token"),
    (Op("GET", "/incidents/{id}", 404), "/incidents/NOPE", None, "sandbox-token"),
    (Op("GET", "/services/{id}", 404), "/services/NOPE", None, "sandbox-token"),
    (Op("GET", "/schedules/{id}", 404), "/schedules/NOPE", None, "sandbox-token"),
    (Op("PUT", "/incidents/{id}", 404), "/incidents/NOPE", {"incident": {}}, "sandbox-token"),
    (Op("GET", "/abilities/{id}", 402), "/abilities/nope", None, "sandbox-token"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("op", "path", "body", "token"),
    ERROR_CASES,
    ids=[f"{c[0].name} {c[0].status}" for c in ERROR_CASES],
)
def test_error_answers_match_openapi(
    op: Op,
    path: str,
    body: Any,
    token: str,
    walk: tuple[SandboxHandle, dict[str, str]],
    openapi: dict[str, Any],
) -> None:
    sb, _ = walk
    sb.token = token
    try:
        status, answer = sb.rest(op.method, path, body, from_email=sb.user_email)
    finally:
        sb.token = "sandbox-token"
    assert status == op.status, answer
    pointer = response_schema_pointer(openapi, op)
    assert pointer is not None
    validate(openapi, pointer, answer)


def test_rate_limited_answer_matches_openapi(openapi: dict[str, Any]) -> None:
    with running_sandbox(rest_per_minute=1) as sb:
        assert sb.rest("GET", "/priorities")[0] == 200
        status, answer = sb.rest("GET", "/priorities")
    assert status == 429
    op = Op("GET", "/priorities", 429)
    pointer = response_schema_pointer(openapi, op)
    assert pointer is not None
    validate(openapi, pointer, answer)
