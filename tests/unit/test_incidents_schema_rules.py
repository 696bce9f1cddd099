"""The JSON Schema rules of the API's models say what the domain accepts: a value matching a
field's pattern or enum passes the domain's own check (so a client that follows the OpenAPI
document gets no 422), and the character classes are exactly Python's line breaks and whitespace.
"""

from __future__ import annotations

import re
import sys
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagerbridge.errors import IncidentNotFoundError
from pagerbridge.incidents import lifecycle, schemas, sla, tokens
from pagerbridge.incidents.changes import check_note
from pagerbridge.incidents.limits import check_text
from pagerbridge.incidents.service import _check_title

ALL = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def _class_members(char_class: str) -> set[str]:
    pattern = re.compile(f"[{char_class}]")
    return {c for c in ALL if pattern.fullmatch(c)}


def test_line_break_class_is_what_splitlines_breaks_on() -> None:
    breaks = {c for c in ALL if len(f"a{c}b".splitlines()) > 1}
    assert _class_members(schemas._BREAK_OR_NUL) == breaks | {"\x00"}


def test_space_class_is_what_strip_removes() -> None:
    assert _class_members(schemas._SPACE_OR_NUL) == {c for c in ALL if c.isspace()} | {"\x00"}


def test_literal_enums_are_the_domains() -> None:
    assert get_args(schemas.Severity) == lifecycle.SEVERITIES
    assert get_args(schemas.Status) == lifecycle.STATUSES
    assert schemas.severity_schema()["enum"] == list(lifecycle.SEVERITIES)
    for value in schemas.status_schema(synonym=True)["enum"]:
        assert lifecycle.parse_status(value) in lifecycle.STATUSES
    for value in schemas.severity_schema()["enum"]:
        assert lifecycle.parse_severity(value) == value


def _matching(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


@settings(max_examples=300)
@given(_matching(schemas.ONE_LINE).filter(lambda s: len(s) <= 1024))
def test_one_line_titles_are_accepted(title: str) -> None:
    assert _check_title(title) == title.strip()


@settings(max_examples=300)
@given(_matching(schemas.NOT_BLANK))
def test_not_blank_notes_are_accepted(body: str) -> None:
    assert check_note(body) == body and body.strip()


@settings(max_examples=300)
@given(_matching(schemas.NO_NUL))
def test_text_without_nul_is_accepted(value: str) -> None:
    assert check_text("x", value) == value


@settings(max_examples=300)
@given(_matching(schemas.DURATION))
def test_durations_of_the_pattern_are_within_the_limits(value: str) -> None:
    assert 1 <= sla.parse_duration(value) <= 366 * 86400


@pytest.mark.parametrize("value", ["1", "9999999", "90s", "99999m", "999h59m", "366d", "1h30m"])
def test_duration_edges(value: str) -> None:
    assert re.fullmatch(schemas.DURATION, value)
    assert sla.parse_duration(value) > 0


@settings(max_examples=300)
@given(_matching(schemas.SERVICE_NAME))
def test_service_names_of_the_pattern_are_accepted(name: str) -> None:
    assert lifecycle.check_service_name(name) == name


@settings(max_examples=300)
@given(_matching(schemas.TOKEN_NAME))
def test_token_names_of_the_pattern_are_accepted(name: str) -> None:
    assert tokens._NAME.fullmatch(name)


@settings(max_examples=300)
@given(_matching(schemas.INCIDENT_REF))
def test_incident_ids_of_the_pattern_are_ids(ref: str) -> None:
    """Every id of the pattern is an id: an incident there can be, or a 404 (never a 422)."""
    try:
        assert lifecycle.format_ref(lifecycle.parse_ref(ref)) == ref
    except IncidentNotFoundError:
        assert int(ref[4:]) > 2**31 - 1
