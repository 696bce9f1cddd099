"""``classify()`` over status, body and headers (pure function; loopback tests are separate, and
the check that these modules load no third-party package is tests/integration/
test_events_outcome_imports.py, as it starts a Python process)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from pagerbridge.pagerduty.outcome import Accepted, Rejected, Retry, classify, retry_delay

NOW = datetime(2026, 11, 23, 3, 0, 0, tzinfo=UTC).timestamp()


def test_202_accepted_with_dedup_key() -> None:
    body = b'{"status":"success","message":"Event processed","dedup_key":"srv01/HTTP"}'
    assert classify(202, body, {}) == Accepted("srv01/HTTP", 202, "Event processed")


@pytest.mark.parametrize("body", [b"", b"OK", b"[1]", b'{"dedup_key": 5}', b"\xff\xfe"])
def test_2xx_with_odd_body_is_still_accepted(body: bytes) -> None:
    outcome = classify(200, body, {})
    assert outcome == Accepted(None, 200, "")


def test_400_rejected_with_pagerduty_message_and_errors() -> None:
    body = (
        b'{"status":"invalid event","message":"Event object is invalid",'
        b'"errors":["\'payload.severity\' is invalid"]}'
    )
    assert classify(400, body, {}) == Rejected(
        400, "Event object is invalid", ["'payload.severity' is invalid"]
    )


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 422])
def test_other_4xx_are_rejected(status: int) -> None:
    outcome = classify(status, b"<html><body>nope</body></html>", {})
    assert isinstance(outcome, Rejected)
    assert outcome.status == status
    assert outcome.message == f"HTTP {status}: <html><body>nope</body></html>"


def test_413_is_rejected_and_says_why() -> None:
    outcome = classify(413, b"", {"Retry-After": "5"})
    assert isinstance(outcome, Rejected)
    assert "too large" in outcome.message and "512 KB" in outcome.message


def test_redirect_is_rejected_naming_the_location() -> None:
    outcome = classify(301, b"", {"Location": "https://elsewhere/v2/enqueue"})
    assert isinstance(outcome, Rejected)
    assert "https://elsewhere/v2/enqueue" in outcome.message


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504, 599, 100, 600])
def test_retryable_statuses(status: int) -> None:
    outcome = classify(status, b"", {})
    assert isinstance(outcome, Retry)
    assert outcome.status == status
    assert outcome.delay is None
    assert outcome.reason.startswith(f"HTTP {status}")


def test_429_retry_after_seconds() -> None:
    outcome = classify(
        429, b'{"status":"throttle event","message":"Requests throttled"}', {"Retry-After": "30"}
    )
    assert outcome == Retry("HTTP 429: Requests throttled", 30.0, 429)


def test_retry_after_http_date_uses_the_given_clock() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True)
    outcome = classify(503, b"", {"retry-after": when}, now=NOW)
    assert isinstance(outcome, Retry)
    assert outcome.delay == pytest.approx(90.0)


def test_retry_after_in_the_past_is_zero_not_negative() -> None:
    when = format_datetime(datetime.fromtimestamp(NOW - 500, UTC), usegmt=True)
    assert retry_delay({"Retry-After": when}, now=NOW) == 0.0
    assert retry_delay({"Retry-After": "-3"}) == 0.0


def test_ratelimit_reset_is_the_fallback() -> None:
    assert retry_delay({"ratelimit-reset": "17"}) == 17.0
    assert retry_delay({"RateLimit-Reset": "4", "Retry-After": "9"}) == 9.0
    assert retry_delay({"Retry-After": "soon", "ratelimit-reset": "4"}) == 4.0


@pytest.mark.parametrize("value", ["soon", "", "nan", "inf", "Mon, 99 Foo 2020"])
def test_unparseable_retry_after_gives_no_delay(value: str) -> None:
    assert retry_delay({"Retry-After": value}) is None


def test_errors_that_are_not_strings_are_kept_as_json() -> None:
    outcome = classify(400, b'{"message":"bad","errors":[{"field":"x"}]}', {})
    assert outcome == Rejected(400, "bad", ['{"field": "x"}'])


def test_rest_style_error_body() -> None:
    body = b'{"error":{"message":"Invalid Input Provided","code":2001,"errors":["x"]}}'
    assert classify(400, body, {}) == Rejected(400, "Invalid Input Provided", ["x"])


def test_long_non_json_body_is_quoted_briefly() -> None:
    outcome = classify(400, b"y" * 10_000, {})
    assert isinstance(outcome, Rejected)
    assert len(outcome.message) < 260 and outcome.message.endswith("…")


def test_outcomes_are_frozen() -> None:
    outcome = Retry("x")
    with pytest.raises(AttributeError):
        outcome.delay = 3  # type: ignore[misc]
