"""pagerbridge.pagerduty.jsonfast.dumps gives json.dumps' text and errors, without json."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pagerbridge.pagerduty import jsonfast

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # includes nan and +-inf
    | st.text()
)
VALUES = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
        | st.dictionaries(st.integers() | st.booleans() | st.none(), children, max_size=3)
    ),
    max_leaves=20,
)
KWARGS = [
    {},
    {"separators": (",", ":"), "ensure_ascii": False, "allow_nan": False},
    {"ensure_ascii": False, "separators": (",", ":")},
    {"separators": (",", ":")},
    {"sort_keys": True},
    {"ensure_ascii": True, "allow_nan": True, "separators": (", ", ": ")},
]


def outcome(fn: Any, obj: Any, kw: dict[str, Any]) -> tuple[str, str]:
    try:
        return "ok", fn(obj, **kw)
    except (TypeError, ValueError) as exc:  # the same exception type and message
        return type(exc).__name__, str(exc)


@pytest.mark.parametrize("kw", KWARGS, ids=repr)
@settings(max_examples=300, deadline=None)
@given(obj=VALUES)
def test_dumps_matches_json_dumps(kw: dict[str, Any], obj: Any) -> None:
    assert outcome(jsonfast.dumps, obj, kw) == outcome(json.dumps, obj, kw)


@pytest.mark.parametrize("kw", KWARGS, ids=repr)
def test_errors_and_edge_cases_match_json_dumps(kw: dict[str, Any]) -> None:
    circular: list[Any] = []
    circular.append(circular)
    for obj in [
        {"when": object()},
        {1.5: "float key", None: 1, True: 2},
        {(1, 2): "tuple key"},
        circular,
        float("nan"),
        [float("inf"), -float("inf")],
        'héllo \u2028 \x00 "quoted" 🔥',
        {"b": 1, "a": {"d": [1, 2.5, "x"], "c": None}},
        1e300 * 10,
        12345678901234567890,
    ]:
        assert outcome(jsonfast.dumps, obj, kw) == outcome(json.dumps, obj, kw), obj


def test_other_keywords_go_to_json() -> None:
    obj = {"b": [1, 2], "a": object()}
    assert jsonfast.dumps(obj, indent=2, default=repr) == json.dumps(obj, indent=2, default=repr)


def test_json_is_not_imported() -> None:
    code = (
        "import sys\n"
        "from pagerbridge.pagerduty import jsonfast\n"
        "jsonfast.dumps({'a': [1, 'é']}, separators=(',', ':'), ensure_ascii=False)\n"
        "print(sorted({'json', 're', 'enum', 'typing'} & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("kw", KWARGS, ids=repr)
@settings(max_examples=50, deadline=None)
@given(obj=VALUES)
def test_the_fallback_path_gives_json_dumps_text(kw: dict[str, Any], obj: Any) -> None:
    """The path taken when CPython's private encoder cannot be used: the same text."""
    fast = jsonfast._FAST
    jsonfast._FAST = False
    try:
        assert outcome(jsonfast.dumps, obj, kw) == outcome(json.dumps, obj, kw)
    finally:
        jsonfast._FAST = fast


@pytest.mark.parametrize(
    "broken",
    [
        "def make_encoder(*args): raise TypeError('make_encoder() takes 10 arguments')",
        "def make_encoder(*args): return lambda obj, level: ['not', 'json']",
        "make_encoder = None",
    ],
    ids=["new signature", "other behaviour", "gone"],
)
def test_a_changed_private_encoder_is_not_used(broken: str) -> None:
    """A new CPython whose _json.make_encoder changed must not make every pd-send raise."""
    code = (  # json itself keeps the real encoder: only the one jsonfast would use is changed
        "import json, sys, types, _json\n"
        "fake = types.ModuleType('_json')\n"
        "fake.__dict__.update(_json.__dict__)\n"
        f"exec({broken!r}, fake.__dict__)\n"
        "sys.modules['_json'] = fake\n"
        "from pagerbridge.pagerduty import jsonfast\n"
        "print(jsonfast._FAST)\n"
        "print(jsonfast.dumps({'a': [1, 'é', None]}, separators=(',', ':'), ensure_ascii=False))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == ["False", '{"a":[1,"é",null]}']
