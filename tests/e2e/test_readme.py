"""The README's examples run as written (only the sandbox's port differs)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[2] / "README.md"
DEFAULT_SANDBOX = "http://127.0.0.1:8090"


def _section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_use_it_as_a_library_runs_against_the_sandbox(sandbox: Any) -> None:
    code = re.search(r"```python\n(.*?)```", _section("Use it as a library"), re.S)
    assert code, "no python example in 'Use it as a library'"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code.group(1).replace(DEFAULT_SANDBOX, sandbox.url), "README", "exec"), {})
    lines = out.getvalue().splitlines()
    assert lines[0] == "Accepted(dedup_key='db1/disk', status=202, message='Event processed')"
    assert lines[1] == "1 triggered Disk full on db1"
    assert lines[-1] == "signature ok"


def test_sandbox_curl_round_trip(sandbox: Any) -> None:
    section = _section("The sandbox: a local PagerDuty")
    commands = [
        block.replace("\\\n", " ").replace(DEFAULT_SANDBOX, sandbox.url)
        for block in re.findall(r"^(curl .*?)(?=\n\n|\n#|\ncurl|\n```|\Z)", section, re.S | re.M)
    ]
    assert len(commands) == 5, commands
    for command in commands:
        subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=30)
    with urllib.request.urlopen(sandbox.url + "/_sandbox/events", timeout=5) as response:
        arrivals = json.load(response)["events"]
    assert [(e["event_action"], e["dedup_key"]) for e in arrivals] == [
        ("trigger", "disk-full/web1"),
        ("acknowledge", "disk-full/web1"),
        ("resolve", "disk-full/web1"),
    ]
    request = urllib.request.Request(
        sandbox.url + "/incidents?statuses[]=resolved",
        headers={"Authorization": "Token token=sandbox-token"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        incidents = json.load(response)["incidents"]
    assert [i["title"] for i in incidents] == ["Disk full on web1"]
