"""Create SQLAlchemy engines for pagerbridge's database, with the durability settings we promise.

SQLite: WAL journal, ``synchronous=FULL`` (a commit is fsynced), a busy timeout so concurrent
processes wait instead of failing, foreign keys on, and the file created mode 0600.
PostgreSQL: ``postgresql://`` URLs are driven by psycopg 3.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import NullPool

from pagerbridge.errors import ConfigError, StorageError
from pagerbridge.paths import ensure_private_file, sqlite_path

SQLITE_BUSY_TIMEOUT_MS = 30_000


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
            engine = create_engine(sqlalchemy_url(url), **kwargs)

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                # Let SQLAlchemy's BEGIN take the write lock early (BEGIN IMMEDIATE) so two writers
                # never deadlock upgrading a read lock.
                dbapi_conn.isolation_level = None
                configure_sqlite_connection(dbapi_conn)

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Any) -> None:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(sqlalchemy_url(url), **kwargs)
    except (ArgumentError, ImportError) as exc:
        raise ConfigError(f"unsupported database URL {redact_url(url)!r}: {exc}") from exc


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
