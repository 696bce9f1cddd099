"""Scheduled runs carry what they need (issue 12, item 2), through the real command line.

- cron: ``install-cron`` writes a real cron.d file (``--cron-file`` in a temporary directory);
  the job line is then run the way cron runs it (the file's variable lines and HOME/LOGNAME/SHELL,
  nothing from this environment, ``/bin/sh -c``), so the scheduled command itself has to find
  the routing key in the environment file and page the sandbox, and leave its output in the log.
- systemd: the units are written to a temporary directory and checked by ``systemd-analyze
  verify``; the service's command runs with the environment as systemd's own parser reads the
  EnvironmentFile; ``uninstall-cron --systemd`` runs on this machine, where systemd is not PID 1.
- ``status`` on a state file shared by two hosts; a config that checks nothing or tells nobody.

The checker is the real pip against two tiny local wheels (no network, see
test_update_watcher_real.py), so the job finds one update wherever it runs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.updates.config import load_watcher_config
from pagerbridge.updates.runner import notify_all, run_checks
from pagerbridge.updates.schedule import systemd_running

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))
import test_update_watcher_real as real
from test_updates_replay import ReplayRunner

UW = str(Path(sys.executable).with_name("update-watcher"))
VAR = "UPDATE_WATCHER_PAGERDUTY_KEY"
#: A fixture: two local wheels, uwdemo 1.0 installed and 2.0 available.
pip_wheels = real.pip_env
#: For runs that never reach pip (validation, install) or replay its output.
NO_PIP = {"python": "python3", "path": "/nonexistent", "find_links": "/nonexistent"}
GENERATOR = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")


def write_config(tmp_path: Path, events_url: str, pip: dict[str, Any], host: str = "web-1") -> Path:
    config = tmp_path / f"{host}.yaml"
    config.write_text(
        f"""\
hostname: {host}
watchers:
  - type: pip
    options: {{python: {pip["python"]}, path: {pip["path"]}, no_index: true,
               find_links: {pip["find_links"]}, isolated: true}}
notifiers:
  - type: pagerduty
    routing_key: ${{{VAR}}}
    events_url: {events_url}
settings:
  database: sqlite:///{tmp_path}/pagerbridge.db
  state_file: {tmp_path}/state.json
  delivery_timeout: 15
"""
    )
    return config


def uw(*args: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it; ``env`` replaces this environment (the key is never inherited)."""
    base = {k: v for k, v in os.environ.items() if k != VAR}
    return subprocess.run(
        [UW, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
    )


def run_like_cron(cron_file: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the cron.d file's one job as cron does: its variable lines plus HOME, LOGNAME and
    SHELL, nothing else; ``\\%`` is a literal % (a bare % would start the job's stdin)."""
    env = {"HOME": str(home), "LOGNAME": "root", "SHELL": "/bin/sh"}
    jobs = []
    for line in cron_file.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        assignment = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", line)
        if assignment:
            env[assignment[1]] = assignment[2]
            continue
        jobs.append(line.split(None, 6)[6])  # 5 schedule fields, the user, the command
    (command,) = jobs
    assert re.search(r"(?<!\\)%", command) is None
    return subprocess.run(
        [env["SHELL"], "-c", command.replace("\\%", "%")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_the_cron_job_finds_the_routing_key_pages_the_sandbox_and_logs(
    tmp_path: Path, sandbox: Any, pip_wheels: dict[str, Path]
) -> None:
    config = write_config(tmp_path, sandbox.url, real.pip_options(pip_wheels))
    cron, env_file = tmp_path / "cron.d" / "update-watcher", tmp_path / "etc" / "uw.env"
    log = tmp_path / "log" / "update-watcher.log"
    key = sandbox.routing_key
    install = uw(
        "install-cron",
        *("--config", config, "--cron-file", cron, "--env-file", env_file, "--log-file", log),
        env={VAR: key},
    )
    assert install.returncode == 0, install.stderr
    assert f"environment: {env_file} (mode 0600; variables: {VAR})" in install.stdout
    assert f"log: {log}" in install.stdout
    assert env_file.stat().st_mode & 0o777 == 0o600
    for text in (install.stdout, install.stderr, cron.read_text()):
        assert key not in text  # the secret is only in the 0600 file

    job = run_like_cron(cron, tmp_path)
    assert job.returncode == 1, log.read_text()  # exec: update-watcher's own code, 1 = updates
    assert job.stdout == job.stderr == ""  # nothing for cron to mail: it is all in the log
    (event,) = sandbox.arrivals(key)
    assert event["event_action"] == "trigger" and event["dedup_key"] == "update-watcher/web-1"
    logged = log.read_text()
    assert "update-watcher: scheduled run at" in logged
    assert "1 update available on web-1" in logged
    assert "pagerduty: trigger update-watcher/web-1: delivered" in logged
    assert key not in logged

    removed = uw("uninstall-cron", "--cron-file", cron)
    assert removed.returncode == 0, removed.stderr
    assert f"removed {cron}, {env_file}" in removed.stdout
    assert f"the job's log is kept: {log}" in removed.stdout
    assert not cron.exists() and not env_file.exists() and log.read_text() == logged


def test_install_cron_refuses_an_unset_variable_and_says_how_to_set_it(tmp_path: Path) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", NO_PIP)
    cron, env_file = tmp_path / "cron", tmp_path / "uw.env"
    result = uw("install-cron", "--config", config, "--cron-file", cron, "--env-file", env_file)
    assert result.returncode == 4
    error, hint = result.stderr.splitlines()
    assert error.startswith("error: configuration: ") and f"{VAR} is not set" in error
    assert hint.startswith("hint: ") and f"export {VAR}=" in hint and str(env_file) in hint
    assert f"--preserve-env={VAR}" in hint  # sudo would drop it otherwise
    assert not cron.exists() and not env_file.exists()


@pytest.mark.slow
def test_systemd_service_loads_the_environment_file_and_pages_the_sandbox(
    tmp_path: Path, sandbox: Any, pip_wheels: dict[str, Path]
) -> None:
    config = write_config(tmp_path, sandbox.url, real.pip_options(pip_wheels))
    units, env_file = tmp_path / "units", tmp_path / "etc" / "uw.env"
    install = uw(
        "install-cron",
        *("--systemd", "--config", config, "--unit-dir", units, "--env-file", env_file),
        env={VAR: sandbox.routing_key},
    )
    assert install.returncode == 0, install.stderr
    assert "log: journalctl -u update-watcher" in install.stdout
    if not systemd_running():
        assert "warning: systemd is not running on this host" in install.stderr
        assert "systemctl enable --now update-watcher.timer" in install.stderr
    service = (units / "update-watcher.service").read_text()
    assert f"EnvironmentFile={env_file}\n" in service
    assert sandbox.routing_key not in service + install.stdout + install.stderr
    assert env_file.stat().st_mode & 0o777 == 0o600
    verify = subprocess.run(
        ["systemd-analyze", "verify", str(units / "update-watcher.service")],
        capture_output=True,
        text=True,
    )
    assert verify.returncode == 0, verify.stderr
    if not GENERATOR.exists():
        pytest.skip("systemd's environment-file parser (environment.d generator) is missing")
    # The service's command with the environment as systemd parses the EnvironmentFile (its
    # environment.d generator runs the same parser without a running systemd).
    conf = tmp_path / "xdg" / "environment.d"
    conf.mkdir(parents=True)
    (conf / "uw.conf").write_text(env_file.read_text())
    parsed = subprocess.run(
        [str(GENERATOR)],
        env={"XDG_CONFIG_HOME": str(tmp_path / "xdg")},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    environment = dict(line.split("=", 1) for line in parsed.splitlines())
    (exec_start,) = (line for line in service.splitlines() if line.startswith("ExecStart="))
    run = subprocess.run(
        shlex.split(exec_start.removeprefix("ExecStart=")),
        env={**environment, "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr  # SuccessExitStatus=1 2
    (event,) = sandbox.arrivals(sandbox.routing_key)
    assert event["dedup_key"] == "update-watcher/web-1"


@pytest.mark.skipif(systemd_running(), reason="would disable this machine's real timer")
def test_uninstall_systemd_without_systemd_running_removes_what_install_wrote(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", NO_PIP)
    units, env_file = tmp_path / "units", tmp_path / "etc" / "uw.env"
    installed = uw(
        "install-cron",
        *("--systemd", "--config", config, "--unit-dir", units, "--env-file", env_file),
        env={VAR: "deadbeefdeadbeefdeadbeefdeadbeef"},
    )
    assert installed.returncode == 0, installed.stderr
    result = uw("uninstall-cron", "--systemd", "--unit-dir", units)
    assert result.returncode == 0, result.stderr
    assert "note: systemd is not running on this host" in result.stderr
    timer, service = units / "update-watcher.timer", units / "update-watcher.service"
    assert f"removed {timer}, {service}, {env_file}" in result.stdout
    assert "the job's log is kept: journalctl -u update-watcher" in result.stdout
    assert list(units.iterdir()) == [] and not env_file.exists()


def test_status_shows_this_hosts_alerts_unless_all_hosts(tmp_path: Path, sandbox: Any) -> None:
    pending = ReplayRunner().add(["python3", "-m", "pip"], "pip_list_outdated_debian12.json")
    env = {VAR: sandbox.routing_key}
    configs = {}
    for host in ("web-1", "web-2"):  # two hosts sharing one state file and database
        path = write_config(tmp_path, sandbox.url, NO_PIP, host)
        configs[host] = path
        cfg = load_watcher_config(path, environ=env)
        outcome = notify_all(cfg, run_checks(cfg, pending))
        assert outcome.pagerduty and outcome.pagerduty[0].delivered, outcome.lines
    mine = uw("status", "--config", configs["web-1"], env=env)
    assert mine.returncode == 0, mine.stderr
    assert "alert:     update-watcher/web-1 open since" in mine.stdout
    assert "web-2" not in mine.stdout
    assert "(1 more for other hosts: --all-hosts)" in mine.stdout
    every = uw("status", "--config", configs["web-1"], "--all-hosts", env=env)
    assert "alert:     [web-1] update-watcher/web-1 open since" in every.stdout
    assert "alert:     [web-2] update-watcher/web-2 open since" in every.stdout


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("", "no enabled watcher"),
        ("hostname: h\n", "no enabled watcher"),
        ("watchers:\n  - type: zypper\n", "no enabled notifier"),
        ("watchers:\n  - type: zypper\n    enabled: false\nnotifiers: []\n", "no enabled watcher"),
    ],
)
def test_validate_and_run_refuse_a_config_that_checks_nothing_or_tells_nobody(
    tmp_path: Path, body: str, what: str
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(body)
    no_tools = {"PATH": str(tmp_path)}  # run must stop before any checker
    for command in ("validate", "run"):
        result = uw(command, "--config", config, env=no_tools)
        assert result.returncode == 4, (command, result.stdout, result.stderr)
        (line,) = result.stderr.splitlines()
        assert line.startswith(f"error: configuration: {config}") and what in line
        assert "add one under" in line
    if what == "no enabled notifier":  # a dry check is still allowed
        dry = uw("run", "--config", config, "--no-notify", env=no_tools)
        assert dry.returncode == 3 and "zypper: FAILED" in dry.stdout
