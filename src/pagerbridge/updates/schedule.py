"""``install-cron`` / ``uninstall-cron``: a cron.d file, or a systemd service + timer.

Both are plain files written where the caller says (tests use a temporary crontab file or unit
directory); only the systemd variant with ``enable`` runs ``systemctl``.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pagerbridge.errors import ConfigError, PagerbridgeError
from pagerbridge.updates.config_edit import write_atomically

MARKER = "# managed by update-watcher (pagerbridge)"
DEFAULT_SCHEDULE = "0 7 * * *"
CRON_FILE = Path("/etc/cron.d/update-watcher")
UNIT_DIR = Path("/etc/systemd/system")
UNIT_NAME = "update-watcher"
_CRON = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")


@dataclass(frozen=True)
class Job:
    command: list[str]
    schedule: str = DEFAULT_SCHEDULE
    user: str = "root"


def check_schedule(schedule: str) -> str:
    if schedule.startswith("@") or _CRON.match(schedule):
        return schedule.strip()
    raise ConfigError(f"not a cron schedule (five fields or @daily): {schedule!r}")


def cron_line(job: Job) -> str:
    command = " ".join(shlex.quote(part) for part in job.command)
    return f"{check_schedule(job.schedule)} {job.user} {command} >/dev/null 2>&1\n"


def install_cron(job: Job, path: Path = CRON_FILE) -> str:
    """Write (or replace) the cron.d file; returns its content."""
    path_line = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    text = f"{MARKER}\nSHELL=/bin/sh\n{path_line}\n"
    text += cron_line(job)
    write_atomically(path, text)
    path.chmod(0o644)
    return text


def uninstall_cron(path: Path = CRON_FILE) -> bool:
    """Remove the cron.d file if update-watcher wrote it; False when there was none."""
    if not path.exists():
        return False
    if MARKER not in path.read_text(encoding="utf-8"):
        raise PagerbridgeError(f"{path} was not written by update-watcher; not removing it")
    path.unlink()
    return True


def on_calendar(schedule: str) -> str:
    """systemd OnCalendar for simple cron schedules (``M H * * *``, ``@daily``, ``@hourly``)."""
    aliases = {"@daily": "daily", "@hourly": "hourly", "@weekly": "weekly", "@monthly": "monthly"}
    if schedule in aliases:
        return aliases[schedule]
    fields = check_schedule(schedule).split()
    minute, hour, dom, month, dow = fields
    if dom == month == dow == "*" and minute.isdigit() and (hour.isdigit() or hour == "*"):
        return f"*-*-* {hour}:{int(minute):02d}:00"
    raise ConfigError(
        f"cannot turn {schedule!r} into a systemd timer; use a daily 'M H * * *' schedule or cron"
    )


def install_systemd(job: Job, unit_dir: Path = UNIT_DIR, *, enable: bool = False) -> list[Path]:
    service = unit_dir / f"{UNIT_NAME}.service"
    timer = unit_dir / f"{UNIT_NAME}.timer"
    command = " ".join(shlex.quote(part) for part in job.command)
    write_atomically(
        service,
        f"{MARKER}\n[Unit]\nDescription=Check for pending updates (update-watcher)\n"
        f"Wants=network-online.target\nAfter=network-online.target\n\n"
        f"[Service]\nType=oneshot\nExecStart={command}\n"
        "SuccessExitStatus=1 2\n",
    )
    write_atomically(
        timer,
        f"{MARKER}\n[Unit]\nDescription=Run update-watcher on a schedule\n\n"
        f"[Timer]\nOnCalendar={on_calendar(job.schedule)}\nPersistent=true\n"
        "RandomizedDelaySec=10min\n\n[Install]\nWantedBy=timers.target\n",
    )
    for unit in (service, timer):
        unit.chmod(0o644)
    if enable:
        _systemctl("daemon-reload")
        _systemctl("enable", "--now", timer.name)
    return [service, timer]


def uninstall_systemd(unit_dir: Path = UNIT_DIR, *, disable: bool = False) -> list[Path]:
    removed = []
    if disable:
        _systemctl("disable", "--now", f"{UNIT_NAME}.timer")
    for name in (f"{UNIT_NAME}.timer", f"{UNIT_NAME}.service"):
        unit = unit_dir / name
        if unit.exists():
            if MARKER not in unit.read_text(encoding="utf-8"):
                raise PagerbridgeError(f"{unit} was not written by update-watcher; not removing it")
            unit.unlink()
            removed.append(unit)
    if disable:
        _systemctl("daemon-reload")
    return removed


def _systemctl(*args: str) -> None:
    try:
        result = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise PagerbridgeError("systemctl is not available on this host; use cron") from None
    if result.returncode != 0:
        raise PagerbridgeError(f"systemctl {' '.join(args)} failed: {result.stderr.strip()}")
