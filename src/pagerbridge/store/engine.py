"""Create SQLAlchemy engines for pagerbridge's database, with the durability settings we promise.

SQLite: WAL journal, ``synchronous=FULL`` (a commit is fsynced), a busy timeout so concurrent
processes wait instead of failing, foreign keys on, and the file created mode 0600.
PostgreSQL: ``postgresql://`` URLs are driven by psycopg 3.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from pagerbridge.errors import ConfigError, StorageError
from pagerbridge.paths import ensure_private_file, sqlite_path
from pagerbridge.store.sqlite_writers import WriteLockedConnection

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: The execution option of :func:`reading`'s connections.
READ_ONLY: Final = "pagerbridge_read_only"


def sqlalchemy_url(url: str) -> str:
    """Map the URLs users write to the driver we use (psycopg 3 for PostgreSQL)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def is_postgresql(url: str) -> bool:
    return url.startswith(("postgresql", "postgres://"))


def configure_sqlite_connection(conn: sqlite3.Connection) -> None:
    """Pragmas every SQLite connection of pagerbridge gets (also used by stdlib-only pd-send)."""
    conn.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; for SQLite the file and its directory are created private first."""
    path = sqlite_path(url)
    if path is not None:
        try:
            ensure_private_file(path)
        except OSError as exc:
            raise StorageError(f"cannot create database file {path}: {exc.strerror}") from exc
    try:
        if is_sqlite(url):
            kwargs.setdefault("poolclass", NullPool)
            kwargs["connect_args"] = {
                "factory": WriteLockedConnection,
                **kwargs.get("connect_args", {}),
            }
            engine = create_engine(sqlalchemy_url(url), **kwargs)

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                # Let SQLAlchemy's BEGIN take the write lock early (BEGIN IMMEDIATE) so two writers
                # never deadlock upgrading a read lock.
                dbapi_conn.isolation_level = None
                configure_sqlite_connection(dbapi_conn)

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                if conn.get_execution_options().get(READ_ONLY):
                    conn.exec_driver_sql("BEGIN")  # WAL: reads neither wait for nor block writers
                    return
                dbapi = conn.connection.dbapi_connection
                if isinstance(dbapi, WriteLockedConnection):
                    dbapi.begin_immediate()  # after this process's other writers, without sleeping
                else:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(sqlalchemy_url(url), **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"unsupported database URL {redact_url(url)!r}: {exc}") from exc


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A connection for reads only. On SQLite its transaction is deferred: it neither takes nor
    waits for the write lock (the hub's pollers and caches read while the intake writes). Writing
    through it is a mistake: the write would fail when another connection holds the lock."""
    with engine.connect() as conn:
        conn.execution_options(**{READ_ONLY: True})
        yield conn


def redact_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in creds else url


def check_connection(engine: Engine) -> None:
    """Open and close one connection; a failure becomes a StorageError naming the database."""
    try:
        with engine.connect():
            pass
    except OperationalError as exc:
        raise StorageError(
            f"cannot open database {redact_url(str(engine.url))}: {exc.orig}"
        ) from exc
