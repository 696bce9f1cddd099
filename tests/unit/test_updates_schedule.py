"""Scheduled runs carry what they need (issue 12, item 2): the environment file install-cron
writes (found through the config loader itself, read alike by /bin/sh and systemd's parser), the
cron line that sources it and logs, the systemd units, removal without a running systemd, the
host recorded on each alert, and a config that checks nothing or tells nobody refused."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pagerbridge.errors import ConfigError
from pagerbridge.updates.config import UnsetVariable, load_watcher_config, require_runnable
from pagerbridge.updates.jobenv import (
    ENV_MARKER,
    env_file_text,
    needed_environment,
    write_env_file,
)
from pagerbridge.updates.schedule import (
    Job,
    Removed,
    cron_line,
    install_cron,
    install_systemd,
    systemd_running,
    uninstall_cron,
    uninstall_systemd,
)
from pagerbridge.updates.state import StateFile

KEY = "deadbeefdeadbeefdeadbeefdeadbeef"
CONFIG = """\
hostname: ${UW_HOST:-web-prod-01}
watchers:
  - type: apt
notifiers:
  - type: pagerduty
    routing_key: ${UPDATE_WATCHER_PAGERDUTY_KEY}   # ${IN_A_COMMENT}
    events_url: ${PD_EVENTS_URL:-http://127.0.0.1:9}
    dedup_key: cost$$centre
  - type: slack
    enabled: false
    options: {webhook_url: "${SLACK_WEBHOOK_URL}"}
"""
#: Values that would break a naive `NAME=value` file: quotes, backslashes, $, `, #, newline.
TRICKY = {
    "QUOTES": "p@ss \"double\" 'single' ;x",
    "BACKSLASH": "C:\\path\\ \\\\ end\\",
    "DOLLAR": "$HOME ${HOME} $(id) `id`",
    "HASH": "# not a comment",
    "SPACES": "  leading and trailing  ",
    "NEWLINE": "line one\nline two",
    "EMPTY": "",
    "UNICODE": "héllo wörld",
    "EQUALS": "a=b=c",
}


def write(tmp_path: Path, text: str = CONFIG) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_the_loader_finds_every_variable_the_config_uses(tmp_path: Path) -> None:
    env = {
        "UPDATE_WATCHER_PAGERDUTY_KEY": KEY,
        "PD_EVENTS_URL": "http://127.0.0.1:8090",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
        "IN_A_COMMENT": "never written",
        "UNRELATED_SECRET": "never written",
        "PAGERBRIDGE_DATA_DIR": "/srv/pb",
    }
    config, values = needed_environment(write(tmp_path), env)
    assert config.hostname == "web-prod-01"
    # UW_HOST is unset and has a default: run falls back the same way, nothing to save.
    # A disabled entry's variable is saved when set (enabling it later should just work);
    # a comment and $$ are not references; run's own data dir is carried along.
    assert values == {
        "UPDATE_WATCHER_PAGERDUTY_KEY": KEY,
        "PD_EVENTS_URL": "http://127.0.0.1:8090",
        "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/x",
        "PAGERBRIDGE_DATA_DIR": "/srv/pb",
    }


def test_an_unset_variable_of_an_enabled_entry_is_named(tmp_path: Path) -> None:
    with pytest.raises(UnsetVariable) as caught:
        needed_environment(write(tmp_path), {})
    assert caught.value.variable == "UPDATE_WATCHER_PAGERDUTY_KEY"
    assert isinstance(caught.value, ConfigError) and caught.value.line == 6


def source_in_sh(env_file: Path) -> dict[str, str]:
    """What /bin/sh exports after `set -a; . FILE; set +a`, as the cron line does it."""
    script = f"set -a; . '{env_file}'; set +a; exec {sys.executable} -c "
    script += "'import json, os; print(json.dumps(dict(os.environ)))'"
    out = subprocess.run(
        ["/bin/sh", "-c", script], env={}, capture_output=True, text=True, check=True
    ).stdout
    loaded: dict[str, str] = json.loads(out)
    return loaded


def test_sh_reads_the_environment_file_back_exactly(tmp_path: Path) -> None:
    env_file = tmp_path / "conf" / "update-watcher.env"
    write_env_file(env_file, TRICKY, None)
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert env_file.read_text().startswith(ENV_MARKER + "\n")
    loaded = source_in_sh(env_file)
    assert {name: loaded.get(name) for name in TRICKY} == TRICKY


GENERATOR = Path("/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator")


@pytest.mark.skipif(not GENERATOR.exists(), reason="systemd's environment.d generator missing")
def test_systemds_parser_reads_the_environment_file_back_exactly(tmp_path: Path) -> None:
    """systemd's own environment-file parser (shared by EnvironmentFile= and environment.d,
    run here through the environment.d generator, which works without a running systemd).
    environment.d also expands $VAR after parsing and drops empty values, EnvironmentFile= does
    neither, so those two values are left to the sh test."""
    values = {k: v for k, v in TRICKY.items() if "$" not in v and v}
    conf = tmp_path / "environment.d"
    conf.mkdir()
    (conf / "10-update-watcher.conf").write_text(env_file_text(values))
    out = subprocess.run(
        [str(GENERATOR)],
        env={"XDG_CONFIG_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stderr == ""
    parsed, escapes = {}, {"n": "\n", "t": "\t"}
    for line in out.stdout.splitlines():  # NAME=value, or NAME="C-escaped value"
        name, _, value = line.partition("=")
        if value.startswith('"'):
            value = re.sub(r"\\(.)", lambda m: escapes.get(m[1], m[1]), value[1:-1])
        parsed[name] = value
    assert {name: parsed.get(name) for name in values} == values


def test_cron_line_sources_the_file_logs_and_escapes_percent(tmp_path: Path) -> None:
    job = Job(
        ["/usr/bin/update-watcher", "run", "--config", "/etc/uw 100%/config.yaml"],
        "0 7 * * *",
        "root",
        Path("/etc/pagerbridge/update-watcher.env"),
        Path("/var/log/pagerbridge/update-watcher.log"),
    )
    line = cron_line(job)
    assert line.startswith("0 7 * * * root { ")
    assert (
        "set -a; . /etc/pagerbridge/update-watcher.env; set +a; exec /usr/bin/update-watcher"
        in line
    )
    assert "'/etc/uw 100\\%/config.yaml'" in line  # cron turns a bare % into a newline
    assert line.endswith("} >>/var/log/pagerbridge/update-watcher.log 2>&1\n")
    with pytest.raises(ConfigError, match="newline"):
        cron_line(Job(["x"], env_file=Path("/tmp/a\nb")))


def test_uninstall_cron_removes_the_job_and_its_environment_but_keeps_the_log(
    tmp_path: Path,
) -> None:
    cron, env_file, log = tmp_path / "cron", tmp_path / "uw.env", tmp_path / "uw.log"
    write_env_file(env_file, {"UPDATE_WATCHER_PAGERDUTY_KEY": KEY}, None)
    log.write_text("earlier runs\n")
    removed = install_and_remove(cron, env_file, log)
    assert removed.files == [cron, env_file] and removed.log == str(log)
    assert not cron.exists() and not env_file.exists() and log.read_text() == "earlier runs\n"
    # An environment file someone else wrote at that path is kept, and the user told.
    env_file.write_text("MINE=1\n")
    removed = install_and_remove(cron, env_file, log)
    assert removed.files == [cron] and env_file.exists()
    assert removed.notes == [f"kept {env_file}: it was not written by update-watcher"]


def install_and_remove(cron: Path, env_file: Path, log: Path) -> Removed:
    text = install_cron(
        Job(["/usr/bin/update-watcher", "run"], env_file=env_file, log_file=log), cron
    )
    assert f"# env-file: {env_file}\n" in text and KEY not in text
    removed = uninstall_cron(cron)
    assert removed is not None
    return removed


def test_systemd_units_load_the_environment_file_and_pass_systemd_analyze(tmp_path: Path) -> None:
    env_file = tmp_path / "update-watcher.env"
    job = Job([sys.executable, "-V"], "30 6 * * *", env_file=env_file)
    service, timer = install_systemd(job, tmp_path)
    assert f"EnvironmentFile={env_file}\n" in service.read_text()
    assert "SuccessExitStatus=1 2" in service.read_text()
    assert "OnCalendar=*-*-* 6:30:00" in timer.read_text()
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:  # systemd's own check of the unit files; needs no running systemd
        result = subprocess.run(
            [analyze, "verify", str(service), str(timer)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr


@pytest.mark.skipif(systemd_running(), reason="would disable this machine's real timer")
def test_uninstall_systemd_without_a_running_systemd_removes_everything(tmp_path: Path) -> None:
    env_file = tmp_path / "etc" / "update-watcher.env"
    write_env_file(env_file, {"UPDATE_WATCHER_PAGERDUTY_KEY": KEY}, None)
    units = install_systemd(Job(["/usr/bin/update-watcher", "run"], env_file=env_file), tmp_path)
    wants = tmp_path / "timers.target.wants"
    wants.mkdir()
    (wants / "update-watcher.timer").symlink_to(units[1])  # as an offline `systemctl enable`
    removed = uninstall_systemd(tmp_path, disable=True)
    assert set(removed.files) == {*units, wants / "update-watcher.timer", env_file}
    assert list(wants.iterdir()) == [] and not any(u.exists() for u in units)
    assert not env_file.exists()
    (note,) = removed.notes
    assert "systemd is not running" in note or "systemctl is not installed" in note
    assert removed.log == "journalctl -u update-watcher"


def test_alerts_remember_their_host_and_old_ones_match_by_key(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    for host in ("web-1", "web-2"):
        StateFile(path, host).set_open(
            KEY, f"update-watcher/{host}", now="t", action="t", summary=""
        )
    raw = json.loads(path.read_text())
    raw["alerts"]["old:update-watcher/web-1"] = {  # written before hosts were recorded
        "dedup_key": "update-watcher/web-1",
        "routing_key_suffix": "beef",
        "opened_at": "t0",
        "last_action": "trigger",
        "last_summary": "",
    }
    path.write_text(json.dumps(raw))
    state = StateFile(path)
    mine = state.host_alerts("web-1", {"old:update-watcher/web-1"})
    assert sorted(mine) == ["beef:update-watcher/web-1", "old:update-watcher/web-1"]
    assert list(state.host_alerts("web-2")) == ["beef:update-watcher/web-2"]


@pytest.mark.parametrize(
    ("body", "notify", "message"),
    [
        ("", True, "no enabled watcher"),
        ("watchers:\n  - type: apt\n    enabled: false\n", False, "no enabled watcher"),
        ("watchers:\n  - type: apt\n", True, "no enabled notifier"),
        (
            "watchers:\n  - type: apt\nnotifiers:\n  - type: webhook\n    enabled: false\n",
            True,
            "add one under 'notifiers:'",
        ),
    ],
)
def test_a_config_that_checks_nothing_or_tells_nobody_is_refused(
    tmp_path: Path, body: str, notify: bool, message: str
) -> None:
    config = load_watcher_config(write(tmp_path, body), environ={})
    with pytest.raises(ConfigError, match=re.escape(message)):
        require_runnable(config, notify=notify)


def test_a_config_that_only_checks_may_run_without_notifying(tmp_path: Path) -> None:
    config = load_watcher_config(write(tmp_path, "watchers:\n  - type: apt\n"), environ={})
    require_runnable(config, notify=False)  # `run --no-notify`: a dry check needs no notifier


def test_a_missing_environment_file_stops_the_job_and_says_so_in_the_log(tmp_path: Path) -> None:
    log, marker = tmp_path / "uw.log", tmp_path / "ran"
    job = Job(["/usr/bin/touch", str(marker)], env_file=tmp_path / "gone.env", log_file=log)
    cron = tmp_path / "cron"
    install_cron(job, cron)
    command = cron.read_text().splitlines()[-1].split(None, 6)[6]
    result = subprocess.run(["/bin/sh", "-c", command], env={}, capture_output=True, text=True)
    assert result.returncode != 0 and result.stdout == result.stderr == ""
    assert "gone.env" in log.read_text() and not marker.exists()  # never runs without its key
