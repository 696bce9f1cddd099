"""``update-watcher run --only TYPE`` as a user runs it: the CLI as a subprocess, a config file,
PagerDuty on the sandbox and a generic webhook notifier (apprise ``json://``) posting to a real
loopback receiver. The partial report reaches the webhook, with only that type's results and
saying it is partial; PagerDuty hears nothing (the host's one alert reflects the whole host).
On a host whose one enabled watcher is that type, ``--only`` covers the whole host: PagerDuty is
paged as in a full run and nothing says partial.

The checkers run real subprocesses: ``apt`` and ``npm`` on a PATH of their own are stubs that
print the recorded outputs in tests/unit/fixtures/updates (byte for byte, header stripped) and
refuse any other arguments, so the run does not depend on this machine's packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.updates.runner import PAGERDUTY_PARTIAL_NOTICE

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))
from test_updates_replay import load_fixture

UW = str(Path(sys.executable).with_name("update-watcher"))
HOST = "web-prod-01"
APT_FIXTURE = "apt_list_upgradable_debian12.txt"
NPM_FIXTURE = "npm_outdated_global_debian12.json"


def stub_tool(directory: Path, name: str, args: str, fixture: str, status: int) -> None:
    """``name`` on PATH: prints the recorded output for exactly ``args``, fails otherwise."""
    output = directory / f"{name}.out"
    output.write_bytes(load_fixture(fixture).encode("utf-8"))
    script = directory / name
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$*" = "{args}" ] || {{ echo "stub {name}: unexpected arguments: $*" >&2; exit 99; }}\n'
        f"cat '{output}'\n"
        f"exit {status}\n"
    )
    script.chmod(0o755)


@pytest.fixture
def tools_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub_tool(bin_dir, "apt", "list --upgradable", APT_FIXTURE, 0)
    stub_tool(bin_dir, "npm", "outdated --global --json", NPM_FIXTURE, 1)  # 1: outdated found
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


def write_config(
    tmp_path: Path, events_url: str, hook_url: str, *, apt_enabled: bool = True
) -> Path:
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages").write_text("")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""\
hostname: {HOST}
watchers:
  - type: apt
    enabled: {str(apt_enabled).lower()}
    options:
      lists_dir: {lists}
  - type: npm
notifiers:
  - type: pagerduty
    routing_key: ${{UPDATE_WATCHER_PAGERDUTY_KEY}}
    events_url: {events_url}
  - type: webhook
    options:
      url: {hook_url}/hooks/updates
settings:
  database: sqlite:///{tmp_path}/pagerbridge.db
  state_file: {tmp_path}/state.json
  delivery_timeout: 15
"""
    )
    return config


def run(config: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [UW, "run", "--config", str(config), "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **env},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr  # 1: updates found
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def listed_checkers(message: str) -> set[str]:
    """The checkers named on the message's update lines (``- apt: openssl 3.0 -> 3.1``)."""
    return {line[2:].split(":", 1)[0] for line in message.splitlines() if line.startswith("- ")}


def pd_events(sandbox: Any) -> list[str]:
    """Every event the sandbox received, on any routing key: accepted ones and sunk ones."""
    actions = [str(a["event_action"]) for a in sandbox.arrivals()]
    return actions + ["sunk"] * sandbox.sink_count()


@pytest.mark.slow
def test_only_run_reaches_the_webhook_as_a_partial_report_and_pagerduty_hears_nothing(
    tmp_path: Path,
    sandbox: Any,
    receiver: tuple[str, list[dict[str, Any]]],
    tools_env: dict[str, str],
) -> None:
    hook_url, received = receiver
    config = write_config(tmp_path, sandbox.url, hook_url)
    env = {**tools_env, "UPDATE_WATCHER_PAGERDUTY_KEY": sandbox.routing_key}
    npm_packages = sorted(json.loads(load_fixture(NPM_FIXTURE)))

    # --only npm on a host with no alert open: PagerDuty would trigger if it were not skipped.
    data = run(config, env, "--only", "npm")
    assert [c["checker"] for c in data["checkers"]] == ["npm"]
    assert data["partial"] is True and data["not_checked"] == ["apt"]
    assert data["notifications"] == [PAGERDUTY_PARTIAL_NOTICE, "webhook: sent"]
    (hit,) = received
    assert hit["path"] == "/hooks/updates"
    title, message = hit["body"]["title"], hit["body"]["message"]
    assert title == (
        f"Update Watcher (partial run: npm only): {len(npm_packages)} updates available on {HOST}"
    )
    assert message.splitlines()[0] == (
        "Partial run (--only npm): only npm was checked; not checked: apt. "
        "This is not the host's full update state."
    )
    assert listed_checkers(message) == {"npm"}
    assert sorted(line.split()[2] for line in message.splitlines()[1:]) == npm_packages
    assert pd_events(sandbox) == []

    # The same config without --only pages PagerDuty and sends the whole host, not marked.
    data = run(config, env)
    assert data["partial"] is False and "not_checked" not in data
    assert pd_events(sandbox) == ["trigger"]
    full = received[1]["body"]
    # 124 apt + 2 npm: the body names both, and npm's 2 are listed beside 48 of apt's.
    assert full["title"] == "Update Watcher: 126 updates available on web-prod-01 (69 security)"
    assert "partial" not in (full["title"] + full["message"]).lower()
    full_lines = full["message"].splitlines()
    assert full_lines[0] == "apt: 124 (69 security), npm: 2"
    assert listed_checkers(full["message"]) == {"apt", "npm"}
    assert sorted(line.split()[2] for line in full_lines if line.startswith("- npm:")) == (
        npm_packages
    )
    assert any(line.startswith("... and 76 more from apt") for line in full_lines)

    # --only apt while the host's alert is open: the alert is neither updated nor replaced.
    data = run(config, env, "--only", "apt")
    assert data["notifications"] == [PAGERDUTY_PARTIAL_NOTICE, "webhook: sent"]
    assert len(received) == 3
    partial_apt = received[2]["body"]
    assert partial_apt["title"] == (
        "Update Watcher (partial run: apt only): 124 updates available on web-prod-01 (69 security)"
    )
    assert "not checked: npm" in partial_apt["message"].splitlines()[0]
    assert listed_checkers(partial_apt["message"]) == {"apt"}
    assert pd_events(sandbox) == ["trigger"]


@pytest.mark.slow
def test_only_naming_the_hosts_one_watcher_is_a_full_run_and_pages(
    tmp_path: Path,
    sandbox: Any,
    receiver: tuple[str, list[dict[str, Any]]],
    tools_env: dict[str, str],
) -> None:
    """apt is configured but disabled, npm is the one enabled watcher: ``--only npm`` checked
    everything the host watches, so PagerDuty is triggered and no reader is told "partial"."""
    hook_url, received = receiver
    config = write_config(tmp_path, sandbox.url, hook_url, apt_enabled=False)
    env = {**tools_env, "UPDATE_WATCHER_PAGERDUTY_KEY": sandbox.routing_key}
    npm_packages = sorted(json.loads(load_fixture(NPM_FIXTURE)))

    data = run(config, env, "--only", "npm")
    assert [c["checker"] for c in data["checkers"]] == ["npm"]
    assert data["partial"] is False and "not_checked" not in data
    assert PAGERDUTY_PARTIAL_NOTICE not in data["notifications"]
    assert data["notifications"][0].startswith("pagerduty: trigger update-watcher/")
    assert data["notifications"][1] == "webhook: sent"
    assert pd_events(sandbox) == ["trigger"]
    (hit,) = received
    title, message = hit["body"]["title"], hit["body"]["message"]
    assert title == f"Update Watcher: {len(npm_packages)} updates available on {HOST}"
    assert "partial" not in (title + message).lower()
    assert sorted(line.split()[2] for line in message.splitlines()) == npm_packages
