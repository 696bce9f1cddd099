"""The sandbox's webhook ``data`` objects have the shapes of PagerDuty's documented examples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.pagerduty.webhook_types import EVENT_TYPES
from pagerbridge.sandbox.webhooks_data import (
    BUILT_DATA_TYPES,
    DATA_TYPES,
    data_for,
    incident_data,
    incident_reference,
    note_data,
    resource_id,
    responder_data,
    service_data,
    status_update_data,
)
from pagerbridge.sandbox.webhooks_out import matches, subscription_secrets
from pagerbridge.sandbox.webhooks_policy import (
    WebhookPolicy,
    classify_status,
    retry_after_seconds,
)
from pagerbridge.sandbox.webhooks_testing import sample_incident


@pytest.fixture(scope="module")
def examples(contract_dir: Path) -> dict[str, Any]:
    doc = json.loads((contract_dir / "webhooks-v3-event-types-and-examples.json").read_text())
    sections: dict[str, Any] = doc["examples_by_section"]
    return sections


def _keys(obj: dict[str, Any]) -> set[str]:
    return set(obj)


def test_incident_data_has_exactly_the_example_keys(examples: dict[str, Any]) -> None:
    data = incident_data(sample_incident())
    assert _keys(data) == _keys(examples["incident"])
    assert data["number"] == 1 and data["title"] == "Disk full on db1"
    assert [a["id"] for a in data["assignees"]] == ["PDEMOU1"]
    for field in ("service", "escalation_policy"):
        assert _keys(data[field]) == _keys(examples["incident"][field])
    assert _keys(data["teams"][0]) == _keys(examples["incident"]["teams"][0])
    assert data["service"]["type"] == "service_reference"


def test_incident_data_is_a_snapshot() -> None:
    incident = sample_incident()
    data = incident_data(incident)
    incident["status"] = "resolved"
    incident["service"]["summary"] = "renamed"
    assert data["status"] == "triggered"
    assert data["service"]["summary"] == "Demo Service"


def test_child_objects_have_the_example_keys(examples: dict[str, Any]) -> None:
    incident = sample_incident()
    note = note_data(incident, note_id="N1", content="hello")
    assert _keys(note) == _keys(examples["incident_note"])
    assert _keys(note["incident"]) == _keys(examples["incident_note"]["incident"])
    assert note["incident"]["summary"] == "Disk full on db1"
    update = status_update_data(incident, update_id="S1", message="fixing")
    assert _keys(update) == _keys(examples["incident_status_update"])
    user = incident["assignments"][0]["assignee"]
    responder = responder_data(
        incident, user=user, escalation_policy=incident["escalation_policy"], message="help"
    )
    assert _keys(responder) == _keys(examples["incident_responder"])
    service = {
        "id": "PDEMO01",
        "type": "service",
        "name": "Demo Service",
        "summary": "Demo Service",
        "self": "x",
        "html_url": "y",
        "teams": incident["teams"],
    }
    assert _keys(service_data(service)) == _keys(examples["service"])


def test_data_for_maps_every_event_type_to_its_documented_data_type(
    contract_dir: Path,
) -> None:
    doc = json.loads((contract_dir / "webhooks-v3-event-types-and-examples.json").read_text())
    documented = {e["event_type"]: e["data_type"] for e in doc["event_types"]}
    for event_type, data_type in DATA_TYPES.items():
        assert documented[event_type] == data_type, event_type


def test_the_sandbox_builds_the_data_type_of_every_event_type_it_lists() -> None:
    """``DATA_TYPES`` is the wire layer's table narrowed to ``BUILT_DATA_TYPES``: each listed
    event type really gets data of its documented type, and none of the rest is listed."""
    incident = sample_incident()
    # typed by nothing it could copy, so only a real mapping gives the documented data.type
    child = {"id": "C1", "type": "child", "incident": incident_reference(incident)}
    service = {"id": "PDEMO01", "type": "service", "name": "Demo Service"}
    published = {"incident": incident, "incident_conference_bridge": incident, "service": service}
    for event_type, data_type in DATA_TYPES.items():
        resource = published.get(data_type, child)
        assert data_for(event_type, resource)["type"] == data_type, event_type
    left_out = {e for e, d in EVENT_TYPES.items() if d not in BUILT_DATA_TYPES}
    assert left_out and not left_out & set(DATA_TYPES)
    assert set(DATA_TYPES) | left_out == set(EVENT_TYPES)


def test_data_for_reduces_what_the_sandbox_publishes(examples: dict[str, Any]) -> None:
    incident = sample_incident()
    assert data_for("incident.acknowledged", incident) == incident_data(incident)
    published_note = {
        "id": "N1",
        "type": "incident_note",
        "content": "c",
        "trimmed": False,
        "incident": {"id": incident["id"], "type": "incident_reference", "summary": "t"},
        "service": incident["service"],
        "teams": incident["teams"],
    }
    data = data_for("incident.annotated", published_note)
    assert _keys(data) == _keys(examples["incident_note"])
    assert resource_id(data) == incident["id"]
    assert resource_id(incident_data(incident)) == incident["id"]
    with pytest.raises(ValueError, match="full incident"):
        data_for("incident.resolved", {"id": "Q1", "type": "incident_reference"})


def _sub(**overrides: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "id": "PSUB1",
        "type": "webhook_subscription",
        "active": True,
        "events": ["incident.triggered"],
        "filter": {"type": "service_reference", "id": "PDEMO01"},
        "delivery_method": {"type": "http_delivery_method", "url": "http://x", "secret": "s1"},
    }
    sub.update(overrides)
    return sub


def test_filters_select_by_service_team_and_account() -> None:
    on = {"service_id": "PDEMO01", "team_ids": ["PDEMOT1"]}
    assert matches(_sub(), "incident.triggered", **on)
    assert not matches(_sub(), "incident.resolved", **on)
    other = _sub(filter={"type": "service_reference", "id": "POTHER"})
    assert not matches(other, "incident.triggered", **on)
    team = _sub(filter={"type": "team_reference", "id": "PDEMOT1"})
    assert matches(team, "incident.triggered", **on)
    assert not matches(team, "incident.triggered", service_id="PDEMO01", team_ids=[])
    account = _sub(filter={"type": "account_reference"})
    assert matches(account, "incident.triggered", service_id="PX", team_ids=[])
    assert not matches(_sub(active=False), "incident.triggered", **on)
    disabled = _sub()
    disabled["delivery_method"]["temporarily_disabled"] = True
    assert not matches(disabled, "incident.triggered", **on)


def test_every_secret_signs_during_a_rotation() -> None:
    sub = _sub()
    sub["delivery_method"]["secrets"] = ["s0", "s1", ""]
    assert subscription_secrets(sub) == ["s1", "s0"]


def test_status_classification_follows_pagerduty_behavior_doc() -> None:
    assert [classify_status(s) for s in (200, 202, 299)] == ["delivered"] * 3
    assert [classify_status(s) for s in (429, 500, 502, 503)] == ["retry"] * 4
    assert [classify_status(s) for s in (301, 400, 401, 404, 410)] == ["dropped"] * 5


def test_backoff_grows_is_capped_and_honours_retry_after() -> None:
    policy = WebhookPolicy(first_delay=10, max_delay=60, multiplier=2, jitter=0)
    assert [policy.delay(n, None, lambda: 0.5) for n in range(1, 6)] == [10, 20, 40, 60, 60]
    assert policy.delay(3, 7.0, lambda: 0.5) == 7.0
    assert policy.delay(3, 9999.0, lambda: 0.5) == 60
    jittered = WebhookPolicy(first_delay=10, jitter=0.5)
    assert jittered.delay(1, None, lambda: 0.0) == 5.0
    assert jittered.delay(1, None, lambda: 1.0) == 10.0


def test_documented_defaults() -> None:
    policy = WebhookPolicy()
    assert policy.timeout == 5.0
    assert policy.retry_window == 48 * 3600
    assert policy.disable_after == 3
    assert policy.disabled_for == 24 * 3600


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("12") == 12.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
