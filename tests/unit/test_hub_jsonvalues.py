"""The rules for what the incident store accepts (issue 11, item 2), without a database: JSON
values are refused naming the place, repaired for reading, and text is checked by its limits."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagerbridge.incidents import jsonvalues
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.limits import JSON_DEPTH_MAX, check_text

#: Strings as a client can send them in JSON: any code point, lone surrogates and NUL included.
texts = st.text(
    st.characters(exclude_categories=()) | st.sampled_from(["\x00", "\ud800", "\udfff"]),
    max_size=12,
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | texts
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=25,
)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"d": value}
    return value


def servable(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False, ensure_ascii=False).encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return True


@settings(max_examples=300, deadline=None)
@given(values)
def test_safe_values_are_accepted_and_servable(value: Any) -> None:
    repaired = jsonvalues.safe(value)
    assert jsonvalues.problem(repaired) is None
    assert servable(repaired)
    if jsonvalues.problem(value) is None:
        assert repaired is value  # nothing copied when nothing needed repair


@settings(max_examples=300, deadline=None)
@given(values)
def test_what_problem_accepts_round_trips_through_json(value: Any) -> None:
    if jsonvalues.problem(value) is None:
        assert json.loads(json.dumps(value)) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"n": math.nan}, "custom_fields.n: NaN and Infinity"),
        ({"a": [0, {"b": -math.inf}]}, "custom_fields.a[1].b: NaN"),
        ({"n": 2**63}, "custom_fields.n: integers must fit in 64 bits"),
        ({"s": "a\x00"}, "custom_fields.s: must not contain NUL"),
        ({"k\x00": 1}, "custom_fields: the key 'k\\x00' must not contain NUL"),
        ({"a b": "\ud800"}, "custom_fields['a b']: is not valid Unicode"),
        ({1: 2}, "custom_fields: object keys must be strings"),
        ({"t": {1, 2}}, "custom_fields.t: set is not a JSON value"),
        (nested(JSON_DEPTH_MAX + 1), "nested more than 32 levels deep"),
    ],
)
def test_refusals_name_the_place(value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        jsonvalues.check("custom_fields", value, max_bytes=65536)
    assert message in str(info.value)


def test_limits_of_custom_fields() -> None:
    jsonvalues.check("custom_fields", nested(JSON_DEPTH_MAX), max_bytes=65536)
    jsonvalues.check("custom_fields", {"n": 2**63 - 1, "m": -(2**63)}, max_bytes=65536)
    with pytest.raises(InvalidInputError, match="65,536"):
        jsonvalues.check("custom_fields", {"k": "x" * 65536}, max_bytes=65536)
    with pytest.raises(InvalidInputError, match="must be a JSON object"):
        jsonvalues.check("custom_fields", [1], max_bytes=65536)


def test_safe_repairs_as_documented() -> None:
    stored = {"nan": math.nan, "big": 10**30, "s": "a\x00b\ud800", "k\x00": [math.inf]}
    assert jsonvalues.safe(stored) == {
        "nan": None,
        "big": str(10**30),
        "s": "ab\ufffd",
        "k": [None],
    }
    deep = jsonvalues.safe(nested(JSON_DEPTH_MAX + 3))
    inner = deep
    for _ in range(JSON_DEPTH_MAX):
        inner = inner["d"]
    assert json.loads(inner) == nested(3)  # too deep: served as its JSON text


@pytest.mark.parametrize(
    ("value", "options", "message"),
    [
        ("a\x00", {}, "title must not contain NUL characters"),
        ("a\ud800", {}, "title is not valid Unicode"),
        ("x" * 1025, {"max_chars": 1024}, "title is 1,025 characters long (at most 1,024)"),
        ("é" * 3, {"max_bytes": 5}, "title is 6 bytes long in UTF-8 (at most 5)"),
        ("a\nb", {"one_line": True}, "title must be one line"),
        ("a\u2028b", {"one_line": True}, "title must be one line"),
        (7, {}, "title must be a string, not int"),
    ],
)
def test_text_refusals(value: Any, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        check_text("title", value, **options)
    assert str(info.value) == message or message in str(info.value)


def test_text_at_the_limits_passes() -> None:
    assert check_text("title", "x" * 1024, max_chars=1024, one_line=True) == "x" * 1024
    assert check_text("note", "é" * 32768, max_bytes=65536) == "é" * 32768
