"""v3 webhooks against PagerDuty's documented event types, examples and signature test vector."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.errors import SignatureError
from pagerbridge.pagerduty.limits import SIGNATURE_HEADER
from pagerbridge.pagerduty.webhook_types import (
    DATA_TYPE_MODELS,
    EVENT_TYPES,
    GenericData,
    IncidentData,
    ServiceData,
)
from pagerbridge.pagerduty.webhooks import build_envelope, parse_webhook, sign, verify


@pytest.fixture(scope="module")
def vector(contract_dir: Path) -> dict[str, Any]:
    return json.loads((contract_dir / "webhooks-v3-signature-test-vector.json").read_text())


@pytest.fixture(scope="module")
def catalogue(contract_dir: Path) -> dict[str, Any]:
    return json.loads((contract_dir / "webhooks-v3-event-types-and-examples.json").read_text())


def test_vector_valid_signature_verifies(vector: dict[str, Any]) -> None:
    assert vector["header"] == SIGNATURE_HEADER
    body = vector["raw_body"].encode("utf-8")
    verify(body, vector["valid_signature_header"], vector["secret"])
    assert sign(body, vector["secret"]) == vector["valid_signature_header"]


def test_vector_mismatching_signature_is_rejected(vector: dict[str, Any]) -> None:
    with pytest.raises(SignatureError):
        verify(
            vector["raw_body"].encode(), vector["mismatching_signature_header"], vector["secret"]
        )


def test_vector_rotation_header_verifies(vector: dict[str, Any]) -> None:
    verify(vector["raw_body"].encode(), vector["rotation_example_header"], vector["secret"])


def test_vector_body_changed_by_one_byte_is_rejected(vector: dict[str, Any]) -> None:
    body = vector["raw_body"].replace("Tenex", "Tenez").encode()
    with pytest.raises(SignatureError):
        verify(body, vector["rotation_example_header"], vector["secret"])


def test_vector_body_parses_as_priority_update(vector: dict[str, Any]) -> None:
    event = parse_webhook(vector["raw_body"].encode()).event
    assert event.event_type == "incident.priority_updated"
    assert isinstance(event.data, IncidentData)
    assert event.data.priority is not None and event.data.priority.summary == "P1"
    # the vector sends conference_number as a number; the docs as a string: both parse
    assert event.data.conference_bridge is not None
    assert event.data.conference_bridge.conference_number == "1000"


def test_event_type_table_matches(catalogue: dict[str, Any]) -> None:
    documented = {row["event_type"]: row["data_type"] for row in catalogue["event_types"]}
    assert len(documented) == 30
    assert documented == EVENT_TYPES
    assert set(documented.values()) == set(DATA_TYPE_MODELS)


def test_every_event_type_parses_its_documented_example(catalogue: dict[str, Any]) -> None:
    examples = catalogue["examples_by_section"]
    for event_type, data_type in EVENT_TYPES.items():
        example = examples[data_type]
        raw = json.dumps(build_envelope(event_type, example, occurred_at="2021-04-26T17:36:27Z"))
        event = parse_webhook(raw.encode()).event
        assert type(event.data) is DATA_TYPE_MODELS[data_type], event_type
        assert event.known
        dumped = event.data.model_dump(mode="json", by_alias=True, exclude_unset=True)
        assert set(dumped) == set(example), event_type  # nothing lost, nothing invented


def test_documented_envelopes_parse(catalogue: dict[str, Any]) -> None:
    examples = catalogue["examples_by_section"]
    envelopes = [v for k, v in examples.items() if k.startswith("Webhook Payload")]
    assert len(envelopes) == 2
    first, second = (parse_webhook(json.dumps(e)).event for e in envelopes)
    assert isinstance(first.data, IncidentData) and first.client is not None
    assert first.agent is not None and first.agent.type == "user_reference"
    assert isinstance(second.data, ServiceData) and second.agent is None and second.client is None


def test_unknown_type_parses_generically(catalogue: dict[str, Any]) -> None:
    example = catalogue["examples_by_section"]["incident"]
    event = parse_webhook(json.dumps(build_envelope("incident.future_thing", example))).event
    assert isinstance(event.data, GenericData) and not event.known
    assert event.data.model_dump(by_alias=True)["title"] == example["title"]
