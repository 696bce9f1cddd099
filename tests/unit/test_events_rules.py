"""Every Events API v2 rule in ``event_rules``: each test fails if its rule breaks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagerbridge.errors import ConfigError, EventValidationError
from pagerbridge.pagerduty.event_rules import (
    OVERSIZE_NOTE_KEY,
    encode_event,
    events_url,
    format_timestamp,
    normalise_event,
    truncate_summary,
)
from pagerbridge.pagerduty.limits import (
    DEDUP_KEY_MAX,
    EVENT_MAX_BYTES,
    EVENTS_REGIONS,
    SEVERITIES,
    SUMMARY_MAX,
    TRUNCATION_MARKER,
)

KEY = "deadbeefdeadbeefdeadbeefdeadbeef"


def trigger(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": KEY,
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db1", "severity": "critical"},
    }
    event.update(overrides)
    return event


def errors_of(event: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(EventValidationError) as info:
        normalise_event(event, **kwargs)
    return info.value.errors


def test_valid_trigger_passes_unchanged_and_input_is_not_modified() -> None:
    event = trigger(dedup_key="db1/disk", client="nagios", client_url="https://nagios.example")
    before = json.dumps(event, sort_keys=True)
    out = normalise_event(event)
    assert out == event
    assert out is not event
    assert json.dumps(event, sort_keys=True) == before


@pytest.mark.parametrize("key", ["", "short", "x" * 31, "x" * 33])
def test_routing_key_must_be_32_characters(key: str) -> None:
    errors = errors_of(trigger(routing_key=key))
    assert any(e.startswith("'routing_key'") for e in errors)
    if key:
        assert f"got {len(key)}" in errors[0]


def test_routing_key_missing_and_not_a_string() -> None:
    event = trigger()
    del event["routing_key"]
    assert errors_of(event) == ["'routing_key' is missing or blank"]
    assert errors_of(trigger(routing_key=123)) == [
        "'routing_key' is invalid (must be a string, got a number)"
    ]


@pytest.mark.parametrize("action", [None, "", "ack", "TRIGGER", 1])
def test_event_action_must_be_known(action: Any) -> None:
    errors = errors_of(trigger(event_action=action))
    assert any(e.startswith("'event_action'") for e in errors)
    assert any("trigger, acknowledge, resolve" in e for e in errors)


def test_summary_at_limit_is_kept_longer_is_truncated_with_marker() -> None:
    exact = "s" * SUMMARY_MAX
    assert (
        normalise_event(trigger(payload={**trigger()["payload"], "summary": exact}))["payload"][
            "summary"
        ]
        == exact
    )
    long = "a" * (SUMMARY_MAX + 500)
    out = normalise_event(trigger(payload={**trigger()["payload"], "summary": long}))
    summary = out["payload"]["summary"]
    assert len(summary) == SUMMARY_MAX
    assert summary.endswith(TRUNCATION_MARKER)
    assert summary.startswith("a" * (SUMMARY_MAX - len(TRUNCATION_MARKER)))


@given(st.text(max_size=3000))
def test_truncate_summary_property(text: str) -> None:
    out = truncate_summary(text)
    assert len(out) <= SUMMARY_MAX
    if len(text) <= SUMMARY_MAX:
        assert out == text
    else:
        assert out.endswith(TRUNCATION_MARKER)
        assert text.startswith(out[: -len(TRUNCATION_MARKER)])


@pytest.mark.parametrize("field", ["summary", "source", "severity"])
def test_trigger_payload_required_fields(field: str) -> None:
    payload = dict(trigger()["payload"])
    del payload[field]
    errors = errors_of(trigger(payload=payload))
    assert errors[0].startswith(f"'payload.{field}' is missing or blank")


def test_trigger_needs_a_payload_object() -> None:
    event = trigger()
    del event["payload"]
    assert errors_of(event) == ["'payload' is missing or blank (required to trigger)"]
    assert errors_of(trigger(payload="x")) == [
        "'payload' is invalid (must be an object, got a string)"
    ]


@pytest.mark.parametrize("severity", SEVERITIES)
def test_every_documented_severity_is_accepted(severity: str) -> None:
    out = normalise_event(trigger(payload={**trigger()["payload"], "severity": severity}))
    assert out["payload"]["severity"] == severity


@pytest.mark.parametrize("severity", ["Critical", "fatal", "", "high"])
def test_other_severities_are_rejected_pagerduty_style(severity: str) -> None:
    errors = errors_of(trigger(payload={**trigger()["payload"], "severity": severity}))
    assert errors[0] in (
        "'payload.severity' is invalid (must be one of critical, error, warning, info)",
        "'payload.severity' is missing or blank (must be one of critical, error, warning, info)",
    )


def test_dedup_key_limit() -> None:
    assert normalise_event(trigger(dedup_key="k" * DEDUP_KEY_MAX))["dedup_key"] == "k" * 255
    errors = errors_of(trigger(dedup_key="k" * (DEDUP_KEY_MAX + 1)))
    assert errors == ["'dedup_key' is invalid (must be at most 255 characters, got 256)"]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
def test_dedup_key_required_for_acknowledge_and_resolve(action: str) -> None:
    assert errors_of({"routing_key": KEY, "event_action": action}) == [
        f"'dedup_key' is missing or blank (required for {action} events)"
    ]
    assert errors_of({"routing_key": KEY, "event_action": action, "dedup_key": "  "}) == [
        f"'dedup_key' is missing or blank (required for {action} events)"
    ]
    ok = normalise_event({"routing_key": KEY, "event_action": action, "dedup_key": "x"})
    assert ok == {"routing_key": KEY, "event_action": action, "dedup_key": "x"}


def test_acknowledge_ignores_payload_rules() -> None:
    event = {"routing_key": KEY, "event_action": "resolve", "dedup_key": "x", "payload": {}}
    assert normalise_event(event)["payload"] == {}


def test_none_optional_fields_are_dropped() -> None:
    out = normalise_event(trigger(dedup_key=None, images=None, links=None, client=None))
    assert not {"dedup_key", "images", "links", "client"} & out.keys()


def test_images_need_https_src() -> None:
    good = {"src": "https://example.com/a.png", "href": "https://x", "alt": "chart"}
    assert normalise_event(trigger(images=[good]))["images"] == [good]
    errors = errors_of(trigger(images=[{"src": "http://example.com/a.png"}, {"alt": "x"}]))
    assert errors == [
        "'images[0].src' is invalid (must be an https:// URL; PagerDuty shows only HTTPS images)",
        "'images[1].src' is missing or blank",
    ]
    assert errors_of(trigger(images={"src": "https://x"})) == [
        "'images' is invalid (must be an array of objects, got an object)"
    ]


def test_links_need_href() -> None:
    assert normalise_event(trigger(links=[{"href": "http://x", "text": "t"}]))["links"]
    assert errors_of(trigger(links=[{"text": "t"}, "nope"])) == [
        "'links[0].href' is missing or blank",
        "'links[1]' is invalid (must be an object, got a string)",
    ]


def test_optional_strings_must_be_strings() -> None:
    payload = {**trigger()["payload"], "component": 1, "group": [], "class": {}}
    errors = errors_of(trigger(payload=payload, client=5))
    assert "'payload.component' is invalid (must be a string, got a number)" in errors
    assert "'payload.group' is invalid (must be a string, got an array)" in errors
    assert "'payload.class' is invalid (must be a string, got an object)" in errors
    assert "'client' is invalid (must be a string, got a number)" in errors


def test_custom_details_must_be_an_object() -> None:
    errors = errors_of(trigger(payload={**trigger()["payload"], "custom_details": "text"}))
    assert errors == ["'payload.custom_details' is invalid (must be an object, got a string)"]


def test_all_errors_are_reported_at_once() -> None:
    errors = errors_of({"routing_key": "x", "event_action": "trigger", "payload": {}})
    assert len(errors) == 4  # routing_key, summary, source, severity


def test_not_an_object() -> None:
    assert errors_of(["x"]) == ["the event must be a JSON object, got an array"]


def test_timestamp_filled_with_now_only_when_absent() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    out = normalise_event(trigger(), now=now)
    assert out["payload"]["timestamp"] == "2026-01-02T03:04:05.678Z"
    given_stamp = "2015-07-17T08:42:58.315+0000"
    payload = {**trigger()["payload"], "timestamp": given_stamp}
    assert normalise_event(trigger(payload=payload), now=now)["payload"]["timestamp"] == given_stamp
    assert "timestamp" not in normalise_event(trigger())["payload"]


def test_timestamp_datetime_is_written_as_utc_iso() -> None:
    local = datetime(2026, 1, 2, 5, 0, tzinfo=timezone(timedelta(hours=2)))
    payload = {**trigger()["payload"], "timestamp": local}
    assert normalise_event(trigger(payload=payload))["payload"]["timestamp"] == (
        "2026-01-02T03:00:00.000Z"
    )
    assert format_timestamp(datetime(2026, 1, 1)) == "2026-01-01T00:00:00.000Z"


@pytest.mark.parametrize("stamp", ["yesterday", "2015-07-17", "17/07/2015 08:00", 12345])
def test_bad_timestamps_are_rejected(stamp: Any) -> None:
    errors = errors_of(trigger(payload={**trigger()["payload"], "timestamp": stamp}))
    assert errors[0].startswith("'payload.timestamp' is invalid (must be an ISO 8601 date-time")


def test_oversized_custom_details_are_replaced_by_a_note() -> None:
    details = {"log": "x" * EVENT_MAX_BYTES}
    out = normalise_event(trigger(payload={**trigger()["payload"], "custom_details": details}))
    note = out["payload"]["custom_details"][OVERSIZE_NOTE_KEY]
    assert "custom_details removed" in note and "524288" in note
    assert len(encode_event(out)) <= EVENT_MAX_BYTES
    assert out["payload"]["summary"] == "disk full"


def test_event_exactly_at_the_limit_is_kept() -> None:
    base = trigger(payload={**trigger()["payload"], "custom_details": {"log": ""}})
    pad = EVENT_MAX_BYTES - len(encode_event(base))
    base["payload"]["custom_details"]["log"] = "x" * pad
    assert len(encode_event(base)) == EVENT_MAX_BYTES
    assert normalise_event(base)["payload"]["custom_details"]["log"] == "x" * pad
    base["payload"]["custom_details"]["log"] += "x"
    assert OVERSIZE_NOTE_KEY in normalise_event(base)["payload"]["custom_details"]


def test_still_too_large_without_details_is_an_error() -> None:
    links = [{"href": "https://example.com/" + "y" * 1000}] * 600
    errors = errors_of(trigger(links=links, payload={**trigger()["payload"], "custom_details": {}}))
    assert len(errors) == 1
    assert errors[0].startswith("'event' is invalid (too large:")
    assert "even without payload.custom_details" in errors[0]
    errors = errors_of(trigger(links=links))
    assert "PagerDuty accepts at most 524288 bytes" in errors[0]


def test_multibyte_characters_count_as_bytes() -> None:
    details = {"text": "é" * (EVENT_MAX_BYTES // 2)}  # fewer characters than bytes
    out = normalise_event(trigger(payload={**trigger()["payload"], "custom_details": details}))
    assert OVERSIZE_NOTE_KEY in out["payload"]["custom_details"]


def test_unserialisable_details_are_an_error_not_a_crash() -> None:
    payload = {**trigger()["payload"], "custom_details": {"x": float("nan"), "y": object()}}
    errors = errors_of(trigger(payload=payload))
    assert errors[0].startswith("'event' is invalid (cannot be encoded as JSON")


def test_change_event_rules() -> None:
    change = {"routing_key": KEY, "payload": {"summary": "deployed v2"}}
    assert normalise_event(change, change=True) == change
    assert errors_of({"routing_key": KEY, "payload": {"source": "ci"}}, change=True) == [
        "'payload.summary' is missing or blank"
    ]
    assert errors_of({"routing_key": KEY}, change=True) == [
        "'payload' is missing or blank (required for change events)"
    ]
    long = {"routing_key": KEY, "payload": {"summary": "z" * 5000}}
    assert len(normalise_event(long, change=True)["payload"]["summary"]) == SUMMARY_MAX
    now = datetime(2026, 5, 1, tzinfo=UTC)
    assert normalise_event(change, change=True, now=now)["payload"]["timestamp"] == (
        "2026-05-01T00:00:00.000Z"
    )


def test_encode_event_is_compact_utf8() -> None:
    assert encode_event({"a": "é", "b": [1, 2]}) == '{"a":"é","b":[1,2]}'.encode()


@pytest.mark.parametrize(
    ("base", "change", "expected"),
    [
        ("https://events.pagerduty.com", False, "https://events.pagerduty.com/v2/enqueue"),
        ("https://events.pagerduty.com/", True, "https://events.pagerduty.com/v2/change/enqueue"),
        ("https://e.example/v2/enqueue", False, "https://e.example/v2/enqueue"),
        ("https://e.example/v2/enqueue", True, "https://e.example/v2/change/enqueue"),
        ("https://e.example/v2/change/enqueue", False, "https://e.example/v2/enqueue"),
        ("http://127.0.0.1:8090/v2", False, "http://127.0.0.1:8090/v2/enqueue"),
        ("http://h/prefix/", True, "http://h/prefix/v2/change/enqueue"),
    ],
)
def test_events_url(base: str, change: bool, expected: str) -> None:
    assert events_url(base, change=change) == expected


def test_events_url_rejects_non_http() -> None:
    with pytest.raises(ConfigError, match="must start with http"):
        events_url("events.pagerduty.com")


def test_regions() -> None:
    assert events_url(EVENTS_REGIONS["eu"]) == "https://events.eu.pagerduty.com/v2/enqueue"


@given(
    summary=st.text(min_size=1, max_size=1500).filter(lambda s: s.strip() != ""),
    dedup=st.text(min_size=1, max_size=300).filter(lambda s: s.strip() != "" and "\x00" not in s),
    severity=st.sampled_from(SEVERITIES),
)
def test_normalised_events_always_satisfy_the_limits(
    summary: str, dedup: str, severity: str
) -> None:
    event = trigger(
        dedup_key=dedup, payload={"summary": summary, "source": "h", "severity": severity}
    )
    try:
        out = normalise_event(event)
    except EventValidationError as exc:
        assert len(dedup) > DEDUP_KEY_MAX
        assert exc.errors == [
            f"'dedup_key' is invalid (must be at most 255 characters, got {len(dedup)})"
        ]
        return
    assert len(out["payload"]["summary"]) <= SUMMARY_MAX
    assert out["dedup_key"] == dedup
    assert normalise_event(out) == out  # idempotent


def test_oversized_resolve_does_not_modify_the_callers_payload() -> None:
    details = {"log": "x" * EVENT_MAX_BYTES}
    event = {
        "routing_key": KEY,
        "event_action": "resolve",
        "dedup_key": "k",
        "payload": {"custom_details": details},
    }
    out = normalise_event(event)
    assert OVERSIZE_NOTE_KEY in out["payload"]["custom_details"]
    assert event["payload"]["custom_details"] is details


@pytest.mark.parametrize("field", ["routing_key", "dedup_key"])
@pytest.mark.parametrize("bad", ["\x00", "\ud800"])
def test_keys_with_nul_or_lone_surrogates_are_refused(field: str, bad: str) -> None:
    """Keys are stored and matched as text: PostgreSQL cannot hold a NUL, nothing can encode a
    lone surrogate. Refused by name, so both backends (and pd-send) answer the same 400."""
    event = trigger(dedup_key="a" + bad + "b") if field == "dedup_key" else trigger()
    if field == "routing_key":
        event["routing_key"] = KEY[:-1] + bad
    assert errors_of(event) == [
        f"'{field}' is invalid (must not contain NUL bytes or unpaired surrogates)"
    ]


@pytest.mark.parametrize("action", ["acknowledge", "resolve"])
@pytest.mark.parametrize("payload", ["down", 5, [1]])
def test_a_non_object_payload_is_refused_on_every_action(action: str, payload: Any) -> None:
    """PagerDuty answers 400 to it; the agent must refuse it too instead of retrying for 24 h."""
    event = {"routing_key": KEY, "event_action": action, "dedup_key": "k", "payload": payload}
    (error,) = errors_of(event)
    assert error.startswith("'payload' is invalid (must be an object, got ")


def test_a_resolve_without_or_with_a_null_payload_is_fine() -> None:
    for event in (
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k"},
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k", "payload": None},
        {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k", "payload": {}},
    ):
        assert normalise_event(event)["event_action"] == "resolve"
