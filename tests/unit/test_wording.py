"""Wording helpers: durations for people (``20 s``, not ``0.00555556 h``), the status once."""

from __future__ import annotations

import pytest

from pagerbridge.pagerduty.durations import format_duration
from pagerbridge.pagerduty.outcome import with_status


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0 s"),
        (0.25, "250 ms"),
        (1, "1 s"),
        (2.5, "2.5 s"),
        (20, "20 s"),
        (20.04, "20 s"),
        (60, "60 s"),
        (90, "90 s"),
        (120, "2 min"),
        (300, "5 min"),
        (3600, "60 min"),
        (5400, "90 min"),
        (7200, "2 h"),
        (86400, "24 h"),
        (1.5 * 86400, "36 h"),
        (7 * 86400, "7 d"),
        (-300, "-5 min"),
    ],
)
def test_format_duration_reads_like_a_person_wrote_it(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_format_duration_never_prints_a_long_fraction() -> None:
    for seconds in (7.777777, 0.00555556 * 3600, 1234.5678, 99999.9, 1e-4):
        words = format_duration(seconds).split()
        assert len(words) == 2
        number = words[0]
        assert len(number.partition(".")[2]) <= 1, (seconds, number)
    assert format_duration(float("inf")) == "inf s"


@pytest.mark.parametrize(
    ("status", "text", "expected"),
    [
        (500, "HTTP 500: boom", "HTTP 500: boom"),
        (429, "HTTP 429 with an empty body", "HTTP 429 with an empty body"),
        (401, "hub refused the shared token (HTTP 401)", "hub refused the shared token (HTTP 401)"),
        (400, "Event object is invalid", "HTTP 400: Event object is invalid"),
        (400, "HTTP 4000 things", "HTTP 400: HTTP 4000 things"),  # another number is not ours
        (400, "", "HTTP 400"),
        (None, "could not reach x", "could not reach x"),
    ],
)
def test_with_status_names_the_status_once(status: int | None, text: str, expected: str) -> None:
    assert with_status(status, text) == expected
