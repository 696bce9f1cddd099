"""Database failures are classified by cause (issue 11, item 3), from errors the real databases
raise: the request's fault (422), a conflict (409), an unavailable database (503), or neither."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from pagerbridge.errors import ConflictError, StorageError, StoreError
from pagerbridge.incidents import dberrors
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.store.engine import make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id BIGINT PRIMARY KEY, name VARCHAR(5))"))
        conn.execute(text("INSERT INTO t VALUES (1, 'a')"))
    yield engine
    engine.dispose()


def failure(engine: Engine, statement: Callable[[Connection], object]) -> BaseException:
    try:
        with engine.begin() as conn:
            statement(conn)
    except (SQLAlchemyError, OverflowError, UnicodeEncodeError) as exc:
        return exc
    raise AssertionError("the database accepted it")


def run(sql: str, **params: object) -> Callable[[Connection], object]:
    return lambda conn: conn.execute(text(sql), params)


def test_what_the_request_caused(engine: Engine) -> None:
    pg = engine.dialect.name == "postgresql"
    too_big = failure(engine, run("SELECT * FROM t LIMIT 1 OFFSET :o", o=2**63))
    assert dberrors.cause(too_big) == dberrors.INVALID  # SQLite: OverflowError; PG: bigint
    surrogate = failure(engine, run("SELECT * FROM t WHERE name = :n", n="\ud800"))
    assert dberrors.cause(surrogate) == dberrors.INVALID
    duplicate = failure(engine, run("INSERT INTO t VALUES (1, 'b')"))
    assert dberrors.cause(duplicate) == dberrors.CONFLICT
    assert isinstance(dberrors.convert(duplicate, "db"), ConflictError)
    if pg:  # SQLite stores both
        nul = failure(engine, run("INSERT INTO t VALUES (2, :n)", n="a\x00"))
        long = failure(engine, run("INSERT INTO t VALUES (3, 'toolong')"))
        for exc in (nul, long):
            assert dberrors.cause(exc) == dberrors.INVALID
            converted = dberrors.convert(exc, "postgresql://u:pw@h/db")
            assert isinstance(converted, InvalidInputError)
            assert "PostgreSQL" not in str(converted) and "pw" not in str(converted)


def test_what_the_database_caused(engine: Engine) -> None:
    missing = failure(engine, run("SELECT * FROM no_such_table"))
    assert dberrors.cause(missing) == dberrors.INTERNAL
    converted = dberrors.convert(missing, "db")
    assert type(converted) is StoreError


def test_a_database_that_cannot_be_reached_is_unavailable() -> None:
    engine = make_engine("postgresql://alice:hunter2@127.0.0.1:1/nothing")
    try:
        lost = failure(engine, run("SELECT 1"))
    finally:
        engine.dispose()
    assert dberrors.cause(lost) == dberrors.UNAVAILABLE
    converted = dberrors.convert(lost, "postgresql://alice:hunter2@127.0.0.1:1/nothing")
    assert isinstance(converted, StorageError) and "hunter2" not in str(converted)
    assert "hunter2" not in dberrors.describe(lost)


def test_a_locked_sqlite_database_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (id INTEGER)")
    holder.execute("BEGIN IMMEDIATE")  # holds the write lock
    waiter = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    try:
        locked = failure(waiter, run("INSERT INTO t VALUES (1)"))
    finally:
        waiter.dispose()
        holder.close()
    assert dberrors.cause(locked) == dberrors.UNAVAILABLE
    assert "SQLITE_BUSY" in dberrors.describe(locked)


@pytest.mark.postgres
def test_a_statement_timeout_is_unavailable(postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    try:
        slow = failure(
            engine,
            lambda conn: (
                conn.execute(text("SET LOCAL statement_timeout = 10")),
                conn.execute(text("SELECT pg_sleep(5)")),
            ),
        )
    finally:
        engine.dispose()
    assert dberrors.cause(slow) == dberrors.UNAVAILABLE


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("postgresql://bob:s3cr3t@db:5432/x failed", "postgresql://bob:***@db:5432/x failed"),
        ("postgresql+psycopg://bob:p@ss@db/x", "postgresql+psycopg://bob:***@db/x"),
        ("host=db password=s3cr3t user=bob", "host=db password=*** user=bob"),
        ("password = 'a b' dbname=x", "password = *** dbname=x"),
        ("postgresql://bob@db/x", "postgresql://bob@db/x"),
    ],
)
def test_passwords_are_redacted(raw: str, clean: str) -> None:
    assert dberrors.redact(raw) == clean
