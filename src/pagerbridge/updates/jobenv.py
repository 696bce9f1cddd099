"""What a scheduled run needs from the installing user's environment, and the file that keeps it.

cron and systemd start ``update-watcher run`` with an almost empty environment, so a config that
says ``routing_key: ${UPDATE_WATCHER_PAGERDUTY_KEY}`` failed every scheduled run (exit 4, output
in /dev/null). ``install-cron`` therefore loads the config exactly as ``run`` does, through an
environment that remembers every name the loader looks up, and saves the ones that are set into a
0600 file: the cron line sources it (``set -a; . FILE; set +a``), the systemd service names it
(``EnvironmentFile=``). One format serves both: ``NAME="value"`` with ``\\ " $ ``` escaped, which
POSIX sh and systemd's environment-file parser read alike.
"""

from __future__ import annotations

import os
import pwd
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pagerbridge.errors import ConfigError, PagerbridgeError
from pagerbridge.updates.config import WatcherConfig, load_watcher_config

#: First line of every environment file install-cron writes; uninstall removes only those.
ENV_MARKER = "# managed by update-watcher (pagerbridge): variables for scheduled runs"
ENV_FILENAME = "update-watcher.env"
LOG_FILENAME = "update-watcher.log"
SYSTEM_ENV_DIR = Path("/etc/pagerbridge")
SYSTEM_LOG_DIR = Path("/var/log/pagerbridge")
#: Read by ``run`` itself (where the outbox and the alert state live): a scheduled run must use
#: the same ones as the installing shell, or it would not know the alert that shell's run opened.
RUN_VARIABLES = ("PAGERBRIDGE_DATABASE_URL", "PAGERBRIDGE_DATA_DIR")


class RecordingEnv(Mapping[str, str]):
    """The environment, remembering every name looked up through it (in lookup order)."""

    def __init__(self, base: Mapping[str, str]) -> None:
        self.base = base
        self.names: dict[str, None] = {}

    def __getitem__(self, key: str) -> str:
        self.names.setdefault(key)
        return self.base[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.names.setdefault(key)
        return self.base.get(key, default)

    def __contains__(self, key: object) -> bool:
        return key in self.base  # a presence check is not a use

    def __iter__(self) -> Iterator[str]:
        return iter(self.base)

    def __len__(self) -> int:
        return len(self.base)


def needed_environment(
    path: Path, environ: Mapping[str, str] | None = None
) -> tuple[WatcherConfig, dict[str, str]]:
    """Load the config as ``run`` would and return the variables it uses that are set here (plus
    :data:`RUN_VARIABLES`). An enabled entry's unset variable raises ``UnsetVariable``."""
    env = RecordingEnv(os.environ if environ is None else environ)
    config = load_watcher_config(path, environ=env)
    names = [*env.names, *RUN_VARIABLES]
    return config, {name: env.base[name] for name in dict.fromkeys(names) if name in env.base}


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def default_env_file(environ: Mapping[str, str] | None = None) -> Path:
    """/etc/pagerbridge/update-watcher.env for root; the user's config dir otherwise."""
    env = os.environ if environ is None else environ
    if os.geteuid() == 0:
        return SYSTEM_ENV_DIR / ENV_FILENAME
    base = env.get("XDG_CONFIG_HOME") or str(_home(env) / ".config")
    return Path(base) / "pagerbridge" / ENV_FILENAME


def default_log_file(environ: Mapping[str, str] | None = None) -> Path:
    """/var/log/pagerbridge/update-watcher.log for root; the user's state dir otherwise."""
    env = os.environ if environ is None else environ
    if os.geteuid() == 0:
        return SYSTEM_LOG_DIR / LOG_FILENAME
    base = env.get("XDG_STATE_HOME") or str(_home(env) / ".local" / "state")
    return Path(base) / "pagerbridge" / LOG_FILENAME


def quote(value: str) -> str:
    """A double-quoted value that /bin/sh and systemd's EnvironmentFile= both read as ``value``."""
    for char in ("\\", '"', "$", "`"):
        value = value.replace(char, "\\" + char)
    return f'"{value}"'


def env_file_text(values: Mapping[str, str]) -> str:
    lines = [ENV_MARKER, "# Written by `update-watcher install-cron`; mode 0600, it holds secrets."]
    # An empty value stays: ``${VAR}`` set to "" passes where an unset one fails. ``NAME=`` is
    # how both parsers spell it (systemd's environment.d rejects ``NAME=""``).
    lines += [f"{name}={quote(value) if value else ''}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def job_owner(user: str) -> tuple[int, int] | None:
    """Whom the job's files must belong to: ``user`` when root installs for someone else (the
    job must read its 0600 environment file); None when the files are the installer's own."""
    if os.geteuid() != 0 or user == "root":
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"no such user {user!r}", key="--user") from None
    return entry.pw_uid, entry.pw_gid


def write_env_file(path: Path, values: Mapping[str, str], owner: tuple[int, int] | None) -> None:
    """Write (or replace) the environment file, 0600 from its first byte; never replaces a file
    that update-watcher did not write."""
    if path.exists() and not is_ours(path):
        raise PagerbridgeError(
            f"{path} exists and was not written by update-watcher; choose another --env-file"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".update-watcher-env-")  # 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(env_file_text(values))
                handle.flush()
                os.fsync(handle.fileno())
            if owner is not None:
                os.chown(tmp, *owner)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise PagerbridgeError(f"cannot write {path}: {exc.strerror}") from exc


def is_ours(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            return handle.readline().rstrip("\n") == ENV_MARKER
    except OSError:
        return False


def remove_env_file(path: Path) -> str | None:
    """Remove the environment file install-cron wrote; a note when it is kept (None: removed or
    already gone)."""
    if not path.exists():
        return None
    if not is_ours(path):
        return f"kept {path}: it was not written by update-watcher"
    try:
        path.unlink()
    except OSError as exc:
        raise PagerbridgeError(f"cannot remove {path}: {exc.strerror}") from exc
    return None


def prepare_log(path: Path, owner: tuple[int, int] | None) -> None:
    """Create the job's log file (and directory) so the job, perhaps not root, can append."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, 0o640)
        os.close(fd)
        if owner is not None:
            os.chown(path, *owner)
    except OSError as exc:
        raise PagerbridgeError(f"cannot create the log file {path}: {exc.strerror}") from exc
