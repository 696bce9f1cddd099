"""Fault injection and the admin endpoints, over real loopback HTTP."""

from __future__ import annotations

import asyncio
import http.client
import logging
import socket
import time
import urllib.error

import pytest
from starlette.types import Receive, Scope, Send

from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.waiting import wait_for


def test_error_rate_on_one_route_only(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(error_rate=1.0, error_status=502, routes=["/v2/enqueue"])
    status, body = sandbox.send_event("trigger")
    assert status == 502 and body["status"] == "error"
    assert sandbox.rest("GET", "/services")[0] == 200  # other routes unaffected
    assert sandbox.arrivals() == []  # a faulted event was not accepted
    sandbox.set_faults()
    assert sandbox.send_event("trigger")[0] == 202


def test_rest_errors_use_pagerduty_body(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(error_rate=1.0)
    status, body = sandbox.rest("GET", "/incidents")
    assert status == 500 and body["error"]["code"] == 2000


def test_429_burst_then_normal(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(burst_429=2)
    codes = [sandbox.send_event("trigger", dedup_key=f"b{i}")[0] for i in range(4)]
    assert codes == [429, 429, 202, 202]
    assert [a["dedup_key"] for a in sandbox.arrivals()] == ["b2", "b3"]


def test_latency(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(latency=0.3)
    began = time.monotonic()
    assert sandbox.send_event("trigger")[0] == 202
    assert time.monotonic() - began >= 0.3  # a lower bound: a busy machine only adds to it
    sandbox.set_faults(latency=60)
    # admin endpoints are never slowed or faulted: slowed, this would outlast the client's 10 s
    assert len(sandbox.arrivals()) == 1
    sandbox.set_faults()


def test_dropped_connection_gets_no_answer(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(drop_rate=1.0)
    with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
        sandbox.send_event("trigger")
    sandbox.set_faults()
    assert sandbox.send_event("trigger")[0] == 202
    assert len(sandbox.arrivals()) == 1


class StepClock:
    """A monotonic clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_outage_window_ends(sandbox: SandboxHandle) -> None:
    clock = StepClock()
    sandbox.runtime.faults.clock = clock  # the window is timed on the clock the test moves
    sandbox.set_faults(outage_seconds=0.4)
    assert sandbox.send_event("trigger")[0] == 503
    assert sandbox.rest("GET", "/services")[0] == 503
    clock.now += 0.39
    assert sandbox.send_event("trigger")[0] == 503
    assert sandbox.request("GET", "/_sandbox/faults")[1]["faults"]["outage_remaining"] > 0
    clock.now += 0.02
    assert sandbox.send_event("trigger")[0] == 202
    assert sandbox.rest("GET", "/services")[0] == 200
    assert sandbox.request("GET", "/_sandbox/faults")[1]["faults"]["outage_remaining"] == 0


def test_bad_fault_settings_are_refused(sandbox: SandboxHandle) -> None:
    with pytest.raises(ValueError, match="error_rate must be between 0 and 1"):
        sandbox.set_faults(error_rate=3)
    with pytest.raises(ValueError, match="unknown fault setting"):
        sandbox.set_faults(explode=True)
    _, body = sandbox.request("GET", "/_sandbox/faults")
    assert body["faults"]["error_rate"] == 0.0


def test_faults_from_options() -> None:
    with running_sandbox(faults={"burst_429": 1}) as sb:
        assert sb.send_event("trigger")[0] == 429
        assert sb.send_event("trigger")[0] == 202
        sb.send_event("trigger")
        sb.reset()  # back to the seed and the start-up faults
        assert sb.send_event("trigger")[0] == 429
        assert sb.arrivals() == []


def test_arrivals_order_filter_and_state(sandbox: SandboxHandle) -> None:
    for i in range(5):
        sandbox.send_event("trigger", dedup_key=f"o{i}")
    arrivals = sandbox.arrivals()
    assert [a["seq"] for a in arrivals] == [1, 2, 3, 4, 5]
    assert [a["dedup_key"] for a in arrivals] == [f"o{i}" for i in range(5)]
    assert all(a["routing_key"] == sandbox.routing_key and a["time"] for a in arrivals)
    assert sandbox.arrivals(routing_key="x" * 32) == []
    _, body = sandbox.request("GET", "/_sandbox/events?after=3")
    assert [a["seq"] for a in body["events"]] == [4, 5]
    state = sandbox.state()
    assert len(state["incidents"]) == 5
    assert state["tokens"][0]["token"] == "***"  # secrets are not shown
    assert "sandbox-secret" not in str(state)
    sandbox.reset()
    assert sandbox.arrivals() == [] and sandbox.state()["incidents"] == {}


def test_status_page_lists_services_and_incidents(sandbox: SandboxHandle) -> None:
    import urllib.request

    sandbox.send_event("trigger", dedup_key="page", payload={
        "summary": "<b>disk</b> full", "source": "h", "severity": "error"})  # fmt: skip
    with urllib.request.urlopen(sandbox.url + "/", timeout=5) as resp:
        html = resp.read().decode()
    assert "Demo Service" in html and "deadbeefdeadbeefdeadbeefdeadbeef" in html
    assert "&lt;b&gt;disk&lt;/b&gt; full" in html and "<b>disk" not in html
    assert "trigger_log_entry" in html


def test_error_rate_per_route(sandbox: SandboxHandle) -> None:
    sandbox.set_faults(route_error_rates={"/v2/": 1.0, "/v2/change": 0.0, "/incidents": 1.0})
    assert sandbox.send_event("trigger")[0] == 500
    status, _ = sandbox.request(
        "POST",
        "/v2/change/enqueue",
        {"routing_key": sandbox.routing_key, "payload": {"summary": "s", "source": "x"}},
    )
    assert status == 202  # the longer prefix wins
    assert sandbox.rest("GET", "/incidents")[0] == 500
    assert sandbox.rest("GET", "/services")[0] == 200
    faults = sandbox.request("GET", "/_sandbox/faults")[1]["faults"]
    assert faults["route_error_rates"] == {"/v2/": 1.0, "/v2/change": 0.0, "/incidents": 1.0}
    with pytest.raises(ValueError, match="between 0 and 1"):
        sandbox.set_faults(route_error_rates={"/v2/": 7})


def _sandbox_errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_dropped_connection_is_not_logged_as_an_error(
    sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """The drop is the fault asked for, not a sandbox bug: no 'returned without starting
    response' error in the log for each one (a soak drops thousands)."""
    caplog.set_level(logging.INFO)
    sandbox.set_faults(drop_rate=1.0)
    for _ in range(3):
        with pytest.raises((urllib.error.URLError, http.client.HTTPException, ConnectionError)):
            sandbox.send_event("trigger")
    sandbox.set_faults()
    assert sandbox.send_event("trigger")[0] == 202
    assert _sandbox_errors(caplog) == []


class RequestWatch:
    """Wraps the sandbox's front door to see a request reach the app and the app be done with it.

    ``finished`` is appended on the loop turn after the app returned: uvicorn logs what it
    thinks went wrong (an exception, no answer) in the very turn the app returns, so once a path
    is listed there, any error about it is already in the log.
    """

    def __init__(self, sandbox: SandboxHandle) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        inner = sandbox.app.gate

        async def watched(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            self.started.append(scope["path"])
            try:
                await inner(scope, receive, send)
            finally:
                asyncio.get_running_loop().call_soon(self.finished.append, scope["path"])

        sandbox.app.gate = watched


def test_a_client_that_hangs_up_mid_body_leaves_no_traceback(
    sandbox: SandboxHandle, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender killed while posting (kill -9 of an agent) is no sandbox error."""
    caplog.set_level(logging.INFO)
    watch = RequestWatch(sandbox)
    host, port = sandbox.url.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as conn:
        conn.sendall(
            b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n" + b'{"routing_key": "'
        )
        wait_for(lambda: watch.started == ["/v2/enqueue"], "the request in the app")
    wait_for(lambda: watch.finished == ["/v2/enqueue"], "the app done with the hung-up request")
    assert sandbox.send_event("trigger")[0] == 202  # still serving
    assert _sandbox_errors(caplog) == []
    assert not [r for r in caplog.records if r.exc_info]
