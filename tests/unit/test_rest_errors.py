"""Parsing PagerDuty's error bodies and rate-limit headers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pagerbridge.errors import APIError, RateLimitedError
from pagerbridge.pagerduty.rest_errors import (
    RateLimitInfo,
    error_from_response,
    parse_rate_limit,
    retry_delay,
)

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


def test_rate_limit_headers_are_read_case_insensitively() -> None:
    info = parse_rate_limit(
        {"RateLimit-Limit": "960", "ratelimit-remaining": "0", "ratelimit-reset": "20"}
    )
    assert info == RateLimitInfo(limit=960, remaining=0, reset=20.0)
    assert parse_rate_limit({"content-type": "application/json"}) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"ratelimit-reset": "20"}, 20.0),
        ({"ratelimit-reset": "20", "Retry-After": "5"}, 20.0),  # ratelimit-reset wins
        ({"Retry-After": "5"}, 5.0),
        ({"Retry-After": "Thu, 01 Jan 2026 12:00:30 GMT"}, 30.0),
        ({"Retry-After": "Thu, 01 Jan 2026 11:00:00 GMT"}, 0.0),  # in the past: no wait
        ({"Retry-After": "soon"}, None),
        ({"ratelimit-reset": "-3"}, None),
        ({}, None),
    ],
)
def test_retry_delay(headers: dict[str, str], expected: float | None) -> None:
    assert retry_delay(headers, now=NOW) == expected


def test_documented_rate_limit_body() -> None:
    err = error_from_response(
        429,
        b'{"error": {"message": "Rate Limit Exceeded", "code": 2020}}',
        {"ratelimit-reset": "20"},
    )
    assert isinstance(err, RateLimitedError)
    assert (err.message, err.code, err.retry_after) == ("Rate Limit Exceeded", 2020, 20.0)


@pytest.mark.parametrize(
    ("body", "message", "code", "errors"),
    [
        (
            b'{"error":{"message":"Invalid Input Provided","code":2001,"errors":["a","b"]}}',
            "Invalid Input Provided",
            2001,
            ["a", "b"],
        ),
        (b'{"error":{"message":"x","code":"2001","errors":"one"}}', "x", None, ["one"]),
        (b'{"error":"plain text error"}', "plain text error", None, []),
        (b'{"message":"gateway says no"}', "gateway says no", None, []),
        (b"", "Bad Request", None, []),
        (b"[1,2]", "Bad Request", None, []),
        (b"<html>" + b"x" * 500, "<html>" + "x" * 194 + "...", None, []),
    ],
)
def test_error_bodies(body: bytes, message: str, code: int | None, errors: list[str]) -> None:
    err = error_from_response(400, body, {})
    assert type(err) is APIError
    assert (err.message, err.code, err.errors) == (message, code, errors)
