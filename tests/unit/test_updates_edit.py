"""watch / unwatch keep comments and layout; install-cron / uninstall-cron write the right files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pagerbridge.errors import ConfigError, PagerbridgeError
from pagerbridge.updates.config import load_watcher_config
from pagerbridge.updates.config_edit import unwatch, watch
from pagerbridge.updates.schedule import (
    MARKER,
    Job,
    install_cron,
    install_systemd,
    on_calendar,
    uninstall_cron,
    uninstall_systemd,
)

sys.path.insert(0, str(Path(__file__).parent))
from test_updates_replay import load_fixture

EXAMPLE = load_fixture("update_watcher_config_example.yaml")


def load(tmp_path: Path, text: str) -> list[tuple[str, bool]]:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return [(w.type, w.enabled) for w in load_watcher_config(path, environ={}).watchers]


def test_watch_flips_a_disabled_entry_and_keeps_every_comment(tmp_path: Path) -> None:
    text = EXAMPLE
    new = watch(text, "docker", file="c.yaml")
    assert ("docker", True) in load(tmp_path, new)
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert comments == [line for line in new.splitlines() if line.lstrip().startswith("#")]
    assert len(new.splitlines()) == len(text.splitlines())  # only the value changed
    assert '      containers: "all"' in new


def test_watch_appends_a_new_entry_after_the_last_watcher(tmp_path: Path) -> None:
    new = watch(EXAMPLE, "npm", file="c.yaml")
    watchers = load(tmp_path, new)
    assert watchers[-1] == ("npm", True)
    assert new.index("- type: npm") < new.index("notifiers:")
    assert new.index("- type: webproject") < new.index("- type: npm")


def test_watch_on_an_empty_file_and_unknown_types(tmp_path: Path) -> None:
    assert load(tmp_path, watch("hostname: h\n", "pip", file="c.yaml")) == [("pip", True)]
    with pytest.raises(ConfigError, match="unknown watcher type 'macos'"):
        watch("", "macos", file="c.yaml")


def test_unwatch_removes_only_that_entry(tmp_path: Path) -> None:
    text = EXAMPLE
    new = unwatch(text, "homebrew", file="c.yaml")
    types = [t for t, _ in load(tmp_path, new)]
    assert "homebrew" not in types
    assert types == ["apt", "macos", "snap", "flatpak", "docker", "wordpress", "webproject"]
    assert "# Secrets: routing_key" in new and "include_casks" not in new
    last = unwatch(text, "webproject", file="c.yaml")
    assert "check_audit" not in last and "notifiers:" in last
    with pytest.raises(ConfigError, match="no 'pip' watcher"):
        unwatch(text, "pip", file="c.yaml")


def test_cron_file_install_and_uninstall(tmp_path: Path) -> None:
    cron = tmp_path / "cron.d" / "update-watcher"
    job = Job(
        ["/usr/local/bin/update-watcher", "run", "--config", "/etc/uw config.yaml"], "0 7 * * *"
    )
    text = install_cron(job, cron)
    assert cron.read_text() == text
    assert text.startswith(MARKER)
    assert "0 7 * * * root /usr/local/bin/update-watcher run --config '/etc/uw config.yaml'" in text
    assert cron.stat().st_mode & 0o777 == 0o644
    removed = uninstall_cron(cron)
    assert removed is not None and removed.files == [cron] and not cron.exists()
    assert uninstall_cron(cron) is None
    cron.write_text("0 1 * * * root something-else\n")
    with pytest.raises(PagerbridgeError, match="not written by update-watcher"):
        uninstall_cron(cron)
    with pytest.raises(ConfigError, match="not a cron schedule"):
        install_cron(Job(["x"], "every day"), tmp_path / "bad")


def test_systemd_timer_install_and_uninstall(tmp_path: Path) -> None:
    units = install_systemd(Job(["/usr/bin/update-watcher", "run"], "30 6 * * *"), tmp_path)
    service, timer = (tmp_path / "update-watcher.service", tmp_path / "update-watcher.timer")
    assert units == [service, timer]
    assert "ExecStart=/usr/bin/update-watcher run" in service.read_text()
    assert "SuccessExitStatus=1 2" in service.read_text()  # "updates found" is not a failure
    assert "OnCalendar=*-*-* 6:30:00" in timer.read_text()
    assert uninstall_systemd(tmp_path).files == [timer, service]
    assert list(tmp_path.iterdir()) == []
    assert on_calendar("@daily") == "daily"
    with pytest.raises(ConfigError, match="systemd timer"):
        on_calendar("*/5 * * * 1")
