"""Test helpers shipped with the package: a real agent on a free loopback port, in a thread.

    with running_agent(database_url=url, events_url=sandbox.events_url) as agent:
        httpx.post(agent.enqueue_url, json=event)

The agent is the production one (outbox, group commit, delivery worker, uvicorn) in a background
thread with its own event loop; leaving the block stops it gracefully, like SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pagerbridge.agent.config import AgentConfig, apply_overrides
from pagerbridge.agent.runtime import Agent, Target, resolve_target
from pagerbridge.agent.serving import Served, run_services, serve_app
from pagerbridge.outbox.worker import Sender

START_TIMEOUT = 10.0
NOWHERE = "http://127.0.0.1:9"


@dataclass
class AgentHandle:
    """A running agent: its URLs, and the ``Agent`` object (outbox, metrics) for assertions."""

    agent: Agent
    served: Served
    _loop: asyncio.AbstractEventLoop = field(repr=False)
    _stop: asyncio.Event = field(repr=False)

    @property
    def url(self) -> str:
        return self.served.url

    @property
    def enqueue_url(self) -> str:
        return self.url + "/v2/enqueue"

    @property
    def change_url(self) -> str:
        return self.url + "/v2/change/enqueue"

    def call(self, func: Callable[[], Any]) -> Any:
        """Run ``func`` in the agent's event loop thread and return its result."""
        return asyncio.run_coroutine_threadsafe(_call(func), self._loop).result(timeout=30)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)


async def _call(func: Callable[[], Any]) -> Any:
    result = func()
    if asyncio.iscoroutine(result):
        return await result
    return result


@contextlib.contextmanager
def running_agent(
    *,
    database_url: str,
    events_url: str | None = None,
    config: AgentConfig | dict[str, Any] | None = None,
    sender: Sender | None = None,
    clock: Callable[[], float] = time.time,
    deliver: bool = True,
) -> Iterator[AgentHandle]:
    """Start an agent on 127.0.0.1 (a free port unless ``config`` says otherwise).

    ``deliver=False`` runs no delivery worker, so rows stay pending (for queue tests).
    """
    if isinstance(config, dict):
        config = AgentConfig.model_validate(config)
    if config is None:
        config = AgentConfig(listen="127.0.0.1:0")
    if events_url is not None:
        config = apply_overrides(config, events_url=events_url)
    # Tests never reach the real PagerDuty: with no target, point at the discard port.
    target = resolve_target(config) if config.names_pagerduty else Target("pagerduty", NOWHERE)
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        assert config is not None
        agent = Agent(config, database_url=database_url, target=target, clock=clock, sender=sender)
        try:
            served = serve_app(
                "agent", agent.app, config.listen_host, config.listen_port, tls=agent.tls_files
            )
            stop = asyncio.Event()
            box["handle"] = AgentHandle(agent, served, asyncio.get_running_loop(), stop)
            background = [agent.run_background] if deliver else []
            async with agent.sources_running():  # event sources, if configured
                await run_services(stop, front=[served], background=background, on_ready=ready.set)
        finally:
            await agent.aclose()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=thread_main, name="pagerbridge-agent", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT) or "error" in box:
        raise RuntimeError(f"the agent did not start: {box.get('error')!r}")
    handle: AgentHandle = box["handle"]
    try:
        yield handle
    finally:
        handle.stop()
        thread.join(timeout=30)
        if "error" in box:
            raise box["error"]


@dataclass
class HttpAnswer:
    """A response; header names are lower-case."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def post(
    url: str,
    body: bytes | str | dict[str, Any],
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpAnswer:
    """POST with the standard library; any status is returned, never raised."""
    if isinstance(body, dict):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    request = urllib.request.Request(url, data=data, method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    return _open(request, timeout)


def get(url: str, *, headers: dict[str, str] | None = None, timeout: float = 10.0) -> HttpAnswer:
    request = urllib.request.Request(url, method="GET")  # noqa: S310
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    return _open(request, timeout)


def _lower(headers: Any) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in headers.items()}


def _open(request: urllib.request.Request, timeout: float) -> HttpAnswer:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return HttpAnswer(response.status, _lower(response.headers), response.read())
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, _lower(exc.headers), exc.read())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pagerbridge_command() -> str:
    """The ``pagerbridge`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "pagerbridge"
    if not script.exists():
        raise RuntimeError(f"no pagerbridge command beside {sys.executable}")
    return str(script)


@dataclass
class AgentProcess:
    """``pagerbridge agent`` running as a child process (for kill -9 and SIGTERM tests)."""

    proc: subprocess.Popen[bytes]
    url: str
    log_path: Path

    @property
    def enqueue_url(self) -> str:
        return self.url + "/v2/enqueue"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as in a power cut of the process."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


def start_agent_process(
    *,
    database_url: str,
    events_url: str,
    workdir: Path,
    config_text: str | None = None,
    port: int | None = None,
    extra_args: Sequence[str] = (),
    preexec_fn: Callable[[], None] | None = None,
    env: dict[str, str] | None = None,
) -> AgentProcess:
    """Start ``pagerbridge agent`` on a free port; return once ``/health`` answers."""
    port = port or free_port()
    args = [
        pagerbridge_command(),
        "agent",
        "--listen",
        f"127.0.0.1:{port}",
        "--db",
        database_url,
        "--events-url",
        events_url,
        *extra_args,
    ]
    if config_text is not None:
        config_path = workdir / f"agent-{port}.yaml"
        config_path.write_text(config_text)
        args += ["--config", str(config_path)]
    log_path = workdir / f"agent-{port}.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            args,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=preexec_fn,
            env={**os.environ, **(env or {})},
        )
    handle = AgentProcess(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + START_TIMEOUT * 2
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the agent exited with {proc.returncode}:\n{handle.log()}")
        try:
            if get(handle.url + "/health", timeout=1).status in (200, 503):
                return handle
        except OSError:
            pass
        time.sleep(0.05)
    handle.kill()
    raise RuntimeError(f"the agent did not answer in time:\n{handle.log()}")
