"""``install-cron`` / ``uninstall-cron``: a cron.d file, or a systemd service + timer.

Both are plain files written where the caller says (tests use a temporary crontab file or unit
directory). A scheduled run starts with almost no environment and nobody watching its output, so
the job loads the environment file ``install-cron`` wrote (:mod:`.jobenv`) and its output goes
where a user will look: a log file for cron, the journal for systemd. ``systemctl`` runs only
when systemd is running; without it the files are still written or removed, and the caller says
so.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pagerbridge.errors import ConfigError, PagerbridgeError
from pagerbridge.updates.config_edit import write_atomically
from pagerbridge.updates.jobenv import remove_env_file

MARKER = "# managed by update-watcher (pagerbridge)"
ENV_MARK = "# env-file: "
LOG_MARK = "# log-file: "
DEFAULT_SCHEDULE = "0 7 * * *"
CRON_FILE = Path("/etc/cron.d/update-watcher")
CRON_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNIT_DIR = Path("/etc/systemd/system")
UNIT_NAME = "update-watcher"
TIMER = f"{UNIT_NAME}.timer"
JOURNAL_HINT = f"journalctl -u {UNIT_NAME}"
#: sd_booted(): systemd is the init system exactly when this directory exists.
SYSTEMD_RUNTIME = Path("/run/systemd/system")
_CRON = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")


@dataclass(frozen=True)
class Job:
    command: list[str]
    schedule: str = DEFAULT_SCHEDULE
    user: str = "root"
    #: Loaded before the command runs (cron: sourced by /bin/sh; systemd: EnvironmentFile=).
    env_file: Path | None = None
    #: cron only: the command's output is appended here (systemd's goes to the journal).
    log_file: Path | None = None


@dataclass
class Removed:
    """What ``uninstall`` removed, where the job's output stays, and anything worth saying."""

    files: list[Path] = field(default_factory=list)
    log: str | None = None
    notes: list[str] = field(default_factory=list)


class SystemdUnavailable(PagerbridgeError):
    """systemctl is missing, or systemd is not the init system (containers, chroots, images)."""


def check_schedule(schedule: str) -> str:
    if schedule.startswith("@") or _CRON.match(schedule):
        return schedule.strip()
    raise ConfigError(f"not a cron schedule (five fields or @daily): {schedule!r}")


def _one_line(path: Path | None) -> None:
    if path is not None and ("\n" in str(path) or "\r" in str(path)):
        raise ConfigError(f"a path for a cron or systemd job cannot contain a newline: {path!r}")


def job_command(job: Job) -> str:
    """The shell command a scheduled run executes: load the environment file, run, log."""
    for path in (job.env_file, job.log_file, *map(Path, job.command)):
        _one_line(path)
    command = "exec " + " ".join(shlex.quote(part) for part in job.command)
    steps = []
    if job.log_file is not None:
        steps.append('echo "update-watcher: scheduled run at $(date)"')
    if job.env_file is not None:
        # set -a exports what the file assigns; a missing file stops the job (logged).
        steps.append(f"set -a; . {shlex.quote(str(job.env_file))}; set +a")
    target = shlex.quote(str(job.log_file)) if job.log_file is not None else None
    if not steps:
        return f"{command[len('exec ') :]} >/dev/null 2>&1"
    body = "; ".join([*steps, command])
    return f"{{ {body}; }} >>{target} 2>&1" if target else f"{{ {body}; }} >/dev/null 2>&1"


def cron_line(job: Job) -> str:
    # cron turns an unescaped % into a newline; \% is a literal %.
    command = job_command(job).replace("%", "\\%")
    return f"{check_schedule(job.schedule)} {job.user} {command}\n"


def install_cron(job: Job, path: Path = CRON_FILE) -> str:
    """Write (or replace) the cron.d file; returns its content."""
    text = MARKER + "\n"
    if job.env_file is not None:
        text += f"{ENV_MARK}{job.env_file}\n"
    if job.log_file is not None:
        text += f"{LOG_MARK}{job.log_file}\n"
    text += f"SHELL=/bin/sh\n{CRON_PATH}\n" + cron_line(job)
    _write(path, text)
    return text


def _write(path: Path, text: str) -> None:
    """A world-readable job file (it holds no secret: those are in the environment file)."""
    _guard(lambda: write_atomically(path, text), f"cannot write {path}")
    _guard(lambda: path.chmod(0o644), f"cannot write {path}")


def _guard(action: Callable[[], object], message: str) -> None:
    """An OSError (permissions: not root?) becomes one line, not a traceback."""
    try:
        action()
    except OSError as exc:
        raise PagerbridgeError(f"{message}: {exc.strerror or exc}") from exc


def _marked(text: str, mark: str) -> Path | None:
    for line in text.splitlines():
        if line.startswith(mark):
            return Path(line[len(mark) :])
    return None


def uninstall_cron(path: Path = CRON_FILE) -> Removed | None:
    """Remove the cron.d file and the environment file install-cron wrote (never the log); None
    when there was no cron file."""
    if not path.exists():
        return None
    text = path.read_text(encoding="utf-8")
    if MARKER not in text:
        raise PagerbridgeError(f"{path} was not written by update-watcher; not removing it")
    _guard(path.unlink, f"cannot remove {path}")
    removed = Removed([path])
    _remove_env(_marked(text, ENV_MARK), removed)
    log = _marked(text, LOG_MARK)
    removed.log = str(log) if log is not None else None
    return removed


def _remove_env(env_file: Path | None, removed: Removed) -> None:
    if env_file is None:
        return
    existed = env_file.exists()
    note = remove_env_file(env_file)
    if note:
        removed.notes.append(note)
    elif existed:
        removed.files.append(env_file)


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


def service_text(job: Job) -> str:
    for path in (job.env_file, *map(Path, job.command)):
        _one_line(path)
    command = " ".join(shlex.quote(part) for part in job.command).replace("%", "%%")
    # No "-" before the path: a missing environment file fails the run loudly in the journal
    # rather than running without the routing key.
    environment = ""
    if job.env_file is not None:
        environment = f"EnvironmentFile={str(job.env_file).replace('%', '%%')}\n"
    return (
        f"{MARKER}\n[Unit]\nDescription=Check for pending updates (update-watcher)\n"
        "Wants=network-online.target\nAfter=network-online.target\n\n"
        f"[Service]\nType=oneshot\n{environment}ExecStart={command}\n"
        "SuccessExitStatus=1 2\n"
    )


def install_systemd(job: Job, unit_dir: Path = UNIT_DIR) -> list[Path]:
    """Write the service and timer (0644); enabling them is :func:`enable_timer`'s job."""
    service = unit_dir / f"{UNIT_NAME}.service"
    timer = unit_dir / TIMER
    service_body = service_text(job)
    timer_body = (
        f"{MARKER}\n[Unit]\nDescription=Run update-watcher on a schedule\n\n"
        f"[Timer]\nOnCalendar={on_calendar(job.schedule)}\nPersistent=true\n"
        "RandomizedDelaySec=10min\n\n[Install]\nWantedBy=timers.target\n"
    )
    _write(service, service_body)
    _write(timer, timer_body)
    return [service, timer]


def enable_timer() -> None:
    """``systemctl daemon-reload`` and ``enable --now`` the timer; SystemdUnavailable when
    systemd is not running here (the units are written all the same)."""
    _systemctl("daemon-reload")
    _systemctl("enable", "--now", TIMER)


def uninstall_systemd(unit_dir: Path = UNIT_DIR, *, disable: bool = False) -> Removed:
    """Stop and remove the units and the environment file install-cron wrote, with or without a
    running systemd (the files go either way; the journal keeps the job's output)."""
    removed = Removed(log=JOURNAL_HINT)
    reload = False
    if disable:
        try:
            _systemctl("disable", "--now", TIMER)
            reload = True
        except SystemdUnavailable as exc:
            removed.notes.append(f"{exc}: removed the unit files without systemctl")
        except PagerbridgeError as exc:
            removed.notes.append(f"{exc}; removing the unit files anyway")
            reload = True
    service = unit_dir / f"{UNIT_NAME}.service"
    env_file = None
    units = [unit_dir / TIMER, service]
    for unit in units:
        if unit.exists() and MARKER not in unit.read_text(encoding="utf-8"):
            raise PagerbridgeError(f"{unit} was not written by update-watcher; not removing it")
    if service.exists():
        named = _marked(service.read_text(encoding="utf-8"), "EnvironmentFile=")
        env_file = Path(str(named).replace("%%", "%")) if named is not None else None
    wanted = unit_dir / "timers.target.wants" / TIMER  # left by `systemctl enable` done offline
    if wanted.is_symlink() and Path(wanted.readlink()).name == TIMER:
        _guard(wanted.unlink, f"cannot remove {wanted}")
        removed.files.append(wanted)
    for unit in units:
        if unit.exists():
            _guard(unit.unlink, f"cannot remove {unit}")
            removed.files.append(unit)
    _remove_env(env_file, removed)
    if reload:
        try:
            _systemctl("daemon-reload")
        except PagerbridgeError as exc:
            removed.notes.append(str(exc))
    return removed


def systemd_running() -> bool:
    return SYSTEMD_RUNTIME.is_dir()


def _systemctl(*args: str) -> None:
    if shutil.which("systemctl") is None:
        raise SystemdUnavailable("systemctl is not installed on this host")
    if not systemd_running():
        raise SystemdUnavailable("systemd is not running on this host (it is not PID 1)")
    result = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        error = result.stderr.strip()
        if "not been booted with systemd" in error or "Failed to connect to bus" in error:
            raise SystemdUnavailable(f"systemd is not running on this host ({error})")
        raise PagerbridgeError(f"systemctl {' '.join(args)} failed: {error}")
