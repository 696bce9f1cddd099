"""Every typed REST call sends a request PagerDuty's OpenAPI document accepts.

The client talks real HTTP to a recording server; each captured request is checked against
rest-api-v2.openapiv3.json: the path template and method exist (and are the operation we meant),
every query parameter is declared for that operation with a value its schema allows, the required
headers are there, and the JSON body validates against the operation's requestBody schema.
"""

from __future__ import annotations

import copy
import inspect
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from pagerbridge.pagerduty.rest import ACCEPT, RestClient
from pagerbridge.pagerduty.rest_incidents import IncidentCalls, IncidentUpdate
from pagerbridge.pagerduty.rest_resources import ResourceCalls
from servers.rest_recorder import Recorded, RestRecorder

SPEC_ID = "urn:pagerduty:rest-api-v2"
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
T1 = datetime(2026, 1, 1, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def spec(contract_dir: Path) -> dict[str, Any]:
    return json.loads((contract_dir / "rest-api-v2.openapiv3.json").read_text())


def _resolve(spec: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _find_operation(spec: dict[str, Any], method: str, path: str) -> tuple[str, dict[str, Any]]:
    """The path template matching ``path`` (literal segments beat ``{id}``) and its operation."""
    matches = []
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            matches.append((template.count("{"), template))
    assert matches, f"{method} {path} matches no operation in the OpenAPI document"
    template = min(matches)[1]
    return template, spec["paths"][template]


def _parameters(spec: dict[str, Any], item: dict[str, Any], op: dict[str, Any]) -> list[Any]:
    return [_resolve(spec, p) for p in item.get("parameters", []) + op.get("parameters", [])]


def _validator(spec: dict[str, Any], pointer: str) -> OAS30Validator:
    registry: Registry[Any] = Registry().with_resource(
        SPEC_ID, Resource.from_contents(spec, default_specification=DRAFT4)
    )
    return OAS30Validator({"$ref": f"{SPEC_ID}#{pointer}"}, registry=registry)


def _typed(value: str, schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return int(value)
    if kind == "boolean":
        assert value in ("true", "false"), f"boolean query value {value!r}"
        return value == "true"
    return value


def check_request(spec: dict[str, Any], rec: Recorded, operation_id: str) -> None:
    template, item = _find_operation(spec, rec.method, rec.path)
    op = item[rec.method.lower()]
    assert op["operationId"] == operation_id, f"{rec.method} {rec.path} is {op['operationId']}"
    params = _parameters(spec, item, op)
    declared = {p["name"]: p for p in params if p["in"] == "query"}
    for name in {k for k, _ in rec.query}:
        assert name in declared, f"{operation_id}: query parameter {name!r} is not declared"
        param = declared[name]
        schema = _resolve(spec, param.get("schema", {}))
        values = rec.params(name)
        if schema.get("type") == "array" and param.get("explode") is False:
            values_checked: Any = values[0].split(",")
            assert len(values) == 1, f"{name} is form/explode=false: one comma-separated value"
        elif schema.get("type") == "array":
            values_checked = values
        else:
            assert len(values) == 1 or param.get("explode"), f"{name} repeated but not a set"
            for v in values:
                OAS30Validator(schema).validate(_typed(v, schema))
            continue
        items_schema = _resolve(spec, schema.get("items", {}))
        for v in values_checked:
            OAS30Validator(items_schema).validate(_typed(v, items_schema))
    for p in params:
        if p["in"] == "header" and p.get("required"):
            assert rec.header(p["name"]), f"{operation_id}: required header {p['name']} missing"
    assert rec.header("Accept") == ACCEPT
    assert (rec.header("Authorization") or "").startswith(("Token token=", "Bearer "))
    if "requestBody" in op:
        assert rec.body, f"{operation_id}: no JSON body sent"
        assert rec.header("Content-Type") == "application/json"
        body_ref = op["requestBody"]
        if "$ref" in body_ref:
            pointer = body_ref["$ref"].removeprefix("#") + "/content/application~1json/schema"
        else:
            escaped = template.replace("~", "~0").replace("/", "~1")
            method = rec.method.lower()
            pointer = f"/paths/{escaped}/{method}/requestBody/content/application~1json/schema"
        _validator(spec, pointer).validate(rec.json)
    else:
        assert not rec.body, f"{operation_id}: a body was sent to an operation without one"


async def _drain(it: AsyncIterator[Any]) -> list[Any]:
    return [x async for x in it]


Call = Callable[[RestClient], Awaitable[Any]]

CASES: list[tuple[str, str, Call]] = [
    (
        "list_incidents",
        "listIncidents",
        lambda c: _drain(
            c.list_incidents(
                statuses=["triggered", "acknowledged"],
                service_ids=["PSVC001", "PSVC002"],
                team_ids=["PT1"],
                user_ids=["PU1"],
                urgencies=["high"],
                incident_key="disk/db1",
                since=T0,
                until=T1,
                sort_by=["created_at:desc", "incident_number:asc"],
                include=["assignees", "services"],
                time_zone="UTC",
            )
        ),
    ),
    ("list_incidents", "listIncidents", lambda c: _drain(c.list_incidents(date_range="all"))),
    ("get_incident", "getIncident", lambda c: c.get_incident("PINC001", include=["teams"])),
    (
        "create_incident",
        "createIncident",
        lambda c: c.create_incident(
            title="Disk full",
            service_id="PSVC001",
            urgency="high",
            incident_key="disk/db1",
            priority_id="PPRI001",
            assignee_ids=["PUSR001"],
        ),
    ),
    (
        "create_incident",
        "createIncident",
        lambda c: c.create_incident(
            title="Disk full", service_id="PSVC001", escalation_policy_id="PEP0001"
        ),
    ),
    (
        "update_incident",
        "updateIncident",
        lambda c: c.update_incident("PINC001", status="resolved", resolution="disk cleaned"),
    ),
    (
        "update_incident",
        "updateIncident",
        lambda c: c.update_incident(
            "PINC001", urgency="low", priority_id="PPRI001", title="Disk 95%", escalation_level=2
        ),
    ),
    (
        "update_incident",
        "updateIncident",
        lambda c: c.update_incident("PINC001", assignee_ids=["PUSR001", "PUSR002"]),
    ),
    (
        "update_incident",
        "updateIncident",
        lambda c: c.update_incident("PINC001", escalation_policy_id="PEP0001"),
    ),
    ("acknowledge_incident", "updateIncident", lambda c: c.acknowledge_incident("PINC001")),
    ("resolve_incident", "updateIncident", lambda c: c.resolve_incident("PINC001")),
    (
        "update_incidents",
        "updateIncidents",
        lambda c: c.update_incidents(
            [
                IncidentUpdate("PINC001", status="acknowledged"),
                IncidentUpdate("PINC002", status="resolved", resolution="dup"),
            ]
        ),
    ),
    ("list_notes", "listIncidentNotes", lambda c: c.list_notes("PINC001")),
    ("create_note", "createIncidentNote", lambda c: c.create_note("PINC001", "looking into it")),
    (
        "list_log_entries",
        "listIncidentLogEntries",
        lambda c: _drain(
            c.list_log_entries("PINC001", since=T0, until=T1, is_overview=True, include=["teams"])
        ),
    ),
    (
        "list_services",
        "listServices",
        lambda c: _drain(
            c.list_services(query="db", team_ids=["PT1"], include=["teams"], sort_by="name")
        ),
    ),
    ("get_service", "getService", lambda c: c.get_service("PSVC001", include=["integrations"])),
    (
        "list_escalation_policies",
        "listEscalationPolicies",
        lambda c: _drain(c.list_escalation_policies(query="ops", user_ids=["PU1"])),
    ),
    ("get_escalation_policy", "getEscalationPolicy", lambda c: c.get_escalation_policy("PEP0001")),
    (
        "list_users",
        "listUsers",
        lambda c: _drain(c.list_users(query="on", team_ids=["PT1"], include=["contact_methods"])),
    ),
    ("get_user", "getUser", lambda c: c.get_user("PUSR001")),
    ("get_current_user", "getCurrentUser", lambda c: c.get_current_user()),
    (
        "list_oncalls",
        "listOnCalls",
        lambda c: _drain(
            c.list_oncalls(
                user_ids=["PU1"],
                escalation_policy_ids=["PEP0001"],
                schedule_ids=["PSCH001"],
                since=T0,
                until=T1,
                earliest=True,
                include=["users"],
                time_zone="UTC",
            )
        ),
    ),
    (
        "list_schedules",
        "listSchedules",
        lambda c: _drain(c.list_schedules(query="pri", team_ids=["PT1"], time_zone="UTC")),
    ),
    (
        "get_schedule",
        "getSchedule",
        lambda c: c.get_schedule("PSCH001", since=T0, until=T1, time_zone="UTC"),
    ),
    ("list_priorities", "listPriorities", lambda c: c.list_priorities()),
    ("list_abilities", "listAbilities", lambda c: c.list_abilities()),
    ("has_ability", "getAbility", lambda c: c.has_ability("teams")),
    (
        "list_webhook_subscriptions",
        "listWebhookSubscriptions",
        lambda c: _drain(
            c.list_webhook_subscriptions(filter_type="service_reference", filter_id="PSVC001")
        ),
    ),
    (
        "get_webhook_subscription",
        "getWebhookSubscription",
        lambda c: c.get_webhook_subscription("PWHS001"),
    ),
    (
        "create_webhook_subscription",
        "createWebhookSubscription",
        lambda c: c.create_webhook_subscription(
            url="https://hub.example.com/webhooks/pagerduty",
            events=["incident.triggered", "incident.resolved"],
            filter_type="service_reference",
            filter_id="PSVC001",
            description="pagerbridge",
            custom_headers={"X-Origin": "pagerbridge"},
        ),
    ),
    (
        "update_webhook_subscription",
        "updateWebhookSubscription",
        lambda c: c.update_webhook_subscription("PWHS001", active=False, events=["incident.*"]),
    ),
    (
        "delete_webhook_subscription",
        "deleteWebhookSubscription",
        lambda c: c.delete_webhook_subscription("PWHS001"),
    ),
    (
        "list_maintenance_windows",
        "listMaintenanceWindows",
        lambda c: _drain(
            c.list_maintenance_windows(service_ids=["PSVC001"], team_ids=["PT1"], filter="ongoing")
        ),
    ),
    (
        "get_maintenance_window",
        "getMaintenanceWindow",
        lambda c: c.get_maintenance_window("PMW0001"),
    ),
    (
        "create_maintenance_window",
        "createMaintenanceWindow",
        lambda c: c.create_maintenance_window(
            start_time=T0, end_time=T1, service_ids=["PSVC001"], description="db upgrade"
        ),
    ),
    (
        "update_maintenance_window",
        "updateMaintenanceWindow",
        lambda c: c.update_maintenance_window(
            "PMW0001", start_time=T0, end_time=T1, service_ids=["PSVC001"], description="longer"
        ),
    ),
    (
        "delete_maintenance_window",
        "deleteMaintenanceWindow",
        lambda c: c.delete_maintenance_window("PMW0001"),
    ),
    (
        "list_audit_records",
        "listAuditRecords",
        lambda c: _drain(
            c.list_audit_records(
                since=T0, until=T1, root_resource_types=["services"], actor_type="user_reference"
            )
        ),
    ),
]


@pytest.mark.parametrize(
    ("name", "operation_id", "call"),
    CASES,
    ids=[f"{i:02d}-{name}" for i, (name, _, _) in enumerate(CASES)],
)
async def test_typed_call_matches_openapi(
    spec: dict[str, Any], name: str, operation_id: str, call: Call
) -> None:
    async with (
        RestRecorder() as rec,
        RestClient("secret-token", base_url=rec.url, from_email="ops@example.com") as client,
    ):
        await call(client)
    assert rec.requests, f"{name} sent nothing"
    for sent in rec.requests:
        check_request(spec, sent, operation_id)


def test_every_typed_call_has_a_contract_case() -> None:
    """A new typed call must come with a contract case, or this fails."""
    typed = {
        name
        for cls in (IncidentCalls, ResourceCalls)
        for name, fn in vars(cls).items()
        if not name.startswith("_")
        and (inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn))
    }
    covered = {name for name, _, _ in CASES}
    assert typed - covered == set(), f"typed calls without a contract case: {typed - covered}"


async def test_create_incident_details_follow_the_docs_where_the_schema_disagrees(
    spec: dict[str, Any],
) -> None:
    """The incident creation guide sends ``body.details`` as a string; the OpenAPI document's
    IncidentBody says object. We follow the docs (DESIGN.md) and check everything else strictly."""
    incident_body = spec["components"]["schemas"]["IncidentBody"]
    assert incident_body["properties"]["details"]["type"] == "object", "the schema changed"
    async with (
        RestRecorder() as rec,
        RestClient("t", base_url=rec.url, from_email="ops@example.com") as client,
    ):
        await client.create_incident(title="Disk full", service_id="PSVC001", details="df -h: 99%")
    sent = rec.last
    assert sent.json["incident"]["body"] == {"type": "incident_body", "details": "df -h: 99%"}
    patched = copy.deepcopy(spec)
    patched["components"]["schemas"]["IncidentBody"]["properties"]["details"] = {
        "oneOf": [{"type": "object"}, {"type": "string"}]
    }
    check_request(patched, sent, "createIncident")
    with pytest.raises(Exception, match="is not of type 'object'"):
        check_request(spec, sent, "createIncident")


async def test_checker_rejects_an_undeclared_query_parameter(spec: dict[str, Any]) -> None:
    """The checker itself: a misspelt filter (no ``[]``) must not pass."""
    async with (
        RestRecorder() as rec,
        RestClient("t", base_url=rec.url) as client,
    ):
        await client.request("GET", "/incidents", params={"statuses": "triggered"})
    with pytest.raises(AssertionError, match="'statuses' is not declared"):
        check_request(spec, rec.last, "listIncidents")


def _example_answer(spec: dict[str, Any], rec: Recorded) -> tuple[int, Any]:
    """The documented answer (status, first example body) of the operation ``rec`` called."""
    _template, item = _find_operation(spec, rec.method, rec.path)
    responses = item[rec.method.lower()]["responses"]
    status = min(int(code) for code in responses if code.startswith("2"))
    content = _resolve(spec, responses[str(status)]).get("content", {}).get("application/json")
    if not content or not content.get("examples"):
        return status, None
    example = _resolve(spec, next(iter(content["examples"].values())))
    return status, example["value"]


def _ids(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [str(i.id) for i in items if getattr(i, "id", None)]


@pytest.mark.parametrize(
    ("name", "operation_id", "call"),
    CASES,
    ids=[f"{i:02d}-{name}" for i, (name, _, _) in enumerate(CASES)],
)
async def test_typed_call_reads_the_documented_answer(
    spec: dict[str, Any], name: str, operation_id: str, call: Call
) -> None:
    """Each typed call parses the OpenAPI document's example answer into its models."""
    async with (
        RestRecorder() as rec,
        RestClient("t", base_url=rec.url, from_email="ops@example.com") as client,
    ):
        await call(client)
        status, example = _example_answer(spec, rec.requests[0])
        if example is None:  # only the 204 operations document no body
            assert status == 204, f"{operation_id} documents no example answer"
            return
        if isinstance(example, dict) and example.get("more") is True:
            example = {**example, "more": False}  # one documented page is the whole answer
        rec.requests.clear()
        rec.script(status, example)
        result = await call(client)
    assert result is not None
    if isinstance(example, dict):
        entities = [v for k, v in example.items() if isinstance(v, dict | list) and k != "error"]
        documented = [
            e["id"]
            for v in entities
            for e in (v if isinstance(v, list) else [v])
            if isinstance(e, dict) and "id" in e
        ]
        got = _ids(result)
        assert set(got) <= set(documented), f"{name}: ids {got} not in the documented answer"
        if documented:
            assert got, f"{name}: the documented entities were not read"
