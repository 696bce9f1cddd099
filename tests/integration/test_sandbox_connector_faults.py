"""Scripted faults and the state file: what the connector's failure tests need of the sandbox.

A create answered too late (``slow_after_write``) and retried never makes a second incident;
errors and dropped connections hit exactly the next N requests of a path; a webhook is lost on
purpose (``drop_webhook``, for issue 14's reconcile test); the account survives ``kill -9``
(saved within 1 s) and a clean stop. Over real HTTP; the feature tests are in
test_sandbox_connector_features.py.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.sandbox.testing import (
    RUN_CLI,
    SandboxHandle,
    free_port,
    running_sandbox,
    sandbox_process,
)
from pagerbridge.sandbox.webhooks_out import DROPPED_ON_PURPOSE
from servers.waiting import wait_for

SERVICE = {"id": "PDEMO01", "type": "service_reference"}


@pytest.fixture(scope="module")
def shared() -> Iterator[SandboxHandle]:
    with running_sandbox(rate_limits=False) as sb:
        yield sb


@pytest.fixture
def sb(shared: SandboxHandle) -> SandboxHandle:
    """The module's sandbox, back at the seed (faults and request record included)."""
    shared.reset()
    return shared


def create(
    sb: SandboxHandle, key: str | None = None, *, token: str | None = None
) -> tuple[int, Any]:
    incident: dict[str, Any] = {"type": "incident", "title": "db slow", "service": SERVICE}
    if key is not None:
        incident["incident_key"] = key
    body = {"incident": incident}
    return sb.rest("POST", "/incidents", body, from_email=sb.user_email, token=token)


def put(sb: SandboxHandle, path: str, body: Any, **kw: Any) -> tuple[int, Any]:
    return sb.rest("PUT", path, body, from_email=sb.user_email, **kw)


# -- h. scripted faults ---------------------------------------------------------------------------


def _post_with_timeout(sb: SandboxHandle, body: Any, timeout: float) -> Exception | int:
    request = urllib.request.Request(
        sb.url + "/incidents",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Token token={sb.token}",
            "From": sb.user_email,
            "Content-Type": "application/json",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return int(answer.status)
    except (OSError, http.client.HTTPException) as exc:
        return exc


def test_a_create_answered_too_late_and_retried_never_makes_a_second_incident(
    sb: SandboxHandle,
) -> None:
    sb.script_fault("slow_after_write", method="POST", path="/incidents", seconds=0.6)
    key = "pagerbridge/i1/INC-7/PDEMO01"
    body = {"incident": {"type": "incident", "title": "t", "service": SERVICE, "incident_key": key}}
    outcome = _post_with_timeout(sb, body, timeout=0.2)
    assert isinstance(outcome, TimeoutError | urllib.error.URLError), outcome
    # the create happened although the client saw no answer; the retry is refused, the
    # lookup finds the one incident
    status, answer = create(sb, key=key)
    assert status == 400 and answer["error"]["code"] == 2002
    query = f"/incidents?incident_key={key}&service_ids[]=PDEMO01&date_range=all"
    assert len(sb.rest("GET", query)[1]["incidents"]) == 1
    rows = sb.requests(method="POST", path="/incidents")
    assert [r["fault"] for r in rows] == ["slow_after_write", None]
    wait_for(
        lambda: sb.requests(method="POST", path="/incidents")[0]["status"] == 201, "late answer", 3
    )


def test_scripted_errors_hit_exactly_the_next_n_requests_of_a_path(sb: SandboxHandle) -> None:
    incident = create(sb)[1]["incident"]["id"]
    ack = {"incident": {"type": "incident", "status": "acknowledged"}}
    sb.script_fault("status", method="PUT", path="/incidents/*", status=500, times=2)
    sb.script_fault("status", method="POST", path="/incidents", status=429)
    other = sb.rest("GET", f"/incidents/{incident}")  # another method: untouched
    assert other[0] == 200
    first, second, third = (put(sb, f"/incidents/{incident}", ack) for _ in range(3))
    assert first[0] == second[0] == 500 and first[1]["error"]["code"] == 2000
    assert third[0] == 200 and third[1]["incident"]["status"] == "acknowledged"
    status, body = create(sb)
    assert status == 429 and body["error"]["code"] == 2020
    assert create(sb)[0] == 201
    assert sb.request("GET", "/_sandbox/faults")[1]["faults"]["scripted"] == []


def test_dropped_connections_before_and_after_the_change(sb: SandboxHandle) -> None:
    sb.script_fault("drop", method="POST", path="/incidents")
    sb.script_fault("drop_after_write", method="POST", path="/incidents")
    body = {"incident": {"type": "incident", "title": "t", "service": SERVICE}}
    assert isinstance(_post_with_timeout(sb, body, timeout=5), Exception)  # nothing made
    assert sb.rest("GET", "/incidents")[1]["incidents"] == []
    assert isinstance(_post_with_timeout(sb, body, timeout=5), Exception)  # made, unanswered
    assert len(sb.rest("GET", "/incidents")[1]["incidents"]) == 1
    rows = sb.requests(method="POST", path="/incidents")
    assert [(r["fault"], r["status"]) for r in rows] == [
        ("drop", None),
        ("drop_after_write", None),
    ]


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"do": "explode"}, "'do' must be one of"),
        ({"do": "slow_after_write", "path": "/incidents"}, "needs 'seconds'"),
        ({"do": "status", "times": 0}, "positive integer"),
        ({"do": "status", "status": 200}, "HTTP error status"),
        ({"do": "drop_webhook", "path": "/incidents"}, "'event_type'"),
        ({"do": "drop", "path": "incidents"}, "start with '/'"),
        ({"do": "drop", "when": 1}, "unknown scripted fault field"),
    ],
)
def test_bad_scripted_faults_are_refused_clearly(
    sb: SandboxHandle, rule: dict[str, Any], fragment: str
) -> None:
    status, body = sb.request("POST", "/_sandbox/faults/scripted", rule)
    assert status == 400 and fragment in body["error"]["message"]
    assert sb.request("GET", "/_sandbox/faults")[1]["faults"]["scripted"] == []
    with pytest.raises(ValueError, match=re.escape(fragment)):
        sb.set_faults(scripted=[rule])


def test_scripted_faults_are_part_of_the_fault_settings(sb: SandboxHandle) -> None:
    faults = sb.set_faults(scripted=[{"do": "status", "path": "/priorities", "times": 2}])
    assert faults["scripted"][0]["times"] == 2
    assert [sb.rest("GET", "/priorities")[0] for _ in range(3)] == [500, 500, 200]
    sb.set_faults(scripted=[{"do": "status", "path": "/priorities"}])
    sb.set_faults()  # omitted: back to none
    assert sb.rest("GET", "/priorities")[0] == 200


def test_a_webhook_lost_on_purpose_is_never_sent(
    sb: SandboxHandle, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    sub = {
        "webhook_subscription": {
            "type": "webhook_subscription",
            "delivery_method": {"type": "http_delivery_method", "url": url + "/hook"},
            "events": [
                "incident.triggered",
                "incident.acknowledged",
                "incident.resolved",
                "incident.custom_field_values.updated",
            ],
            "filter": {"type": "account_reference"},
        }
    }
    assert sb.rest("POST", "/webhook_subscriptions", sub)[0] == 200
    sb.script_fault("drop_webhook", event_type="incident.acknowledged")
    incident = create(sb)[1]["incident"]["id"]
    for status in ("acknowledged", "resolved"):
        put(sb, f"/incidents/{incident}", {"incident": {"type": "incident", "status": status}})
    put(sb, f"/incidents/{incident}/custom_fields/values", {"custom_fields": [
        {"name": "environment", "value": "staging"}]})  # fmt: skip
    types = lambda: [r["body"]["event"]["event_type"] for r in received]  # noqa: E731
    wait_for(lambda: len(types()) == 3, "three webhooks", 5)
    assert types() == [
        "incident.triggered",
        "incident.resolved",
        "incident.custom_field_values.updated",
    ]
    data = received[2]["body"]["event"]["data"]
    assert data["type"] == "incident_field_values" and data["incident"]["id"] == incident
    assert [v["value"] for v in data["changed_custom_fields"]] == ["staging"]
    dropped = [d for d in sb.webhook_deliveries() if d["status"] == "dropped"]
    assert [(d["event_type"], d["reason"], d["attempts"]) for d in dropped] == [
        ("incident.acknowledged", DROPPED_ON_PURPOSE, [])
    ]
    _, body = sb.rest("GET", "/webhook_subscriptions")
    assert body["webhook_subscriptions"][0]["active"] is True  # a fault is not a receiver's drop


# -- f. state across restarts ----------------------------------------------------------------------


def _saved(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data


def test_state_survives_kill_9_and_a_clean_stop(tmp_path: Path) -> None:
    state_file = tmp_path / "sandbox.json"
    with sandbox_process("--state", str(state_file)) as sb:
        incident = create(sb, key="keep-me")[1]["incident"]
        put(sb, f"/incidents/{incident['id']}/custom_fields/values", {"custom_fields": [
            {"name": "environment", "value": "production"}]})  # fmt: skip
        sb.rest(
            "POST",
            f"/incidents/{incident['id']}/notes",
            {"note": {"content": "looking"}},
            from_email=sb.user_email,
        )
        wait_for(
            lambda: incident["id"] in json.dumps(_saved(state_file).get("custom_field_values")),
            "the change saved",
            timeout=1.8,  # saved within 1 s of the change, plus a slow disk's margin
        )
        assert sb.process is not None
        sb.process.send_signal(signal.SIGKILL)
        sb.process.wait()
    assert oct(state_file.stat().st_mode & 0o777) == "0o600"
    with sandbox_process("--state", str(state_file)) as sb:
        found = sb.rest("GET", "/incidents?incident_key=keep-me&date_range=all")[1]["incidents"]
        assert [i["id"] for i in found] == [incident["id"]]
        values = sb.rest("GET", f"/incidents/{incident['id']}/custom_fields/values")[1]
        assert values["custom_fields"][0]["value"] == "production"
        notes = sb.rest("GET", f"/incidents/{incident['id']}/notes")[1]["notes"]
        assert [n["content"] for n in notes] == ["looking"]
        later = create(sb)[1]["incident"]
        assert later["incident_number"] == incident["incident_number"] + 1
    # the clean stop (SIGTERM) right after that create saved it, not waiting for the timer
    assert later["id"] in _saved(state_file)["incidents"]


def test_an_unreadable_state_file_is_one_clear_line(tmp_path: Path) -> None:
    bad = tmp_path / "state.json"
    bad.write_text('{"incidents": {"P1": 1}, ')
    result = subprocess.run(
        [sys.executable, "-c", RUN_CLI, "sandbox", "--port", str(free_port()), "--state", str(bad)],
        capture_output=True,
        text=True,
        timeout=20,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert result.returncode == 4, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "not valid JSON" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
