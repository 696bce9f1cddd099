"""``sign`` / ``verify`` of X-PagerDuty-Signature (PagerDuty's test vector: tests/contract)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pagerbridge.errors import ConfigError, SignatureError
from pagerbridge.pagerduty.webhooks import build_envelope, sign, signature_for, verify

BODY = b'{"event":{"id":"1","event_type":"incident.triggered","data":{}}}'


def test_sign_is_hmac_sha256_hex_of_the_raw_body() -> None:
    expected = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest()
    assert sign(BODY, "s3cret") == f"v1={expected}"
    assert signature_for(BODY, "s3cret") == expected


def test_sign_with_several_secrets_joins_with_commas() -> None:
    header = sign(BODY, ["old", "new"])
    assert header == f"v1={signature_for(BODY, 'old')},v1={signature_for(BODY, 'new')}"


def test_verify_accepts_its_own_signature_and_any_of_several() -> None:
    verify(BODY, sign(BODY, "k"), "k")
    verify(BODY, sign(BODY, ["other", "k"]), "k")  # rotation on the sender's side
    verify(BODY, sign(BODY, "k"), ["new", "k"])  # rotation on our side
    verify(BODY, " v1=abc , " + sign(BODY, "k").upper().replace("V1=", "v1="), "k")


def test_verify_rejects_a_changed_body() -> None:
    header = sign(BODY, "k")
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY + b" ", header, "k")


def test_verify_rejects_the_wrong_secret() -> None:
    with pytest.raises(SignatureError, match="does not match"):
        verify(BODY, sign(BODY, "k"), "not-k")


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header(header: str | None) -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify(BODY, header, "k")


def test_header_without_v1_values() -> None:
    digest = signature_for(BODY, "k")
    with pytest.raises(SignatureError, match="no v1= signature"):
        verify(BODY, f"v0={digest},sha256={digest}", "k")


def test_no_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="no webhook signing secret"):
        verify(BODY, "v1=00", [])
    with pytest.raises(ConfigError):
        sign(BODY, "")


def test_str_body_is_signed_as_utf8() -> None:
    text = '{"summary":"Störung ☃"}'
    assert sign(text, "k") == sign(text.encode("utf-8"), "k")


def test_non_ascii_signature_value_does_not_crash() -> None:
    with pytest.raises(SignatureError):
        verify(BODY, "v1=ÿÿ", "k")


@given(body=st.binary(max_size=512), secret=st.text(min_size=1, max_size=40))
def test_sign_verify_round_trip(body: bytes, secret: str) -> None:
    verify(body, sign(body, secret), secret)
    with pytest.raises(SignatureError):
        verify(body + b"x", sign(body, secret), secret)


def test_build_envelope() -> None:
    env = build_envelope(
        "incident.acknowledged",
        {"id": "P1", "type": "incident"},
        agent={"id": "PU", "type": "user_reference"},
        occurred_at="2026-01-01T00:00:00.000Z",
        event_id="E1",
    )
    assert env == {
        "event": {
            "id": "E1",
            "event_type": "incident.acknowledged",
            "resource_type": "incident",
            "occurred_at": "2026-01-01T00:00:00.000Z",
            "agent": {"id": "PU", "type": "user_reference"},
            "client": None,
            "data": {"id": "P1", "type": "incident"},
        }
    }
    generated = build_envelope("service.updated", {})["event"]
    assert generated["resource_type"] == "service"
    assert generated["id"] and generated["occurred_at"].endswith("Z")
