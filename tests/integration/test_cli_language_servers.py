"""The servers speak one language too (issue 12, items 3 and 6): a busy port is the same one-line
answer and exit code from ``pagerbridge up/agent/sandbox`` and ``im serve``, with no banner before
it; and their logs are one format, ``--log-format json`` giving one JSON object per line, with a
rejected event logged at the default level and never its routing key. Real processes."""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from pagerbridge.agent.testing import free_port, post
from pagerbridge.cli import exits

BIN = Path(sys.executable).parent
UNKNOWN_KEY = "0123456789abcdef0123456789abcdef"  # no service in the sandbox has it: a 400
TIMEOUT = 60.0


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def _free() -> str:
    return f"127.0.0.1:{free_port()}"


SERVERS: dict[str, tuple[Callable[[int, Path], list[str]], str]] = {
    "agent": (lambda p, d: ["pagerbridge", "agent", "--listen", f"127.0.0.1:{p}", "--db", str(d)],
              "--listen"),
    "up agent": (lambda p, d: ["pagerbridge", "up", "--listen", f"127.0.0.1:{p}",
                               "--hub-listen", _free(), "--sandbox-listen", _free(),
                               "--db", str(d)], "--listen"),
    "up hub": (lambda p, d: ["pagerbridge", "up", "--hub-listen", f"127.0.0.1:{p}",
                             "--listen", _free(), "--sandbox-listen", _free(), "--db", str(d)],
               "--hub-listen"),
    "up sandbox": (lambda p, d: ["pagerbridge", "up", "--sandbox-listen", f"127.0.0.1:{p}",
                                 "--listen", _free(), "--hub-listen", _free(), "--db", str(d)],
                   "--sandbox-listen"),
    "sandbox": (lambda p, d: ["pagerbridge", "sandbox", "--port", str(p)], "--host/--port"),
    "im serve": (lambda p, d: ["im", "serve", "--port", str(p), "--db", str(d)], "--host/--port"),
}  # fmt: skip


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_a_busy_port_is_one_line_and_exit_1_everywhere(
    server: str, busy_port: int, tmp_path: Path
) -> None:
    command, option = SERVERS[server]
    tool, *args = command(busy_port, tmp_path / "pb.db")
    result = subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, env=env(), timeout=TIMEOUT
    )
    assert result.returncode == exits.ERROR, result.stderr
    assert result.stdout == ""  # no banner before the error
    assert result.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{busy_port}: address already in use",
        f"hint: another process listens there (`ss -ltnp 'sport = :{busy_port}'` names it): "
        f"stop it, or choose another address with {option}",
    ]


class Running:
    """A server process whose stdout and stderr are read line by line in threads, so a test can
    wait for a line (never for a time) without either pipe filling up."""

    def __init__(self, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**env(), **(extra_env or {})},
        )
        self.lines: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self._queue: queue.Queue[tuple[str, str | None]] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._readers = [
            threading.Thread(target=self._read, args=(name, pipe), daemon=True)
            for name, pipe in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _read(self, name: str, pipe: IO[str]) -> None:
        for line in pipe:
            self._queue.put((name, line.rstrip("\n")))
        self._queue.put((name, None))

    def wait_for(self, stream: str, needle: str) -> str:
        """The first line of ``stream`` (read so far or to come) that contains ``needle``."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            found = [line for line in self.lines[stream] if needle in line]
            if found:
                return found[0]
            left = deadline - time.monotonic()
            if left <= 0 or (self.proc.poll() is not None and self._queue.empty()):
                raise AssertionError(f"{needle!r} never came on {stream}: {self.lines}")
            try:
                name, line = self._queue.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            if line is not None:
                self.lines[name].append(line)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=TIMEOUT)
        for reader in self._readers:
            reader.join(timeout=TIMEOUT)
        while not self._queue.empty():
            name, line = self._queue.get()
            if line is not None:
                self.lines[name].append(line)
        return code


def json_lines(lines: list[str]) -> list[dict[str, Any]]:
    """Every line parsed as one JSON object with the shared fields."""
    records = [json.loads(line) for line in lines]
    for record in records:
        assert {"time", "level", "logger", "message"} <= set(record), record
        assert record["level"] in ("debug", "info", "warning", "error", "critical"), record
    return records


def test_agent_json_logs_show_a_rejected_event_without_its_key(
    sandbox: Any, tmp_path: Path
) -> None:
    port = free_port()
    server = Running(
        [str(BIN / "pagerbridge"), "agent", "--log-format", "json", "--listen",
         f"127.0.0.1:{port}", "--db", str(tmp_path / "pb.db"), "--events-url", sandbox.url]
    )  # fmt: skip
    try:
        server.wait_for("stderr", "agent listening on")
        event = {
            "routing_key": UNKNOWN_KEY,
            "event_action": "trigger",
            "payload": {"summary": "nobody has this key", "source": "test", "severity": "info"},
        }
        assert post(f"http://127.0.0.1:{port}/v2/enqueue", event).status == 202
        server.wait_for("stderr", "dead letter")
    finally:
        code = server.stop()
    assert code == exits.OK, server.lines
    records = json_lines(server.lines["stderr"])
    (dead,) = [r for r in records if "dead letter" in r["message"]]
    assert dead["level"] == "warning" and dead["logger"] == "pagerbridge.outbox.worker"
    assert "no service integration" in dead["message"]
    assert UNKNOWN_KEY not in "\n".join(server.lines["stderr"] + server.lines["stdout"])


def test_up_json_logs_cover_agent_hub_and_sandbox(tmp_path: Path) -> None:
    server = Running(
        [str(BIN / "pagerbridge"), "up", "--log-format", "json", "--listen", _free(),
         "--hub-listen", _free(), "--sandbox-listen", _free(), "--db", str(tmp_path / "pb.db")]
    )  # fmt: skip
    try:
        server.wait_for("stdout", "Press Ctrl-C")
    finally:
        code = server.stop()
    assert code == exits.OK, server.lines
    records = json_lines(server.lines["stderr"])
    started = {r["message"].split()[0] for r in records if " listening on " in r["message"]}
    assert started == {"agent", "hub", "sandbox"}, records
    assert any(r["level"] == "warning" and "SANDBOX MODE" in r["message"] for r in records)


def test_sandbox_json_logs(tmp_path: Path) -> None:
    server = Running([str(BIN / "pagerbridge"), "sandbox", "--log-format", "json", "--port",
                      str(free_port()), "--state", str(tmp_path / "state.json")])  # fmt: skip
    try:
        server.wait_for("stdout", "status page:")
        server.wait_for("stderr", "sandbox listening on")
    finally:
        code = server.stop()
    assert code == exits.OK, server.lines
    messages = [r["message"] for r in json_lines(server.lines["stderr"])]
    assert any(m.startswith("sandbox listening on http://127.0.0.1:") for m in messages)
    assert "sandbox stopped" in messages


@pytest.mark.parametrize("how", ["env", "flag"])
def test_im_serve_json_logs(how: str, tmp_path: Path) -> None:
    port = free_port()
    args = [str(BIN / "im"), "serve", "--port", str(port), "--db", str(tmp_path / "pb.db")]
    extra = {"PAGERBRIDGE_LOG_FORMAT": "json"} if how == "env" else {}
    server = Running(args + (["--log-format", "json"] if how == "flag" else []), extra)
    try:
        server.wait_for("stderr", "hub listening on")
    finally:
        code = server.stop()
    assert code == exits.OK, server.lines
    messages = [r["message"] for r in json_lines(server.lines["stderr"])]
    assert f"hub listening on http://127.0.0.1:{port}" in messages


def test_a_bad_log_format_is_a_usage_error() -> None:
    result = subprocess.run(
        [str(BIN / "pagerbridge"), "sandbox", "--log-format", "xml", "--port", str(free_port())],
        capture_output=True, text=True, env=env(), timeout=TIMEOUT,
    )  # fmt: skip
    assert result.returncode == exits.USAGE
    assert result.stderr.startswith("error: log format 'xml' is not one of text, json\nhint: ")
