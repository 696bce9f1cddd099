"""``pagerbridge up`` and ``pagerbridge agent`` as a user runs them: real processes, real ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from pagerbridge.agent.testing import free_port, get, pagerbridge_command, post

DEMO_KEY = "deadbeefdeadbeefdeadbeefdeadbeef"


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60.0) -> str:
    """Read stdout until a line contains ``needle``; returns everything read."""
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"{needle!r} never printed; output so far:\n{''.join(seen)}")


def test_up_in_sandbox_mode_delivers_an_event(tmp_path: Path) -> None:
    agent_port, hub_port, sandbox_port = ports = free_port(), free_port(), free_port()
    proc = _start_up(tmp_path, ports)
    try:
        banner = wait_for_line(proc, "Press Ctrl-C")
        assert "SANDBOX MODE: nothing reaches PagerDuty" in banner
        assert f"http://127.0.0.1:{agent_port}" in banner
        assert f"http://127.0.0.1:{sandbox_port}" in banner
        assert DEMO_KEY in banner
        if f"http://127.0.0.1:{hub_port}" in banner:
            assert get(f"http://127.0.0.1:{hub_port}/health").status == 200
        else:
            assert "hub" in banner  # says plainly that it is not started

        answer = post(
            f"http://127.0.0.1:{agent_port}/v2/enqueue",
            {
                "routing_key": DEMO_KEY,
                "event_action": "trigger",
                "dedup_key": "up-e2e",
                "payload": {"summary": "hello", "source": "e2e", "severity": "info"},
            },
        )
        assert answer.status == 202, answer.body
        deadline = time.monotonic() + 30  # generous: the shared CI machine can be very busy
        arrivals: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            arrivals = json.loads(get(f"http://127.0.0.1:{sandbox_port}/_sandbox/events").body)[
                "events"
            ]
            if arrivals:
                break
            time.sleep(0.1)
        assert [a["dedup_key"] for a in arrivals] == ["up-e2e"], arrivals
        assert get(f"http://127.0.0.1:{agent_port}/health").json()["ok"] is True
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    assert (tmp_path / "pb.db").exists()


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [pagerbridge_command(), *args], capture_output=True, text=True, timeout=timeout
    )


def test_agent_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = run_cli("agent", "--listen", f"0.0.0.0:{free_port()}", "--db", str(tmp_path / "d"))
    assert result.returncode == 4
    assert "needs a shared token" in result.stderr
    assert "Traceback" not in result.stderr


def test_agent_reports_config_errors_with_file_and_line(tmp_path: Path) -> None:
    config = tmp_path / "agent.yaml"
    config.write_text("listen: 127.0.0.1:0\ndelivery:\n  workers: lots\n")
    result = run_cli("agent", "--config", str(config), "--db", str(tmp_path / "d"))
    assert result.returncode == 4
    assert f"{config}:3 (delivery.workers)" in result.stderr
    assert "Traceback" not in result.stderr


def test_agent_reports_a_busy_port(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_cli("agent", "--listen", f"127.0.0.1:{port}", "--db", str(tmp_path / "d"))
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def _start_up(tmp_path: Path, ports: tuple[int, int, int]) -> subprocess.Popen[str]:
    agent_port, hub_port, sandbox_port = ports
    return subprocess.Popen(
        [
            pagerbridge_command(),
            "up",
            "--db",
            str(tmp_path / "pb.db"),
            "--listen",
            f"127.0.0.1:{agent_port}",
            "--hub-listen",
            f"127.0.0.1:{hub_port}",
            "--sandbox-listen",
            f"127.0.0.1:{sandbox_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "Traceback" not in out, out
    return out


def _sandbox_call(port: int, method: str, path: str, body: object = None) -> Any:
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "Authorization": "Token token=sandbox-token",
            "Accept": "application/vnd.pagerduty+json;version=2",
            "Content-Type": "application/json",
            "From": "oncall@example.com",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.load(answer)


def _sandbox_incidents(sandbox_port: int) -> list[dict[str, Any]]:
    incidents: list[dict[str, Any]] = _sandbox_call(
        sandbox_port, "GET", "/incidents?date_range=all"
    )["incidents"]
    return incidents


def test_up_pages_the_sandbox_from_im_declare_and_keeps_it_across_a_restart(
    tmp_path: Path,
) -> None:
    import shutil
    import sys

    from servers.waiting import wait_for

    ports = (free_port(), free_port(), free_port())
    im = shutil.which("im", path=str(Path(sys.executable).parent)) or "im"
    declare = [im, "declare", "--sev", "SEV-2"]
    env = {**os.environ, "PAGERBRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'pb.db'}"}
    proc = _start_up(tmp_path, ports)
    try:
        banner = wait_for_line(proc, "Press Ctrl-C")
        assert "connector 'sandbox' pages the sandbox" in banner
        assert 'im declare --sev SEV-2 --title "Database performance issue" --service db' in banner
        done = subprocess.run(
            [*declare, "--title", "Database performance issue", "--service", "db"],
            capture_output=True,
            text=True,
            timeout=30,
            env=env,
        )
        assert done.returncode == 0, done.stderr
        [made] = wait_for(lambda: _sandbox_incidents(ports[2]), "the PagerDuty incident", 15)
        assert made["title"] == "Database performance issue"
        assert made["urgency"] == "high"
        # Bidirectional: acknowledging in the sandbox comes back through up's subscription.
        _sandbox_call(
            ports[2],
            "PUT",
            f"/incidents/{made['id']}",
            {"incident": {"type": "incident_reference", "status": "acknowledged"}},
        )
        ref = done.stdout.split()[1]

        def status() -> str:
            shown = subprocess.run(
                [im, "show", ref, "--json"], capture_output=True, text=True, env=env, timeout=30
            )
            return str(json.loads(shown.stdout)["incident"]["status"])

        wait_for(lambda: status() == "mitigated", "the acknowledgement made in the sandbox", 15)
    finally:
        _stop(proc)
    proc = _start_up(tmp_path, ports)
    try:
        wait_for_line(proc, "Press Ctrl-C")
        # The sandbox kept its account: the incident is still there, in step with INC-1.
        assert [i["title"] for i in _sandbox_incidents(ports[2])] == [made["title"]]
        done = subprocess.run(
            [*declare, "--title", "Second"], capture_output=True, text=True, timeout=30, env=env
        )
        assert done.returncode == 0, done.stderr
        wait_for(lambda: len(_sandbox_incidents(ports[2])) == 2, "the second incident", 15)
    finally:
        _stop(proc)
