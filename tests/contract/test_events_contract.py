"""Events API v2: our models and rules against PagerDuty's OpenAPI document and developer docs."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from pagerbridge.errors import EventValidationError
from pagerbridge.pagerduty.event_rules import normalise_event
from pagerbridge.pagerduty.events import ChangeEvent, ChangePayload, Event, Image, Link, Payload
from pagerbridge.pagerduty.limits import (
    DEDUP_KEY_MAX,
    EVENT_ACTIONS,
    EVENT_MAX_BYTES,
    EVENTS_PER_MINUTE_PER_KEY,
    EVENTS_REGIONS,
    ROUTING_KEY_LENGTH,
    SEVERITIES,
    SUMMARY_MAX,
)
from pagerbridge.pagerduty.outcome import Accepted, Rejected, classify

KEY = "e93facc04764012d7bfb002500d5d1a6"


@pytest.fixture(scope="module")
def spec(contract_dir: Path) -> dict[str, Any]:
    return json.loads((contract_dir / "events-api-v2.openapiv3.json").read_text())


@pytest.fixture(scope="module")
def docs(contract_dir: Path) -> Path:
    return contract_dir / "developer-docs" / "docs" / "events-API-v2"


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """The schema with every local $ref inlined (the spec has no recursive refs)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(spec, target)
        return {k: resolve(spec, v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(spec, v) for v in node]
    return node


def request_schema(spec: dict[str, Any], path: str) -> dict[str, Any]:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return resolve(spec, body["schema"])  # type: ignore[no-any-return]


def examples(spec: dict[str, Any], path: str) -> list[dict[str, Any]]:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return [example["value"] for example in body["examples"].values()]


def wire_names(model: type[Any]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_alert_event_fields_match_the_spec(spec: dict[str, Any]) -> None:
    schema = request_schema(spec, "/enqueue")
    assert wire_names(Event) == set(schema["properties"])
    assert set(schema["required"]) == {"routing_key", "event_action"}
    assert tuple(schema["properties"]["event_action"]["enum"]) == EVENT_ACTIONS
    payload = schema["properties"]["payload"]
    assert wire_names(Payload) == set(payload["properties"])
    assert set(payload["required"]) == {"summary", "severity", "source"}
    assert set(payload["properties"]["severity"]["enum"]) == set(SEVERITIES)
    image = schema["properties"]["images"]["items"]
    assert wire_names(Image) == set(image["properties"]) and image["required"] == ["src"]
    link = schema["properties"]["links"]["items"]
    assert wire_names(Link) == set(link["properties"]) and link["required"] == ["href"]


def test_change_event_fields_match_the_spec(spec: dict[str, Any]) -> None:
    schema = request_schema(spec, "/change/enqueue")
    assert wire_names(ChangeEvent) == set(schema["properties"])
    assert set(schema["required"]) == {"payload", "routing_key"}
    payload = schema["properties"]["payload"]
    assert wire_names(ChangePayload) == set(payload["properties"])
    assert payload["required"] == ["summary"]


def test_required_model_fields_match_the_spec(spec: dict[str, Any]) -> None:
    payload = request_schema(spec, "/enqueue")["properties"]["payload"]
    required = {(f.alias or n) for n, f in Payload.model_fields.items() if f.is_required()}
    assert required == set(payload["required"])


@pytest.mark.parametrize(("path", "change"), [("/enqueue", False), ("/change/enqueue", True)])
def test_spec_examples_pass_our_rules_and_models(
    spec: dict[str, Any], path: str, change: bool
) -> None:
    validator = Draft7Validator(request_schema(spec, path))
    for example in examples(spec, path):
        out = normalise_event(example, change=change)
        assert out == example
        model = (ChangeEvent if change else Event).model_validate(example)
        assert model.to_dict() == example
        validator.validate(out)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    action=st.sampled_from(EVENT_ACTIONS),
    severity=st.sampled_from(SEVERITIES),
    summary=st.text(min_size=1, max_size=1300).filter(str.strip),
    details=st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20), max_size=4),
)
def test_normalised_events_validate_against_the_spec(
    spec: dict[str, Any], action: str, severity: str, summary: str, details: dict[str, Any]
) -> None:
    event = {
        "routing_key": KEY,
        "event_action": action,
        "dedup_key": "k",
        "payload": {
            "summary": summary,
            "source": "h",
            "severity": severity,
            "custom_details": details,
        },
    }
    Draft7Validator(request_schema(spec, "/enqueue")).validate(normalise_event(event))


def test_response_examples_classify(spec: dict[str, Any]) -> None:
    responses = spec["components"]["responses"]
    ok = responses["Success"]["content"]["application/json"]["examples"]["default"]["value"]
    assert classify(202, json.dumps(ok).encode(), {}) == Accepted(
        ok["dedup_key"], 202, ok["message"]
    )
    err = responses["Error"]["content"]["application/json"]["examples"]["response"]["value"]
    assert classify(400, json.dumps(err).encode(), {}) == Rejected(
        400, err["message"], err["errors"]
    )


def test_server_url_is_the_us_region(spec: dict[str, Any]) -> None:
    assert spec["servers"][0]["url"] == EVENTS_REGIONS["us"] + "/v2"


def test_limits_are_the_documented_ones(docs: Path) -> None:
    trigger = (docs / "02-Trigger-Events.md").read_text()
    change = (docs / "03-Change-Events.md").read_text()
    overview = (docs / "01-Overview.md").read_text()
    rates = (docs / "05-Rate-Limits.md").read_text()
    assert f"This is the {ROUTING_KEY_LENGTH} character Integration Key" in trigger
    assert re.search(
        rf"`dedup_key`.*maximum permitted length of this property is {DEDUP_KEY_MAX} characters",
        trigger,
    )
    for text in (trigger, change):
        assert re.search(
            rf"`payload\.summary`.*maximum permitted length of this property is {SUMMARY_MAX} ",
            text,
        )
    assert "limited to **512 KB**" in overview and EVENT_MAX_BYTES == 512 * 1024
    assert "`critical`, `error`, `warning` or `info`" in trigger
    assert "Can be `trigger`, `acknowledge` or `resolve`" in trigger
    assert f"approximately {EVENTS_PER_MINUTE_PER_KEY} calls/minute per integration key" in rates
    assert "must be served via HTTPS" in trigger


def _json_blocks(markdown: str) -> list[dict[str, Any]]:
    blocks = re.findall(r"```json\n(.*?)```", markdown, flags=re.S)
    return [json.loads(re.sub(r"/\*.*?\*/", "", block, flags=re.S)) for block in blocks]


def test_doc_examples_fail_only_on_their_placeholder_routing_keys(docs: Path) -> None:
    """The docs use "samplekeyhere"-style keys; with a real 32-character key they pass."""
    cases = [(e, False) for e in _json_blocks((docs / "02-Trigger-Events.md").read_text())]
    cases += [(e, True) for e in _json_blocks((docs / "03-Change-Events.md").read_text())]
    assert len(cases) == 4
    for example, change in cases:
        with pytest.raises(EventValidationError) as info:
            normalise_event(example, change=change)
        assert info.value.errors == [
            f"'routing_key' is invalid (must be 32 characters, got {len(example['routing_key'])})"
        ]
        fixed = {**example, "routing_key": KEY}
        assert normalise_event(fixed, change=change) == fixed
