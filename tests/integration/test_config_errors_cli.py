"""A configuration with two typos and a wrong type, given to the commands users run: every
problem on its own line with file:line, the typos with the nearest known key, and exit 4."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent

AGENT_CONFIG = """\
listen: 127.0.0.1:8081
delivery:
  wokers: 4
  rate_limit_per_minute: lots
pagerduty:
  timout: 5
"""

WATCHER_CONFIG = """\
hostname: web-1
watchers:
  - type: apt
    options: {use_sudoo: true}
notifiers:
  - type: pagerduty
    routing_key: 0123456789abcdef0123456789abcdef
    sevrity: error
settings:
  quiet: very
"""


def run(*args: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAGERBRIDGE_", "UPDATE_"))}
    return subprocess.run([*map(str, args)], capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize(
    ("command", "text", "typos"),
    [
        (["pagerbridge", "agent", "--config"], AGENT_CONFIG, {3: "workers", 6: "timeout"}),
        (
            ["update-watcher", "validate", "--config"],
            WATCHER_CONFIG,
            {4: "use_sudo", 8: "severity"},
        ),
    ],
    ids=["pagerbridge agent", "update-watcher validate"],
)
def test_every_problem_is_listed_with_file_line_and_a_suggestion(
    tmp_path: Path, command: list[str], text: str, typos: dict[int, str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    result = run(BIN / command[0], *command[1:], path)
    assert result.returncode == 4, result.stderr
    located = [
        line
        for line in result.stderr.splitlines()
        if re.search(rf"{re.escape(str(path))}:\d+ ", line)
    ]
    assert len(located) == 3, result.stderr
    for line_number, suggestion in typos.items():
        (line,) = [line for line in located if f"{path}:{line_number} " in line]
        assert f"did you mean '{suggestion}'?" in line
    (wrong_type,) = [line for line in located if "did you mean" not in line]
    assert "Input should be a valid" in wrong_type
