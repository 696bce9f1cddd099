"""The sandbox's Events API answers validate against PagerDuty's Events API v2 OpenAPI document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30ReadValidator

from pagerbridge.sandbox.testing import SandboxHandle


@pytest.fixture(scope="module")
def success_schema(contract_dir: Path) -> dict[str, Any]:
    document = json.loads((contract_dir / "events-api-v2.openapiv3.json").read_text("utf-8"))
    schema: dict[str, Any] = document["components"]["responses"]["Success"]["content"][
        "application/json"
    ]["schema"]
    return schema


@pytest.fixture(scope="module")
def error_schema(contract_dir: Path) -> dict[str, Any]:
    document = json.loads((contract_dir / "events-api-v2.openapiv3.json").read_text("utf-8"))
    schema: dict[str, Any] = document["components"]["responses"]["Error"]["content"][
        "application/json"
    ]["schema"]
    return schema


def test_success_answers(sandbox: SandboxHandle, success_schema: dict[str, Any]) -> None:
    answers = [
        sandbox.send_event("trigger", dedup_key="c1"),
        sandbox.send_event("acknowledge", dedup_key="c1"),
        sandbox.send_event("resolve", dedup_key="c1"),
        sandbox.request(
            "POST",
            "/v2/change/enqueue",
            {"routing_key": sandbox.routing_key, "payload": {"summary": "s", "source": "x"}},
        ),
    ]
    for status, body in answers:
        assert status == 202
        OAS30ReadValidator(success_schema).validate(body)
        assert body["status"] == "success"


def test_error_answers(sandbox: SandboxHandle, error_schema: dict[str, Any]) -> None:
    bad_event = sandbox.request("POST", "/v2/enqueue", {"routing_key": sandbox.routing_key})
    sandbox.set_faults(error_rate=1.0, routes=["/v2/"])
    server_error = sandbox.send_event("trigger")
    for status, body in (bad_event, server_error):
        assert status in (400, 500)
        OAS30ReadValidator(error_schema).validate(body)
