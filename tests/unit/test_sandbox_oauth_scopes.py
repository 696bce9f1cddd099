"""The scope each REST operation requires matches PagerDuty's OpenAPI document, operation by op."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pagerbridge.sandbox.oauth_scopes import required_scope
from pagerbridge.sandbox.oauth_store import SCOPED_RESOURCES, Principal

SCOPE_RE = re.compile(r"Scoped OAuth requires: `([^`]+)`")
SEGMENTS = {
    "abilities",
    "change_events",
    "escalation_policies",
    "incidents",
    "log_entries",
    "maintenance_windows",
    "notifications",
    "oncalls",
    "priorities",
    "schedules",
    "services",
    "teams",
    "users",
    "webhook_subscriptions",
}


@pytest.fixture(scope="module")
def documented(contract_dir: Path) -> list[tuple[str, str, str | None]]:
    doc = json.loads((contract_dir / "rest-api-v2.openapiv3.json").read_text())
    rows = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and "description" in op:
                found = SCOPE_RE.search(op["description"])
                rows.append((method.upper(), path, found.group(1) if found else None))
    return rows


def test_every_operation_of_the_sandbox_resources_needs_the_documented_scope(
    documented: list[tuple[str, str, str | None]],
) -> None:
    checked = 0
    for method, path, scope in documented:
        if path.split("/")[1] not in SEGMENTS:
            continue
        concrete = re.sub(r"\{[^}]+\}", "PABC123", path)
        assert required_scope(method, concrete) == scope, f"{method} {path}"
        checked += 1
    assert checked > 150


def test_every_documented_scope_can_be_granted(
    documented: list[tuple[str, str, str | None]],
) -> None:
    resources = {s.rsplit(".", 1)[0] for _, _, s in documented if s} - {"incident"}
    assert resources <= SCOPED_RESOURCES


def test_a_principal_is_permitted_only_what_its_scopes_allow() -> None:
    reader = Principal("app", "c", frozenset({"incidents.read"}), 0.0)
    assert reader.permits("GET", "/incidents")
    assert reader.permits("GET", "/incidents/Q1/notes")
    assert not reader.permits("PUT", "/incidents/Q1")
    assert not reader.permits("GET", "/services")
    assert reader.permits("GET", "/users/me")  # documented without a scope
    assert required_scope("GET", "/_sandbox/state") is None
