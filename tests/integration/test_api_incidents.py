"""The hub's REST API over real HTTP (uvicorn on a free loopback port), on SQLite and PostgreSQL,
and ``im --server`` against it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.server.testing import Hub, running_hub

IM = str(Path(sys.executable).parent / "im")


class Client:
    def __init__(self, hub: Hub, token: str | None) -> None:
        self.url, self.token = hub.url, token

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = "default",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        token = self.token if token == "default" else token
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())


@pytest.fixture
def hub(database_url: str) -> Iterator[Hub]:
    with running_hub(database_url, sla_interval=None) as h:
        yield h


@pytest.fixture
def api(hub: Hub) -> Client:
    return Client(hub, hub.create_token("tests"))


def test_declare_ack_resolve_close_over_http(api: Client) -> None:
    status, body = api(
        "POST",
        "/api/v1/incidents",
        {
            "title": "Checkout failing",
            "severity": "SEV-2",
            "services": ["db", "api"],
            "custom_fields": {"ticket": 42},
        },
        headers={"From": "alice@example.com"},
    )
    assert status == 201, body
    inc = body["incident"]
    assert (
        inc["id"] == "INC-1" and inc["origin"] == "api" and inc["created_by"] == "alice@example.com"
    )
    assert body["created_services"] == ["db", "api"] and inc["correlation_id"]
    acked = api("POST", "/api/v1/incidents/INC-1/ack", {"note": "on it"})[1]
    assert acked["incident"]["status"] == "mitigated"
    assert api("POST", "/api/v1/incidents/1/resolve")[1]["incident"]["status"] == "resolved"
    status, answer = api("POST", "/api/v1/incidents/INC-1/close", {})
    closed = answer["incident"]
    assert status == 200 and closed["status"] == "closed" and closed["version"] == 4
    status, tl = api("GET", "/api/v1/incidents/INC-1/timeline")
    entries = tl["entries"]
    assert [e["kind"] for e in entries] == ["declared", "status", "status", "status"]
    assert {e["origin"] for e in entries} == {"api"}
    assert entries[0]["actor"] == "alice@example.com" and entries[1]["actor"] == "tests"
    status, shown = api("GET", "/api/v1/incidents/INC-1")
    assert status == 200 and shown["incident"]["sla"]["ack_due_at"].endswith("Z")


def test_errors_are_json_with_messages(api: Client) -> None:
    api("POST", "/api/v1/incidents", {"title": "x", "severity": "SEV-3"})
    cases = [
        (
            "POST",
            "/api/v1/incidents/INC-1/close",
            None,
            409,
            "illegal_transition",
            "cannot close INC-1: it is open; resolve it before closing",
        ),
        ("POST", "/api/v1/incidents/INC-99/ack", None, 404, "not_found", "no incident INC-99"),
        (
            "GET",
            "/api/v1/incidents/banana",
            None,
            422,
            "invalid_input",
            "'banana' is not an incident id",
        ),
        (
            "POST",
            "/api/v1/incidents",
            {"title": "x", "severity": "SEV-7"},
            422,
            "invalid_input",
            "severity 'SEV-7' is invalid (must be one of SEV-1, SEV-2, SEV-3, SEV-4)",
        ),
        (
            "POST",
            "/api/v1/incidents",
            {"severity": "SEV-1"},
            422,
            "invalid_input",
            "title: Field required",
        ),
        (
            "POST",
            "/api/v1/incidents",
            {"title": "x", "sev": 1},
            422,
            "invalid_input",
            "sev: Extra inputs",
        ),
        (
            "POST",
            "/api/v1/incidents/INC-1/ack",
            {"expected_version": 7},
            409,
            "conflict",
            "INC-1 changed since you read it (version 7, now 1)",
        ),
        ("GET", "/api/v1/incidents?limit=0", None, 422, "invalid_input", "query.limit"),
        ("GET", "/api/v1/nothing-here", None, 404, "not_found", "Not Found"),
        ("DELETE", "/api/v1/services/nope", None, 404, "not_found", "no service named 'nope'"),
        (
            "PUT",
            "/api/v1/sla/SEV-2",
            {"ack": "2h", "resolve": "1h"},
            422,
            "invalid_input",
            "time to resolve (1h) is shorter than time to acknowledge (2h)",
        ),
    ]
    for method, path, body, code, kind, message in cases:
        status, answer = api(method, path, body)
        assert status == code, (path, answer)
        assert answer["error"]["type"] == kind
        assert message in answer["error"]["message"], answer
        assert "Traceback" not in json.dumps(answer)


def test_authentication(hub: Hub, api: Client) -> None:
    status, body = api("GET", "/api/v1/incidents", token=None)
    assert status == 401 and "missing API token" in body["error"]["message"]
    assert api("GET", "/api/v1/incidents", token="pbt_wrong")[0] == 401
    assert (
        api("GET", "/api/v1/incidents", headers={"Authorization": "Basic abc"}, token=None)[0]
        == 401
    )
    status, created = api("POST", "/api/v1/tokens", {"name": "bot"})
    assert status == 201 and created["token"].startswith("pbt_")
    assert api("GET", "/api/v1/incidents", token=created["token"])[0] == 200
    status, listed = api("GET", "/api/v1/tokens")
    assert {t["name"] for t in listed["tokens"]} == {"tests", "bot"}
    assert created["token"] not in json.dumps(listed)
    assert api("DELETE", "/api/v1/tokens/bot")[0] == 204
    assert api("GET", "/api/v1/incidents", token=created["token"])[0] == 401
    status, health = api("GET", "/health", token=None)
    assert status == 200 and health["status"] == "ok"


def test_pagination_and_filters(api: Client) -> None:
    for i in range(12):
        sev = "SEV-1" if i % 3 == 0 else "SEV-4"
        api(
            "POST",
            "/api/v1/incidents",
            {"title": f"t{i}", "severity": sev, "services": ["db" if i < 6 else "web"]},
        )
    page1 = api("GET", "/api/v1/incidents?limit=5")[1]
    assert [i["number"] for i in page1["incidents"]] == [12, 11, 10, 9, 8] and page1["more"]
    page3 = api("GET", "/api/v1/incidents?limit=5&offset=10")[1]
    assert [i["number"] for i in page3["incidents"]] == [2, 1] and not page3["more"]
    sev1 = api("GET", "/api/v1/incidents?severity=SEV-1&service=web")[1]
    assert [i["number"] for i in sev1["incidents"]] == [10, 7]
    assert api("GET", "/api/v1/services")[1]["services"][0]["incidents"] == 6


def test_openapi_document(api: Client) -> None:
    status, doc = api("GET", "/openapi.json", token=None)
    assert status == 200
    paths = doc["paths"]
    for path in (
        "/api/v1/incidents",
        "/api/v1/incidents/{ref}/ack",
        "/api/v1/incidents/{ref}/notes",
        "/api/v1/services",
        "/api/v1/sla/{severity}",
        "/api/v1/tokens",
        "/health",
    ):
        assert path in paths, path
    assert "409" in paths["/api/v1/incidents/{ref}/ack"]["post"]["responses"]


def test_hub_checks_sla_periodically(sqlite_url: str) -> None:
    future = datetime.now(UTC) + timedelta(hours=2)
    with running_hub(sqlite_url, sla_interval=0.1, clock=lambda: future) as hub:
        api = Client(hub, hub.create_token())
        api("POST", "/api/v1/incidents", {"title": "x", "severity": "SEV-1"})
        deadline = time.monotonic() + 10
        kinds: list[str] = []
        while time.monotonic() < deadline:
            kinds = [
                e["kind"] for e in api("GET", "/api/v1/incidents/INC-1/timeline")[1]["entries"]
            ]
            if kinds.count("sla_breach") == 2:
                break
            time.sleep(0.1)
        assert kinds.count("sla_breach") == 2  # acknowledge and resolve, each once
        assert api("GET", "/api/v1/incidents/INC-1")[1]["incident"]["sla"]["ack_breached_at"]


def _im(hub: Hub, token: str | None, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    env |= {"PAGERBRIDGE_SERVER": hub.url, "PAGERBRIDGE_ACTOR": "dave"}
    if token:
        env["PAGERBRIDGE_TOKEN"] = token
    return subprocess.run([IM, *args], env=env, capture_output=True, text=True, timeout=60)


def test_im_against_a_server(hub: Hub) -> None:
    token = hub.create_token("cli")
    declared = _im(
        hub, token, "declare", "--sev", "SEV-2", "--title", "via API", "--service", "db", "--json"
    )
    assert declared.returncode == 0, declared.stderr
    assert "service 'db' did not exist" in declared.stderr
    assert json.loads(declared.stdout)["incident"]["origin"] == "api"
    assert _im(hub, token, "ack", "INC-1").stdout.strip() == "INC-1 is now mitigated"
    again = _im(hub, token, "ack", "--incident", "INC-1")
    assert again.returncode == 5 and "already mitigated" in again.stderr
    missing = _im(hub, token, "show", "INC-5")
    assert missing.returncode == 3 and "no incident INC-5" in missing.stderr
    entries = json.loads(_im(hub, token, "timeline", "INC-1", "--json").stdout)
    assert [e["actor"] for e in entries] == ["dave", "dave"]  # From: header carries the actor
    no_token = _im(hub, None, "list")
    assert no_token.returncode == 6 and "--token" in no_token.stderr
    assert json.loads(_im(hub, token, "sla", "check", "--json").stdout) == []
    assert _im(hub, token, "sla", "set", "SEV-4", "--ack", "1h").returncode == 0
    assert json.loads(_im(hub, token, "sla", "show", "--json").stdout)[3]["ack"] == "1h"


def test_invalid_json_body(hub: Hub) -> None:
    token = hub.create_token()
    req = urllib.request.Request(
        hub.url + "/api/v1/incidents",
        data=b'{"title": ',
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=10)
    assert info.value.code == 422
    message = json.loads(info.value.read())["error"]["message"]
    assert message == "the request body is not valid JSON (error at character 10)"


def test_im_serve_on_a_busy_port_says_so(hub: Hub) -> None:
    port = hub.url.rsplit(":", 1)[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    result = subprocess.run(
        [IM, "serve", "--port", port], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert (
        f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr
    )


def test_im_server_unreachable() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    result = subprocess.run(
        [IM, "list", "--server", "http://127.0.0.1:9"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 69 and "cannot reach the hub" in result.stderr


def _raw(hub: Hub, token: str, path: str, data: bytes, content_type: str | None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if content_type:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(hub.url + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_state_change_routes_answer_like_the_fastapi_routes(hub: Hub, api: Client) -> None:
    """ack/resolve/close/reopen are plain Starlette routes (pagerbridge.server.hot): same token
    check, actor, body validation and messages as the FastAPI routes (assign is one)."""
    api("POST", "/api/v1/incidents", {"title": "x", "severity": "SEV-3"})
    token = api.token or ""
    bad_bodies: list[tuple[bytes, str | None]] = [
        (b'{"note": ', "application/json"),
        (b'{"nope": 1}', "application/json"),
        (b'{"expected_version": "seven"}', None),
        (b"[1, 2]", "application/json"),
    ]
    for data, ctype in bad_bodies:
        hot = _raw(hub, token, "/api/v1/incidents/INC-1/ack", data, ctype)
        slow = _raw(hub, token, "/api/v1/incidents/INC-1/assign", data, ctype)
        assert hot[0] == slow[0] == 422, (data, hot, slow)
        assert hot[1]["error"]["type"] == "invalid_input"
        # assign also requires "assignee"; every message about the shared fields is the same.
        assert set(hot[1]["error"]["errors"]) <= set(slow[1]["error"]["errors"]), (hot, slow)
    assert (
        "not valid JSON (error at character 9)"
        in _raw(hub, token, "/api/v1/incidents/INC-1/ack", b'{"note": ', "application/json")[1][
            "error"
        ]["message"]
    )
    status, body = api("POST", "/api/v1/incidents/INC-1/ack", token=None)
    assert status == 401 and "missing API token" in body["error"]["message"]
    assert api("POST", "/api/v1/incidents/INC-1/ack", token="pbt_wrong")[0] == 401
    assert api("GET", "/api/v1/incidents/INC-1")[1]["incident"]["status"] == "open"  # unchanged
    status, acked = api(
        "POST", "/api/v1/incidents/INC-1/ack", {"note": "mine"}, headers={"From": "erin"}
    )
    acked = acked["incident"]
    assert status == 200 and acked["status"] == "mitigated" and acked["version"] == 2
    assert (
        _raw(hub, token, "/api/v1/incidents/INC-1/resolve", b"null", "application/json")[0] == 200
    )
    entries = api("GET", "/api/v1/incidents/INC-1/timeline")[1]["entries"]
    assert [(e["actor"], e["origin"]) for e in entries[1:]] == [("erin", "api"), ("tests", "api")]
    assert entries[1]["data"] == {
        "action": "ack",
        "from": "open",
        "to": "mitigated",
        "note": "mine",
    }
    assert api("POST", "/api/v1/incidents/INC-9/close")[1]["error"]["type"] == "not_found"


def test_one_shape_for_an_incident_everywhere(hub: Hub, api: Client, tmp_path: Path) -> None:
    """Every answer with one incident is {"incident": {...}} (declare adds created_services),
    over the API, from ``im --json`` on the database and from ``im --server --json`` alike."""
    token = api.token or ""
    declared = api("POST", "/api/v1/incidents", {"title": "x", "severity": "SEV-2"})[1]
    assert set(declared) == {"incident", "created_services"}
    answers = {
        "show": api("GET", "/api/v1/incidents/INC-1")[1],
        "ack": api("POST", "/api/v1/incidents/INC-1/ack")[1],
        "assign": api("POST", "/api/v1/incidents/INC-1/assign", {"assignee": "bob"})[1],
        "resolve": api("POST", "/api/v1/incidents/INC-1/resolve")[1],
        "close": api("POST", "/api/v1/incidents/INC-1/close")[1],
        "reopen": api("POST", "/api/v1/incidents/INC-1/reopen")[1],
    }
    for name, answer in answers.items():
        assert set(answer) == {"incident"} and answer["incident"]["id"] == "INC-1", name
    local = f"sqlite:///{tmp_path / 'local.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    runs = [
        ("server", env | {"PAGERBRIDGE_SERVER": hub.url, "PAGERBRIDGE_TOKEN": token}),
        ("local", env | {"PAGERBRIDGE_DATABASE_URL": local}),
    ]
    for where, environ in runs:
        made = _im_json(environ, "declare", "--sev", "2", "--title", "y")
        ref = made["incident"]["id"]
        assert set(made) == {"incident", "created_services"}, where
        for args in (["show", ref], ["ack", ref], ["assign", ref, "--to", "bob"], ["resolve", ref]):
            answer = _im_json(environ, *args)
            assert set(answer) == {"incident"} and answer["incident"]["id"] == ref, (where, args)
            assert set(answer["incident"]) == set(answers[args[0]]["incident"]), (where, args)


def _im_json(environ: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [IM, *args, "--json"], env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, (args, done.stderr)
    return json.loads(done.stdout)
