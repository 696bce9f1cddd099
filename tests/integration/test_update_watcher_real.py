"""apt and pip run for real on this machine; the CLI end to end against the sandbox; the generic
webhook notifier against a real loopback receiver.

pip: no network. Two tiny wheels (uwdemo 1.0 and 2.0) are built in a temporary find-links
directory, 1.0 is installed into a ``--target`` directory, and the checker runs the real
``pip list --outdated --path DIR --no-index --find-links WHEELS --isolated`` (isolated: this
machine's pip.conf and PIP_* variables point at other indexes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.updates.checkers.apt import AptChecker, has_package_lists
from pagerbridge.updates.checkers.pip import PipChecker
from pagerbridge.updates.commands import CheckerError, SubprocessRunner

ROOT = Path(__file__).resolve().parents[2]
UW = str(Path(sys.executable).with_name("update-watcher"))


def build_wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal, valid pure-Python wheel."""
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = "".join(f"{path},,\n" for path in files) + f"{info}/RECORD,,\n"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, content in files.items():
            zf.writestr(path, content)
        zf.writestr(f"{info}/RECORD", record)
    return wheel


@pytest.fixture
def pip_env(tmp_path: Path) -> dict[str, Path]:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    wheels.mkdir()
    build_wheel(wheels, "uwdemo", "1.0")
    build_wheel(wheels, "uwdemo", "2.0")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--isolated",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheels),
            "--target",
            str(target),
            "uwdemo==1.0",
        ],
        check=True,
    )
    return {"wheels": wheels, "target": target}


def pip_options(env: dict[str, Path]) -> dict[str, Any]:
    return {
        "python": sys.executable,
        "path": str(env["target"]),
        "no_index": True,
        "find_links": str(env["wheels"]),
        "isolated": True,
    }


def test_pip_for_real_against_a_local_find_links(pip_env: dict[str, Path]) -> None:
    checker = PipChecker.from_options(pip_options(pip_env), SubprocessRunner(timeout=120))
    (update,) = checker.check()
    assert (update.package, update.current_version, update.available_version) == (
        "uwdemo",
        "1.0",
        "2.0",
    )


def test_apt_for_real_on_this_debian_machine() -> None:
    checker = AptChecker.from_options({}, SubprocessRunner(timeout=120))
    if not has_package_lists(Path("/var/lib/apt/lists")):
        with pytest.raises(CheckerError, match="apt-get update"):
            checker.check()
        return
    updates = checker.check()
    listed = subprocess.run(
        ["apt", "list", "--upgradable"],
        capture_output=True,
        text=True,
        env={**os.environ, "LC_ALL": "C"},
        check=True,
    ).stdout
    assert len(updates) == sum(1 for line in listed.splitlines() if "[upgradable from:" in line)
    for update in updates:
        assert update.package and update.available_version
        assert update.security == any(s.endswith("-security") for s in update.source.split(","))


def write_config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(body)
    return path


def uw(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [UW, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.mark.slow
def test_cli_run_against_the_sandbox_opens_then_resolves(
    tmp_path: Path, pip_env: dict[str, Path]
) -> None:
    from pagerbridge.sandbox.testing import running_sandbox

    opts = pip_options(pip_env)
    with running_sandbox() as handle:
        config = write_config(
            tmp_path,
            f"""\
hostname: web-prod-01
watchers:
  - type: pip
    options:
      python: {opts["python"]}
      path: {opts["path"]}
      no_index: true
      find_links: {opts["find_links"]}
      isolated: true
notifiers:
  - type: pagerduty
    routing_key: ${{UPDATE_WATCHER_PAGERDUTY_KEY}}
    severity: "warning"
    events_url: {handle.url}
settings:
  database: sqlite:///{tmp_path}/pb.db
  state_file: {tmp_path}/state.json
""",
        )
        env = {"UPDATE_WATCHER_PAGERDUTY_KEY": handle.routing_key}
        first = uw("run", "--config", str(config), env=env)
        assert first.returncode == 1, first.stderr
        assert "1 update available on web-prod-01" in first.stdout
        assert "pagerduty: trigger update-watcher/web-prod-01: delivered" in first.stdout
        status = uw("status", "--config", str(config), env=env)
        assert "update-watcher/web-prod-01 open since" in status.stdout

        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--isolated",
                "--quiet",
                "--no-index",
                "--upgrade",
                "--find-links",
                str(pip_env["wheels"]),
                "--target",
                str(pip_env["target"]),
                "uwdemo==2.0",
            ],
            check=True,
        )
        second = uw("run", "--config", str(config), "--format", "json", env=env)
        assert second.returncode == 0, second.stderr
        data = json.loads(second.stdout)
        assert data["total_updates"] == 0
        assert data["notifications"] == ["pagerduty: resolve update-watcher/web-prod-01: delivered"]
        actions = [a["event_action"] for a in handle.arrivals(handle.routing_key)]
        assert actions == ["trigger", "resolve"]


def no_tools_path(tmp_path: Path) -> dict[str, str]:
    """A PATH with no package tools on it, so "not installed" does not depend on what the
    machine running the tests happens to have (zypper and dnf are Debian packages too)."""
    empty = tmp_path / "no-tools-bin"
    empty.mkdir(exist_ok=True)
    return {"PATH": str(empty)}


def test_cli_exit_codes_for_failures_and_config_errors(
    tmp_path: Path, pip_env: dict[str, Path]
) -> None:
    opts = pip_options(pip_env)
    pip_block = (
        f"  - type: pip\n    options:\n      python: {opts['python']}\n"
        f"      path: {opts['path']}\n      no_index: true\n"
        f"      find_links: {opts['find_links']}\n      isolated: true\n"
    )
    partial = write_config(tmp_path, "hostname: h\nwatchers:\n" + pip_block + "  - type: zypper\n")
    no_tools = no_tools_path(tmp_path)
    result = uw("run", "--config", str(partial), "--no-notify", env=no_tools)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "zypper: FAILED - zypper is not installed" in result.stdout
    assert "uwdemo  1.0 -> 2.0" in result.stdout

    failing = write_config(tmp_path, "hostname: h\nwatchers:\n  - type: zypper\n  - type: dnf\n")
    assert uw("run", "--config", str(failing), "--no-notify", env=no_tools).returncode == 3

    broken = write_config(tmp_path, "watchers:\n  - type: apt\n    options:\n      sudo: yes\n")
    result = uw("validate", "--config", str(broken))
    assert result.returncode == 4
    assert f"{broken}:4 (watchers.0.options.sudo)" in result.stderr
    assert "Traceback" not in result.stderr
    assert uw("run", "--config", str(tmp_path / "missing.yaml")).returncode == 4


def test_cli_watch_unwatch_and_cron(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        "# keep me\nhostname: h\nwatchers:\n  - type: apt # inline\n"
        "notifiers:\n  - type: webhook\n    options: {url: 'http://127.0.0.1:9/hook'}\n",
    )
    assert uw("watch", "npm", "--config", str(config)).returncode == 0
    assert uw("unwatch", "apt", "--config", str(config)).returncode == 0
    text = config.read_text()
    assert text.startswith("# keep me\n") and "- type: npm" in text and "type: apt" not in text
    cron, env_file, log = tmp_path / "cron", tmp_path / "uw.env", tmp_path / "uw.log"
    result = uw(
        "install-cron",
        *("--config", str(config), "--cron-file", str(cron), "--schedule", "15 4 * * *"),
        *("--env-file", str(env_file), "--log-file", str(log)),
    )
    assert result.returncode == 0, result.stderr
    line = cron.read_text().splitlines()[-1]
    assert line.startswith("15 4 * * * root { ")
    assert f"; exec {UW} run --config {config}; }} >>{log} 2>&1" in line
    assert uw("uninstall-cron", "--cron-file", str(cron)).returncode == 0
    assert not cron.exists() and not env_file.exists()


def test_generic_webhook_through_apprise_to_a_loopback_receiver(
    tmp_path: Path, pip_env: dict[str, Path], receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = receiver
    opts = pip_options(pip_env)
    config = write_config(
        tmp_path,
        f"""\
hostname: web-prod-01
watchers:
  - type: pip
    options: {{python: {opts["python"]}, path: {opts["path"]}, no_index: true,
               find_links: {opts["find_links"]}, isolated: true}}
notifiers:
  - type: webhook
    options:
      url: {url}/hooks/updates
      auth_header: "Bearer ${{HOOK_TOKEN}}"
  - type: webhook
    min_priority: high
    options:
      url: {url}/hooks/urgent-only
""",
    )
    result = uw("run", "--config", str(config), env={"HOOK_TOKEN": "t0ken"})
    assert result.returncode == 1, result.stderr
    assert "webhook: sent" in result.stdout and "webhook: nothing to send" in result.stdout
    (hit,) = received  # the urgent-only notifier saw no update at or above "high"
    assert hit["path"] == "/hooks/updates"
    assert hit["headers"]["Authorization"] == "Bearer t0ken"
    assert hit["body"]["title"] == "Update Watcher: 1 update available on web-prod-01"
    assert "pip: uwdemo 1.0 -> 2.0" in hit["body"]["message"]


def test_quiet_mode_and_log_file(tmp_path: Path) -> None:
    log = tmp_path / "uw.log"
    config = write_config(
        tmp_path,
        f"hostname: h\nwatchers:\n  - type: zypper\nsettings:\n  quiet: true\n  log_file: {log}\n",
    )
    result = uw("run", "--config", str(config), "--no-notify", env=no_tools_path(tmp_path))
    assert result.returncode == 3 and result.stdout == ""
    assert "zypper: FAILED - zypper is not installed" in log.read_text()
    config.write_text(config.read_text().replace(str(log), "/proc/nope/uw.log"))
    result = uw("run", "--config", str(config), "--no-notify", env=no_tools_path(tmp_path))
    assert result.returncode == 3
    assert "warning: cannot write log file /proc/nope/uw.log" in result.stderr
