"""Property tests: arbitrary, hostile JSON against the hub's incident API on SQLite and PostgreSQL
at once (issue 11, item 2). Every request gets the same status from both hubs and never a 5xx,
and after every example the listing, each incident and its timeline still answer 200 with valid
JSON, with the same content on both databases."""

from __future__ import annotations

import http.client
import json
import math
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pagerbridge.server.testing import running_hub
from servers.strict_json import strict_json

pytestmark = pytest.mark.postgres

SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@dataclass
class Api:
    url: str
    token: str

    def __call__(self, method: str, path: str, data: bytes | None = None) -> tuple[int, Any]:
        parts = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        try:
            conn.request(method, path, body=data, headers=headers)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        return response.status, strict_json(payload) if payload else None

    def view(self) -> list[dict[str, Any]]:
        """The newest incidents and their timelines, read every way; what both hubs must agree
        on (times and random ids aside)."""
        status, page = self("GET", "/api/v1/incidents")
        assert status == 200, page
        seen = []
        for listed in page["incidents"]:
            status, answer = self("GET", f"/api/v1/incidents/{listed['id']}")
            assert status == 200, answer
            shown = answer["incident"]
            status, timeline = self("GET", f"/api/v1/incidents/{listed['id']}/timeline")
            assert status == 200, timeline
            seen.append(
                {
                    **{k: v for k, v in shown.items() if not k.endswith("_at") and k != "sla"},
                    "correlation_id": shown["correlation_id"] is not None,
                    "timeline": [(e["kind"], e["body"], e["data"]) for e in timeline["entries"]],
                }
            )
            assert {k: v for k, v in listed.items() if k in ("id", "version", "custom_fields")} == {
                k: shown[k] for k in ("id", "version", "custom_fields")
            }
        return seen


@pytest.fixture
def hubs(sqlite_url: str, postgres_url: str) -> Iterator[tuple[Api, Api]]:
    with (
        running_hub(sqlite_url, sla_interval=None) as lite,
        running_hub(postgres_url, sla_interval=None) as pg,
    ):
        yield Api(lite.url, lite.create_token()), Api(pg.url, pg.create_token())


# -- what a hostile client sends ------------------------------------------------------------------

texts = st.text(
    st.characters(exclude_categories=())
    | st.sampled_from(["\x00", "\ud800", "\udc00", "\n", "é", "\U0001f525"]),
    max_size=10,
)
long_texts = st.builds(
    lambda char, size: char * size,
    st.sampled_from(["x", "é", "\U0001f525"]),
    st.sampled_from([255, 256, 1024, 1025, 16384, 16385, 65536, 65537]),
)
numbers = (
    st.integers(min_value=-(2**70), max_value=2**70)
    | st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**31, 10**400])
    | st.sampled_from([math.nan, math.inf, -math.inf])
    | st.floats(allow_nan=True, allow_infinity=True)
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=12,
)


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"d": value}
    return value


anything = json_values | long_texts | st.integers(30, 36).map(_nested)
names = st.sampled_from(["db", "api", "x y", "", "db\x00", "a" * 101]) | texts
hostile_declarations = st.fixed_dictionaries(
    {"title": st.sampled_from(["t", " padded ", "x" * 1024]) | texts | long_texts | anything},
    optional={
        "severity": st.sampled_from(["SEV-1", "sev2", "4", "SEV-9"]) | anything,
        "services": st.lists(names, max_size=4) | anything,
        "description": texts | long_texts | anything,
        "assignee": texts | long_texts | st.none(),
        "custom_fields": st.dictionaries(texts, json_values, max_size=4) | anything,
        "unknown": anything,
    },
)
# Mostly storable, so later steps find incidents to change; one field may still be hostile.
clean_texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)
clean_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | clean_texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(clean_texts, inner, max_size=3),
    max_leaves=12,
)
plausible_declarations = st.fixed_dictionaries(
    {
        "title": st.sampled_from(["t", " padded ", "x" * 1024, "fire 🔥"]),
        "severity": st.sampled_from(["SEV-1", "sev2", "4"]),
    },
    optional={
        "services": st.lists(st.sampled_from(["db", "api", "web"]), max_size=3),
        "description": clean_texts | long_texts | texts,
        "assignee": clean_texts | st.none(),
        "custom_fields": st.dictionaries(clean_texts, clean_json, max_size=4)
        | st.dictionaries(texts, json_values, max_size=2),
    },
)
declare_bodies = st.one_of(plausible_declarations, plausible_declarations, hostile_declarations)
#: A valid declaration but for what it holds: any JSON in custom fields, any text.
holding_declarations = st.fixed_dictionaries(
    {
        "title": st.sampled_from(["t", "fire 🔥"]) | texts,
        "severity": st.just("SEV-2"),
        "custom_fields": st.dictionaries(texts, json_values, max_size=3),
    },
    optional={"description": texts | long_texts, "assignee": texts},
)
change_bodies = st.none() | st.fixed_dictionaries(
    {},
    optional={
        "note": st.sampled_from(["on it", "é 🔥"]) | clean_texts | texts | long_texts | anything,
        "expected_version": st.integers(1, 4) | numbers | anything,
    },
)
note_bodies = st.fixed_dictionaries(
    {"body": st.sampled_from(["on it", "é 🔥"]) | clean_texts | texts | long_texts | anything}
)
raw_bodies = st.sampled_from(
    [
        b"NaN",
        b"[",
        b'{"title": 1e400, "severity": "SEV-1"}',
        b'{"title": "t", "severity": "SEV-1", "custom_fields": {"n": -Infinity}}',
        b'{"title": "\\ud800", "severity": "SEV-1"}',
        b'{"title": "\xff", "severity": "SEV-1"}',
        b'{"note": ' + b"9" * 5000 + b"}",
        b"[" * 3000 + b"]" * 3000,
        b"",
        b"null",
    ]
)
refs = st.sampled_from(
    ["INC-1", "INC-2", "inc-3", "4", "INC-0", "INC-2147483648", "INC-99999999999999999", "x"]
)
query_values = (
    st.integers(min_value=-(2**70), max_value=2**70).map(str)
    | texts
    | st.sampled_from(["open", "acknowledged", "SEV-1", "db"])
)
queries = st.dictionaries(
    st.sampled_from(["limit", "offset", "status", "service", "severity"]), query_values, max_size=3
)


def _encode(body: Any) -> bytes | None:
    return None if body is None else json.dumps(body).encode()


def _path_query(values: dict[str, str]) -> str:
    encoded = "&".join(
        f"{key}={urllib.parse.quote(value.encode('utf-8', 'surrogatepass'))}"
        for key, value in values.items()
    )
    return "/api/v1/incidents" + (f"?{encoded}" if encoded else "")


def _ref(ref: str, tail: str = "") -> str:
    return f"/api/v1/incidents/{ref}{tail}"


operations = st.one_of(
    st.tuples(st.just("POST"), st.just("/api/v1/incidents"), declare_bodies.map(_encode)),
    st.tuples(st.just("POST"), st.just("/api/v1/incidents"), raw_bodies),
    st.tuples(
        st.just("POST"),
        st.builds(_ref, refs, st.sampled_from(["/ack", "/resolve"])),
        change_bodies.map(_encode) | raw_bodies,
    ),
    st.tuples(st.just("POST"), st.builds(_ref, refs, st.just("/notes")), note_bodies.map(_encode)),
    st.tuples(st.just("GET"), queries.map(_path_query), st.none()),
    st.tuples(st.just("GET"), st.builds(_ref, refs), st.none()),
)


def _shown(data: bytes | None) -> str:
    return repr(data[:300]) if data else repr(data)


@SETTINGS
@given(steps=st.lists(operations, min_size=1, max_size=4))
def test_both_databases_answer_alike_and_every_read_still_works(
    hubs: tuple[Api, Api], steps: list[tuple[str, str, bytes | None]]
) -> None:
    lite, pg = hubs
    for method, path, data in steps:
        (lite_status, lite_body), (pg_status, pg_body) = (
            lite(method, path, data),
            pg(method, path, data),
        )
        where = f"{method} {path} {_shown(data)}"
        assert lite_status < 500 and pg_status < 500, (where, lite_body, pg_body)
        assert lite_status == pg_status, (where, lite_body, pg_body)
        if lite_status >= 400:
            assert lite_body["error"]["message"] == pg_body["error"]["message"], where
        event(f"{method} {path.split('/')[-1].split('?')[0]} -> {lite_status}")
    assert lite.view() == pg.view()


@SETTINGS
@given(bodies=st.lists(holding_declarations, min_size=1, max_size=3))
def test_whatever_a_declaration_holds_is_served_back(
    hubs: tuple[Api, Api], bodies: list[dict[str, Any]]
) -> None:
    """What a 201 stored comes back equal (custom fields exactly, text stripped as documented)."""
    for body in bodies:
        data = _encode(body)
        answers = [api("POST", "/api/v1/incidents", data) for api in hubs]
        assert answers[0][0] == answers[1][0] and answers[0][0] < 500, (_shown(data), answers)
        event(f"declare -> {answers[0][0]}")
        if answers[0][0] == 201:
            for api, (_, created) in zip(hubs, answers, strict=True):
                incident = created["incident"]
                status, answer = api("GET", f"/api/v1/incidents/{incident['id']}")
                assert status == 200
                shown = answer["incident"]
                assert shown["custom_fields"] == body.get("custom_fields", {})
                assert shown["title"] == body["title"].strip()
    assert hubs[0].view() == hubs[1].view()
