"""Test helpers shipped with the package: a real sandbox on a free loopback port.

``running_sandbox(**options)`` runs uvicorn in a background thread of this process (fast, and the
app is reachable as ``handle.app``); ``sandbox_process(*args)`` runs ``pagerbridge sandbox`` as a
subprocess for tests that need a separate process. Both yield a :class:`SandboxHandle` whose
helpers talk to the admin endpoints over HTTP, so they work the same for either.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pagerbridge.sandbox.options import (
    DEMO_READONLY_TOKEN,
    DEMO_ROUTING_KEY,
    DEMO_SERVICE_ID,
    DEMO_TOKEN,
    DEMO_USER_EMAIL,
    DEMO_USER_TOKEN,
    FaultSpec,
    SandboxOptions,
)

STARTUP_TIMEOUT = 10.0
#: Seconds a stopping in-thread sandbox waits for open connections (tests keep clients alive).
SHUTDOWN_GRACE = 1
RUN_CLI = "from pagerbridge.cli.main import run; run()"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@dataclass
class SandboxHandle:
    """Where a running sandbox listens, its demo credentials, and admin helpers."""

    url: str
    ca_path: Path | None = None
    #: The server's private key (``tls=True``), removed when the sandbox stops.
    key_path: Path | None = None
    token: str = DEMO_TOKEN
    #: The seeded account key with read-only access (every REST write answers 403).
    readonly_token: str = DEMO_READONLY_TOKEN
    user_token: str = DEMO_USER_TOKEN
    routing_key: str = DEMO_ROUTING_KEY
    service_id: str = DEMO_SERVICE_ID
    user_email: str = DEMO_USER_EMAIL
    app: Any = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def events_url(self) -> str:
        """The full Events API v2 URL (``.../v2/enqueue``); ``url`` is the base."""
        return f"{self.url}/v2/enqueue"

    @property
    def change_events_url(self) -> str:
        return f"{self.url}/v2/change/enqueue"

    @property
    def api_url(self) -> str:
        return self.url

    @property
    def runtime(self) -> Any:
        """The in-process runtime (``running_sandbox`` only)."""
        return self.app.state.runtime if self.app is not None else None

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.ca_path is None:
            return None
        return ssl.create_default_context(cafile=str(self.ca_path))

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        """A small HTTP client for tests: returns (status, decoded JSON or None)."""
        data = json.dumps(body).encode() if body is not None else None
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"not an http(s) URL: {self.url}")
        req = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        req.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(  # noqa: S310 - http(s) checked above
                req, timeout=10, context=self.ssl_context()
            ) as resp:
                raw = resp.read()
                status = resp.status
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            status = exc.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    def rest(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        from_email: str | None = None,
        token: str | None = None,
    ) -> tuple[int, Any]:
        """A REST API call with the demo token, or ``token`` (and ``From`` when given)."""
        headers = {
            "Authorization": f"Token token={token or self.token}",
            "Accept": "application/vnd.pagerduty+json;version=2",
        }
        if from_email:
            headers["From"] = from_email
        return self.request(method, path, body, headers)

    def send_event(self, event_action: str = "trigger", **fields: Any) -> tuple[int, Any]:
        """Send one alert event for the demo routing key (``payload`` defaulted for triggers)."""
        event: dict[str, Any] = {"routing_key": self.routing_key, "event_action": event_action}
        if event_action == "trigger":
            event["payload"] = {"summary": "test event", "source": "tests", "severity": "error"}
        event.update(fields)
        return self.request("POST", "/v2/enqueue", event)

    def arrivals(self, routing_key: str | None = None) -> list[dict[str, Any]]:
        """Accepted events in arrival order (``GET /_sandbox/events``)."""
        query = f"?routing_key={routing_key}" if routing_key else ""
        status, body = self.request("GET", "/_sandbox/events" + query)
        assert status == 200, body
        rows: list[dict[str, Any]] = body["events"]
        return rows

    def sink_count(self) -> int:
        _status, body = self.request("GET", "/_sandbox/events")
        return int(body["sink_count"])

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Replace the fault settings (see ``FaultSpec``); no arguments turns faults off."""
        status, body = self.request("POST", "/_sandbox/faults", settings)
        if status != 200:
            raise ValueError(body["error"]["message"])
        faults: dict[str, Any] = body["faults"]
        return faults

    def reset(self) -> None:
        status, body = self.request("POST", "/_sandbox/reset")
        assert status == 200, body

    def state(self) -> dict[str, Any]:
        status, body = self.request("GET", "/_sandbox/state")
        assert status == 200, body
        state: dict[str, Any] = body
        return state

    def requests(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        api: str | None = None,
        after: int = 0,
        token: str | None = None,
    ) -> list[dict[str, Any]]:
        """API requests the sandbox received, oldest first (``GET /_sandbox/requests``).

        ``path`` ending in ``*`` is a prefix; ``api`` is ``rest``, ``events`` or ``oauth``;
        ``token`` keeps the REST calls made with that token; ``after`` a ``seq``.
        """
        params = {"method": method, "path": path, "api": api, "token": token}
        query = {k: v for k, v in params.items() if v is not None}
        if after:
            query["after"] = str(after)
        suffix = "?" + urllib.parse.urlencode(query) if query else ""
        status, body = self.request("GET", "/_sandbox/requests" + suffix)
        assert status == 200, body
        rows: list[dict[str, Any]] = body["requests"]
        return rows

    def count_requests(self, method: str, path: str, *, token: str | None = None) -> int:
        """How many ``method path`` requests arrived (``path`` ending in ``*``: a prefix)."""
        return len(self.requests(method=method, path=path, token=token))

    def clear_requests(self) -> int:
        """Forget the recorded requests; returns the last ``seq`` (for ``after=``)."""
        status, body = self.request("DELETE", "/_sandbox/requests")
        assert status == 200, body
        return int(body["last_seq"])

    def script_fault(
        self,
        do: str,
        *,
        path: str | None = None,
        method: str | None = None,
        times: int = 1,
        status: int = 500,
        seconds: float = 0.0,
        event_type: str | None = None,
    ) -> list[dict[str, Any]]:
        """Add a scripted fault (``POST /_sandbox/faults/scripted``); returns those in force.

        ``do``: ``status`` (answer ``status`` at once), ``drop`` (close, no answer),
        ``slow_after_write`` (make the change, answer after ``seconds``), ``drop_after_write``
        (make the change, close with no answer), ``drop_webhook`` (lose the next outgoing
        webhook of ``event_type``). Used up after ``times`` matches.
        """
        rule: dict[str, Any] = {"do": do, "times": times}
        optional = {"path": path, "method": method, "event_type": event_type}
        rule.update({k: v for k, v in optional.items() if v is not None})
        if do == "status":
            rule["status"] = status
        if seconds:
            rule["seconds"] = seconds
        answer_status, body = self.request("POST", "/_sandbox/faults/scripted", rule)
        if answer_status != 200:
            raise ValueError(body["error"]["message"])
        rules: list[dict[str, Any]] = body["scripted"]
        return rules

    def webhook_deliveries(self) -> list[dict[str, Any]]:
        _status, body = self.request("GET", "/_sandbox/webhooks")
        deliveries: list[dict[str, Any]] = body["deliveries"]
        return deliveries


def _options(values: dict[str, Any]) -> SandboxOptions:
    faults = values.pop("faults", None)
    if isinstance(faults, dict):
        values["faults"] = FaultSpec(**faults)
    elif faults is not None:
        values["faults"] = faults
    values.setdefault("port", free_port(values.get("host", "127.0.0.1")))
    for name in ("seed", "state_file", "ca_out"):
        if values.get(name) is not None:
            values[name] = Path(values[name])
    return SandboxOptions(**values)


@contextlib.contextmanager
def running_sandbox(**options: Any) -> Iterator[SandboxHandle]:
    """A sandbox served by uvicorn in a background thread; stopped (and state saved) on exit.

    Keyword arguments are ``SandboxOptions`` fields (``faults`` may be a dict of ``FaultSpec``
    fields); ``port`` defaults to a free one. With ``tls=True`` and no ``ca_out``, the CA goes to
    a temporary file.
    """
    import tempfile

    import uvicorn

    from pagerbridge.sandbox.app import create_app
    from pagerbridge.sandbox.tls import make_tls

    clock = options.pop("clock", None)
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if options.get("tls") and options.get("ca_out") is None:
        tmp = tempfile.TemporaryDirectory(prefix="pagerbridge-sandbox-")
        options["ca_out"] = Path(tmp.name) / "ca.pem"
    opts = _options(dict(options))
    app = create_app(opts, clock=clock) if clock else create_app(opts)
    tls = make_tls(opts.ca_out) if opts.tls else None
    config = uvicorn.Config(
        app,
        host=opts.host,
        port=opts.port,
        log_level="warning",
        lifespan="on",
        ssl_certfile=str(tls.cert) if tls else None,
        ssl_keyfile=str(tls.key) if tls else None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="pagerbridge-sandbox", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the sandbox did not start on {opts.host}:{opts.port}")
        time.sleep(0.01)
    try:
        yield SandboxHandle(
            url=opts.url,
            ca_path=tls.ca if tls else None,
            key_path=tls.key if tls else None,
            app=app,
        )
    finally:
        server.should_exit = True
        thread.join(timeout=SHUTDOWN_GRACE + 2)
        if thread.is_alive():  # a client still holds a TLS connection open: stop anyway
            server.force_exit = True
            thread.join(timeout=5)
        if tls is not None:
            tls.cleanup()
        if tmp is not None:
            tmp.cleanup()


@contextlib.contextmanager
def sandbox_process(*args: str, port: int | None = None) -> Iterator[SandboxHandle]:
    """``pagerbridge sandbox --port P ARGS...`` as a subprocess, ready when it answers."""
    port = port or free_port()
    command = [sys.executable, "-c", RUN_CLI, "sandbox", "--port", str(port), *args]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    tls = "--tls" in args
    ca_path = Path(args[args.index("--ca-out") + 1]) if "--ca-out" in args else None
    scheme = "https" if tls else "http"
    handle = SandboxHandle(url=f"{scheme}://127.0.0.1:{port}", ca_path=ca_path, process=process)
    try:
        wait_until_ready(handle, process)
        yield handle
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(
    handle: SandboxHandle,
    process: subprocess.Popen[bytes] | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> float:
    """Poll ``GET /_sandbox/faults`` until it answers; returns the seconds it took."""
    start = time.monotonic()
    while True:
        if process is not None and process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"the sandbox exited with {process.returncode}: {output}")
        try:
            status, _ = handle.request("GET", "/_sandbox/faults")
            if status == 200:
                return time.monotonic() - start
        except (OSError, ssl.SSLError):
            pass
        if time.monotonic() - start > timeout:
            raise RuntimeError(f"the sandbox at {handle.url} did not answer in {timeout} s")
        time.sleep(0.01)
