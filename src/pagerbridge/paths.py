"""Where pagerbridge keeps its data, and which database a command uses.

Standard library only: ``pd-send`` resolves its database through this module on every run.
Precedence for the database: ``--db URL``, else ``$PAGERBRIDGE_DATABASE_URL``, else a SQLite file
(``/var/lib/pagerbridge/pagerbridge.db`` for root and system services, the user's data directory
otherwise).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (pd-send's start-up)

if TYPE_CHECKING:
    from pathlib import Path

# pathlib (with urllib.parse) costs pd-send ~4 ms of start-up: this module works on strings and
# builds Path objects only in the functions that return them.

DATABASE_URL_ENV = "PAGERBRIDGE_DATABASE_URL"
DATA_DIR_ENV = "PAGERBRIDGE_DATA_DIR"
SYSTEM_DATA_DIR = "/var/lib/pagerbridge"
DATABASE_FILENAME = "pagerbridge.db"


def _is_root() -> bool:
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _data_dir(env: Mapping[str, str]) -> str:
    if env.get(DATA_DIR_ENV):
        return env[DATA_DIR_ENV]
    if env.get("STATE_DIRECTORY"):
        return env["STATE_DIRECTORY"].split(":", 1)[0]
    if _is_root():
        return SYSTEM_DATA_DIR
    base = env.get("XDG_DATA_HOME") or os.path.join(
        env.get("HOME") or os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "pagerbridge")


def data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """pagerbridge's data directory.

    ``$PAGERBRIDGE_DATA_DIR``; else systemd's ``$STATE_DIRECTORY`` (a system service with
    ``StateDirectory=pagerbridge``); else ``/var/lib/pagerbridge`` for root; else the user's
    ``$XDG_DATA_HOME/pagerbridge`` (``~/.local/share/pagerbridge``).
    """
    from pathlib import Path

    return Path(_data_dir(os.environ if environ is None else environ))


def default_database_path(environ: Mapping[str, str] | None = None) -> Path:
    return data_dir(environ) / DATABASE_FILENAME


def normalise_database_url(value: str) -> str:
    """Accept a URL or a bare file path (taken as SQLite); return a URL."""
    if "://" in value:
        return value
    return "sqlite:///" + os.path.abspath(os.path.expanduser(value))


def resolve_database_url(
    cli_value: str | None = None, environ: Mapping[str, str] | None = None
) -> str:
    """``--db``, else ``$PAGERBRIDGE_DATABASE_URL``, else the default SQLite file."""
    env = os.environ if environ is None else environ
    if cli_value:
        return normalise_database_url(cli_value)
    if env.get(DATABASE_URL_ENV):
        return normalise_database_url(env[DATABASE_URL_ENV])
    return "sqlite:///" + os.path.join(_data_dir(env), DATABASE_FILENAME)


def sqlite_file(url: str) -> str | None:
    """The file behind a ``sqlite:///`` URL, or None for any other database (or ``:memory:``)."""
    for prefix in ("sqlite+pysqlite:///", "sqlite:///"):
        if url.startswith(prefix):
            rest = url[len(prefix) :].split("?", 1)[0]
            return rest if rest and rest != ":memory:" else None
    return None


def sqlite_path(url: str) -> Path | None:
    """:func:`sqlite_file` as a Path."""
    from pathlib import Path

    file = sqlite_file(url)
    return Path(file) if file is not None else None


def ensure_private_file(path: str | os.PathLike[str]) -> None:
    """Create ``path`` (and its directory) readable by its owner only, if it does not exist.

    Never opens an existing file: closing any descriptor of a SQLite database drops every POSIX
    lock this process holds on it, and another process may then checkpoint and delete the WAL
    under our live connections (events lost). See tests/integration/test_pd_send_sqlite_locks.py.
    """
    if os.path.exists(path):
        return
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    os.close(fd)
