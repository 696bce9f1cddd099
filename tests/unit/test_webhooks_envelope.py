"""parse_webhook / build_envelope: typed data for known types, generic for others, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from pagerbridge.pagerduty.webhook_types import (
    EVENT_TYPES,
    GenericData,
    IncidentData,
    IncidentNote,
    ServiceData,
)
from pagerbridge.pagerduty.webhooks import (
    WebhookPayloadError,
    build_envelope,
    parse_webhook,
    sign,
    verify,
)

INCIDENT = {
    "id": "PGR0VU2",
    "type": "incident",
    "number": 2,
    "status": "acknowledged",
    "title": "A little bump in the road",
    "service": {"id": "PF9KMXH", "type": "service_reference", "summary": "API Service"},
    "urgency": "high",
    "conference_bridge": {"conference_number": 1000, "conference_url": None},
}


def test_build_then_parse_gives_typed_data() -> None:
    when = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    body = json.dumps(
        build_envelope(
            "incident.acknowledged",
            INCIDENT,
            agent={"id": "PU1", "type": "user_reference", "summary": "On Call"},
            client={"name": "PagerDuty"},
            occurred_at=when,
        )
    ).encode()
    event = parse_webhook(body).event
    assert event.event_type == "incident.acknowledged" and event.resource_type == "incident"
    assert event.occurred_at == when
    assert event.agent is not None and event.agent.id == "PU1"
    assert event.client is not None and event.client.name == "PagerDuty"
    assert isinstance(event.data, IncidentData)
    assert event.data.status == "acknowledged"
    assert event.data.service is not None and event.data.service.id == "PF9KMXH"
    assert event.data.conference_bridge is not None
    assert event.data.conference_bridge.conference_number == "1000"
    assert event.known


def test_unknown_event_type_parses_generically_keeping_every_field() -> None:
    body = build_envelope("incident.something_new", {"type": "mystery", "n": [1, 2]})
    event = parse_webhook(json.dumps(body)).event
    assert isinstance(event.data, GenericData)
    assert not event.known
    assert event.data.type == "mystery"
    assert event.data.model_dump()["n"] == [1, 2]


def test_extra_fields_on_known_types_are_kept() -> None:
    data = {**INCIDENT, "brand_new_field": {"x": 1}}
    event = parse_webhook(json.dumps(build_envelope("incident.triggered", data))).event
    assert event.data.model_dump()["brand_new_field"] == {"x": 1}


def test_dump_is_json_with_pagerduty_names() -> None:
    body = build_envelope("service.updated", {"id": "P1", "type": "service", "self": "https://s"})
    env = parse_webhook(json.dumps(body))
    assert isinstance(env.event.data, ServiceData)
    dumped = json.loads(env.model_dump_json(by_alias=True))
    assert dumped["event"]["data"]["self"] == "https://s"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "not valid JSON"),
        (b"[]", "not a v3 envelope"),
        (b'{"messages": []}', "not a v3 envelope"),
        (b'{"event": {"id": "1", "event_type": "incident.annotated"}}', "event.resource_type"),
    ],
)
def test_bad_bodies_say_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(WebhookPayloadError, match=message):
        parse_webhook(body)


def test_known_type_with_wrong_data_names_the_field() -> None:
    body = build_envelope("incident.annotated", {"type": "incident_note", "id": "N1"})
    with pytest.raises(WebhookPayloadError, match=r"event\.data\.incident: Field required"):
        parse_webhook(json.dumps(body))
    note = {**body["event"]["data"], "incident": {"id": "P1", "type": "incident_reference"}}
    parsed = parse_webhook(json.dumps(build_envelope("incident.annotated", note)))
    assert isinstance(parsed.event.data, IncidentNote)


def test_thirty_documented_event_types() -> None:
    assert len(EVENT_TYPES) == 30
    assert all(t.split(".")[0] in {"incident", "service"} for t in EVENT_TYPES)


def test_verify_then_parse_as_a_receiver_would() -> None:
    raw = json.dumps(build_envelope("incident.resolved", INCIDENT)).encode()
    header = sign(raw, ["old-secret", "new-secret"])
    verify(raw, header, "new-secret")
    assert isinstance(parse_webhook(raw).event.data, IncidentData)
