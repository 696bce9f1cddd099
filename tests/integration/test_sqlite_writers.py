"""SQLite writers of one process queue on one lock per file (no busy-handler sleeps), give it back
however their transaction ends, and readers never wait for them. Real files, real threads."""

from __future__ import annotations

import sqlite3
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from pagerbridge.outbox.sqlite_backend import SqliteStorage
from pagerbridge.outbox.storage import NewRow
from pagerbridge.store.engine import make_engine, reading
from pagerbridge.store.sqlite_writers import WriteLockedConnection, write_lock
from servers.waiting import wait_for


def connect(path: Path | str, timeout: float = 30.0) -> WriteLockedConnection:
    conn = sqlite3.connect(
        path,
        isolation_level=None,
        timeout=timeout,
        factory=WriteLockedConnection,
        check_same_thread=False,
    )
    assert isinstance(conn, WriteLockedConnection)
    conn.execute("PRAGMA journal_mode = WAL")
    return conn


def blocked_in(thread: threading.Thread, function: str) -> bool:
    """Whether ``thread`` is waiting inside ``function`` right now."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_name == function:
            return True
        frame = frame.f_back
    return False


def in_thread(work: Callable[[], None], order: list[str], name: str) -> threading.Thread:
    def run() -> None:
        work()
        order.append(name)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_second_writer_of_the_process_waits_on_the_lock_and_starts_at_the_commit(
    tmp_path: Path,
) -> None:
    first = connect(tmp_path / "db")
    first.execute("CREATE TABLE t (x INTEGER)")
    second = connect(f"{tmp_path}/./db")  # another spelling of the same file
    first.begin_immediate()
    first.execute("INSERT INTO t VALUES (1)")
    order: list[str] = []

    def write() -> None:
        second.begin_immediate()
        second.execute("INSERT INTO t VALUES (2)")
        second.commit()

    thread = in_thread(write, order, "second committed")
    wait_for(lambda: blocked_in(thread, "begin_immediate"), "the second writer waiting")
    lock = write_lock(str(tmp_path / "db"))
    assert order == [] and lock is not None and lock.locked()
    order.append("first committed")
    first.commit()
    thread.join(10)
    assert order == ["first committed", "second committed"]
    assert first.execute("SELECT x FROM t ORDER BY rowid").fetchall() == [(1,), (2,)]


def test_the_lock_is_given_back_however_the_transaction_ends(tmp_path: Path) -> None:
    path = tmp_path / "db"
    lock = write_lock(str(path))
    assert lock is not None
    conn = connect(path)
    for end in (conn.rollback, conn.commit):
        conn.begin_immediate()
        assert lock.locked()
        end()
        assert not lock.locked()
    conn.begin_immediate()
    conn.close()
    assert not lock.locked()
    # Another process's writer (a plain connection here) holds SQLite's own lock: the BEGIN
    # fails after the busy timeout, and this process's lock is free again.
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    late = connect(path, timeout=0.05)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        late.begin_immediate()
    assert not lock.locked()
    other.rollback()
    late.begin_immediate()
    late.commit()


def test_each_file_has_its_own_lock_and_memory_databases_none(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert write_lock(str(a)) is write_lock(f"file:{a}?mode=rwc")
    assert write_lock(str(a)) is not write_lock(str(b))
    assert write_lock(":memory:") is None
    assert write_lock("") is None


def test_reads_neither_take_nor_wait_for_the_write_lock(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/db")
    table = sa.Table("t", sa.MetaData(), sa.Column("x", sa.Integer))
    table.metadata.create_all(engine)
    holding, release = threading.Event(), threading.Event()

    def write() -> None:
        with engine.begin() as conn:
            conn.execute(sa.insert(table).values(x=1))
            holding.set()
            release.wait(30)

    order: list[str] = []
    thread = in_thread(write, order, "written")
    assert holding.wait(10)
    with reading(engine) as conn:  # would wait 30 s for the writer if it took the lock
        before = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    assert before == 0 and order == []  # the snapshot before the writer's commit
    release.set()
    thread.join(10)
    with reading(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() == 1
    engine.dispose()


def test_the_outbox_and_the_engine_of_one_process_share_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "db"
    storage = SqliteStorage(path)
    engine = make_engine(f"sqlite:///{path}")
    order: list[str] = []
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")
        lock = write_lock(str(path))
        assert lock is not None and lock.locked()  # the engine's writer holds the file's lock

        def enqueue() -> None:
            row = NewRow("event", "{}", "rk/k", "rk", "k")
            storage.insert_batch([row], now=1.0, max_pending=None)

        thread = in_thread(enqueue, order, "outbox wrote")
        wait_for(lambda: blocked_in(thread, "begin_immediate"), "the outbox waiting")
        order.append("engine committed")
    thread.join(10)
    assert order == ["engine committed", "outbox wrote"]
    storage.close()
    engine.dispose()
