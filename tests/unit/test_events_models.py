"""The event models delegate to event_rules: same rules and messages, never a pydantic error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pagerbridge.errors import EventValidationError
from pagerbridge.pagerduty.event_rules import OVERSIZE_NOTE_KEY, normalise_event
from pagerbridge.pagerduty.events import (
    ChangeEvent,
    ChangePayload,
    Event,
    Image,
    Link,
    Payload,
)
from pagerbridge.pagerduty.limits import EVENT_MAX_BYTES, SUMMARY_MAX, TRUNCATION_MARKER

KEY = "deadbeefdeadbeefdeadbeefdeadbeef"


def payload(**kw: Any) -> dict[str, Any]:
    return {"summary": "cpu high", "source": "web1", "severity": "warning", **kw}


def test_every_field_round_trips_to_the_wire_names() -> None:
    event = Event(
        routing_key=KEY,
        event_action="trigger",
        dedup_key="web1/cpu",
        payload=Payload(
            summary="cpu high",
            source="web1",
            severity="warning",
            timestamp="2015-07-17T08:42:58.315+0000",
            component="nginx",
            group="web",
            class_="cpu",
            custom_details={"load": 7.5},
        ),
        images=[Image(src="https://example.com/cpu.png", href="https://example.com", alt="cpu")],
        links=[Link(href="https://runbooks.example.com/cpu", text="runbook")],
        client="pagerbridge",
        client_url="https://pagerbridge.example.com",
    )
    wire = event.to_dict()
    assert wire["payload"]["class"] == "cpu"
    assert "class_" not in wire["payload"]
    assert normalise_event(wire) == wire
    assert Event.model_validate(wire) == event


def test_models_raise_event_validation_error_with_pagerduty_messages() -> None:
    with pytest.raises(EventValidationError) as info:
        Event.model_validate({"routing_key": "short", "payload": payload(severity="bad")})
    assert info.value.errors == [
        "'routing_key' is invalid (must be 32 characters, got 5)",
        "'payload.severity' is invalid (must be one of critical, error, warning, info)",
    ]


def test_unknown_fields_are_named() -> None:
    with pytest.raises(EventValidationError) as info:
        Event.model_validate({"routing_key": KEY, "payload": payload(), "incident_key": "x"})
    assert info.value.errors == ["'incident_key' is not an Events API v2 field"]
    with pytest.raises(EventValidationError) as info:
        Payload.model_validate(payload(sevrity="info"))
    assert info.value.errors == ["'payload.sevrity' is not an Events API v2 field"]


def test_payload_alone_applies_the_rules() -> None:
    with pytest.raises(EventValidationError, match=r"'payload\.source' is missing or blank"):
        Payload(summary="x", source=" ", severity="info")
    long = Payload(summary="x" * 5000, source="h", severity="info")
    assert len(long.summary) == SUMMARY_MAX and long.summary.endswith(TRUNCATION_MARKER)


def test_event_action_defaults_to_trigger_and_ack_needs_dedup_key() -> None:
    assert Event(routing_key=KEY, payload=Payload(**payload())).event_action == "trigger"
    with pytest.raises(EventValidationError, match="required for acknowledge events"):
        Event(routing_key=KEY, event_action="acknowledge")
    ack = Event(routing_key=KEY, event_action="acknowledge", dedup_key="k")
    assert ack.to_dict() == {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "k"}


def test_image_src_must_be_https_in_models() -> None:
    with pytest.raises(EventValidationError, match=r"'images\[0\].src' is invalid"):
        Event(routing_key=KEY, payload=Payload(**payload()), images=[Image(src="http://x/a.png")])


def test_oversized_details_are_replaced_in_models() -> None:
    big = Event(
        routing_key=KEY, payload=Payload(**payload(custom_details={"x": "y" * EVENT_MAX_BYTES}))
    )
    assert big.payload is not None and big.payload.custom_details is not None
    assert OVERSIZE_NOTE_KEY in big.payload.custom_details


def test_timestamp_from_datetime() -> None:
    stamp = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    p = Payload.model_validate(payload(timestamp=stamp))
    assert p.timestamp == "2026-03-04T05:06:07.000Z"


def test_change_event_models() -> None:
    change = ChangeEvent(
        routing_key=KEY,
        payload=ChangePayload(summary="deployed v2", source="ci", custom_details={"sha": "abc"}),
        links=[Link(href="https://ci.example.com/1")],
    )
    assert change.to_dict() == {
        "routing_key": KEY,
        "payload": {"summary": "deployed v2", "source": "ci", "custom_details": {"sha": "abc"}},
        "links": [{"href": "https://ci.example.com/1"}],
    }
    with pytest.raises(EventValidationError, match=r"'payload\.summary' is missing"):
        ChangeEvent.model_validate({"routing_key": KEY, "payload": {"source": "ci"}})
    with pytest.raises(EventValidationError, match="'event_action' is not an Events API v2"):
        ChangeEvent.model_validate(
            {"routing_key": KEY, "payload": {"summary": "x"}, "event_action": "trigger"}
        )
