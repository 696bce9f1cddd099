"""The hub refuses what it cannot store or serve (issue 11, item 2), over real HTTP, on SQLite and
PostgreSQL: a 4xx naming the field, the same answer on both databases, and nothing stored."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pagerbridge.server.testing import running_hub
from servers.strict_json import strict_json

MIB = 1024 * 1024


@dataclass
class Api:
    url: str
    token: str

    def raw(
        self,
        method: str,
        path: str,
        data: bytes | None = None,
        *,
        headers: dict[str, str] | None = None,
        chunked: bool = False,
    ) -> tuple[int, Any]:
        parts = urllib.parse.urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=60)
        hdrs = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        hdrs |= headers or {}
        try:
            if chunked:
                assert data is not None
                chunks = (data[i : i + 65536] for i in range(0, len(data), 65536))
                conn.request(method, path, body=chunks, headers=hdrs, encode_chunked=True)
            else:
                conn.request(method, path, body=data, headers=hdrs)
            response = conn.getresponse()
            payload = response.read()
        finally:
            conn.close()
        return response.status, strict_json(payload) if payload else None

    def __call__(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``body`` as Python's json writes it: NaN, Infinity, any integer, escapes for NUL."""
        data = None if body is None else json.dumps(body).encode()
        return self.raw(method, path, data)


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with running_hub(database_url, sla_interval=None) as hub:
        yield Api(hub.url, hub.create_token("tests"))


def declare(api: Api, **fields: Any) -> tuple[int, Any]:
    return api("POST", "/api/v1/incidents", {"title": "t", "severity": "SEV-3", **fields})


def refused(answer: tuple[int, Any], status: int, *fragments: str) -> None:
    code, body = answer
    assert code == status, answer
    message = body["error"]["message"]
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    for leak in ("PostgreSQL", "psycopg", "sqlite", "SELECT", "INSERT", "UPDATE", "Traceback"):
        assert leak not in message, message


def stored(api: Api) -> list[dict[str, Any]]:
    """Every incident, through the listing and one by one: each read must answer 200."""
    status, page = api("GET", "/api/v1/incidents?limit=500")
    assert status == 200, page
    for incident in page["incidents"]:
        assert api("GET", f"/api/v1/incidents/{incident['id']}")[0] == 200
        assert api("GET", f"/api/v1/incidents/{incident['id']}/timeline")[0] == 200
    return list(page["incidents"])


def test_nan_and_infinity_are_refused_anywhere(api: Api) -> None:
    """Used to be: stored on SQLite (then every listing answered 500), 503 with PostgreSQL's own
    text on PostgreSQL."""
    for value in (float("nan"), float("inf"), float("-inf")):
        refused(declare(api, custom_fields={"n": value}), 422, "custom_fields.n", "NaN")
        refused(declare(api, custom_fields={"a": [1, {"b": value}]}), 422, "custom_fields.a[1].b")
    big = b'{"title": "t", "severity": "SEV-3", "custom_fields": {"n": 1e400}}'
    refused(api.raw("POST", "/api/v1/incidents", big), 422, "custom_fields.n", "finite")
    assert stored(api) == []
    assert declare(api)[0] == 201
    # the plain (Starlette) state-change routes and the FastAPI ones alike
    refused(api("POST", "/api/v1/incidents/INC-1/ack", {"note": float("nan")}), 422, "note")
    refused(api("POST", "/api/v1/incidents/INC-1/assign", {"assignee": float("inf")}), 422)
    refused(
        api("POST", "/api/v1/incidents/INC-1/resolve", {"expected_version": float("nan")}),
        422,
        "expected_version",
    )
    [incident] = stored(api)
    assert incident["status"] == "open" and incident["version"] == 1


def test_nul_characters_are_refused_in_every_string(api: Api) -> None:
    """Used to be: stored on SQLite, 503 ``storage`` with PostgreSQL's text on PostgreSQL."""
    refused(declare(api, title="a\x00b"), 422, "title", "NUL")
    refused(declare(api, description="a\x00b"), 422, "description", "NUL")
    refused(declare(api, custom_fields={"k": "a\x00b"}), 422, "custom_fields.k", "NUL")
    refused(declare(api, custom_fields={"k\x00": 1}), 422, "custom_fields", "key", "NUL")
    refused(declare(api, services=["db\x00"]), 422, "NUL")
    refused(declare(api, assignee="bob\x00"), 422, "assignee", "NUL")
    assert stored(api) == []
    assert declare(api)[0] == 201
    refused(api("POST", "/api/v1/incidents/INC-1/notes", {"body": "a\x00b"}), 422, "NUL")
    refused(api("POST", "/api/v1/incidents/INC-1/ack", {"note": "a\x00b"}), 422, "note", "NUL")
    refused(api("POST", "/api/v1/incidents/INC-1/assign", {"assignee": "x\x00"}), 422, "NUL")
    refused(api("POST", "/api/v1/services", {"name": "db", "description": "\x00"}), 422, "NUL")
    refused(api("POST", "/api/v1/services", {"name": "db", "owner_team": "\x00"}), 422, "NUL")
    refused(api("POST", "/api/v1/tokens", {"name": "bot\x00"}), 422, "NUL")
    refused(api("PUT", "/api/v1/sla/SEV-1", {"ack": "1h\x00"}), 422, "ack", "NUL")
    [incident] = stored(api)
    assert incident["version"] == 1
    assert api("GET", "/api/v1/incidents/INC-1/timeline")[1]["entries"][-1]["kind"] == "declared"
    assert api("GET", "/api/v1/services")[1]["services"] == []


def test_lone_surrogates_are_refused(api: Api) -> None:
    """Used to be: stored (as a JSON escape), then every listing answered 500."""
    refused(declare(api, custom_fields={"k": "a\ud800"}), 422, "custom_fields.k", "surrogate")
    refused(declare(api, title="a\udfff"), 422, "title", "surrogate")
    bad_utf8 = b'{"title": "\xff", "severity": "SEV-3"}'
    refused(api.raw("POST", "/api/v1/incidents", bad_utf8), 422, "not UTF-8")
    assert stored(api) == []


def test_integers_outside_64_bits_are_refused(api: Api) -> None:
    for value in (2**63, -(2**63) - 1, 10**30):
        refused(declare(api, custom_fields={"n": value}), 422, "custom_fields.n", "64 bits")
    digits = b'{"title": "t", "severity": "SEV-3", "custom_fields": {"n": ' + b"9" * 5000 + b"}}"
    refused(api.raw("POST", "/api/v1/incidents", digits), 422, "custom_fields.n", "64 bits")
    assert stored(api) == []
    status, body = declare(api, custom_fields={"max": 2**63 - 1, "min": -(2**63)})
    assert status == 201 and body["incident"]["custom_fields"] == {
        "max": 2**63 - 1,
        "min": -(2**63),
    }
    refused(api("POST", "/api/v1/incidents/INC-1/ack", {"expected_version": 2**64}), 422)
    assert stored(api)[0]["version"] == 1


def test_strings_over_the_documented_limits_are_refused(api: Api) -> None:
    refused(declare(api, title="x" * 1025), 422, "title")
    refused(declare(api, title="two\nlines"), 422, "title", "one line")
    refused(declare(api, description="é" * 32769), 422, "description", "65,536")
    refused(declare(api, custom_fields={"k": "x" * 65536}), 422, "custom_fields", "65,536")
    refused(declare(api, services=[f"s{i}" for i in range(101)]), 422, "at most 100")
    deep: Any = 1
    for _ in range(33):
        deep = {"d": deep}
    refused(declare(api, custom_fields=deep), 422, "nested more than")
    deeper = b'{"title": "t", "custom_fields": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    refused(api.raw("POST", "/api/v1/incidents", deeper), 422, "nested more than")
    assert stored(api) == []
    assert declare(api, title="x" * 1024, description="é" * 32768)[0] == 201
    refused(api("POST", "/api/v1/incidents/INC-1/notes", {"body": "x" * 65537}), 422, "note")
    refused(api("POST", "/api/v1/incidents/INC-1/ack", {"note": "x" * 65537}), 422, "note")
    refused(api("PUT", "/api/v1/sla/SEV-1", {"ack": "99999999999d"}), 422, "duration")
    refused(api("PUT", "/api/v1/sla/SEV-1", {"ack": "9" * 5000}), 422, "duration")
    assert api("POST", "/api/v1/incidents/INC-1/notes", {"body": "x" * 65536})[0] == 201
    assert stored(api)[0]["version"] == 2


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_bodies_over_1_mib_are_413(api: Api, chunked: bool) -> None:
    big = json.dumps({"title": "t", "severity": "SEV-3", "description": "x" * MIB}).encode()
    refused(api.raw("POST", "/api/v1/incidents", big, chunked=chunked), 413, "1,048,576")
    assert stored(api) == []
    assert declare(api)[0] == 201
    note = json.dumps({"note": "x" * (2 * MIB)}).encode()
    refused(api.raw("POST", "/api/v1/incidents/INC-1/ack", note, chunked=chunked), 413)
    assert stored(api)[0]["version"] == 1


def test_query_and_path_values_out_of_range_are_4xx(api: Api) -> None:
    """Used to be: ?offset=2**63 answered 500 on SQLite (OverflowError) and 503 on PostgreSQL
    ("bigint out of range"); INC-<n> past 32 bits 503 ("integer out of range") there."""
    refused(api("GET", "/api/v1/incidents?offset=9223372036854775808"), 422, "offset")
    refused(api("GET", "/api/v1/incidents?offset=" + "9" * 5000), 422, "offset")
    refused(api("GET", "/api/v1/incidents?limit=99999999999999999999"), 422, "limit")
    assert api("GET", "/api/v1/incidents?offset=9223372036854775807")[0] == 200
    for path in (
        "/api/v1/incidents/INC-2147483648",
        "/api/v1/incidents/INC-99999999999999999",
        "/api/v1/incidents/INC-99999999999999999/timeline",
    ):
        refused(api("GET", path), 404, "no incident")
    refused(api("POST", "/api/v1/incidents/INC-99999999999999999/ack"), 404)
    refused(api("POST", "/api/v1/incidents/INC-99999999999999999/notes", {"body": "x"}), 404)
    refused(api("GET", "/api/v1/incidents?service=db%00"), 422, "service")
    refused(api("GET", "/api/v1/incidents?status=open%00"), 422, "status")
    refused(api("GET", "/api/v1/services/db%00"), 404, "no service")
    refused(api("DELETE", "/api/v1/tokens/x%00"), 404, "no token")
    refused(api("GET", "/api/v1/incidents/INC-1%00"), 422, "not an incident id")


def test_duplicate_services_are_named_once(api: Api) -> None:
    """Used to be: 409 "a concurrent change created the same thing first" (a primary key
    violation of the link table), for a request nobody else raced."""
    status, body = declare(api, services=["db", "db", "api"])
    assert status == 201, body
    assert body["incident"]["services"] == ["api", "db"]
