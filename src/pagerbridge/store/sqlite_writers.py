"""One SQLite writer at a time per database file in this process, handed over without sleeping.

Why: SQLite makes a second writer wait in its busy handler, which sleeps and retries in steps of
1, 2, 5 … 100 ms. Under load (the hub's webhook intake, its applier and its outbox worker all
writing one file) a write waited up to 100 ms for a lock released after 2, and the intake's answer
p99 went from tens of milliseconds to a second. Writers of one process now queue on a
``threading.Lock`` per file and get it the moment it is free; writers in other processes still
meet SQLite's own lock and busy timeout, as before.

A connection made with ``factory=WriteLockedConnection`` takes the lock in
:meth:`~WriteLockedConnection.begin_immediate` and gives it back when its transaction ends
(``commit``, ``rollback`` or ``close``). Standard library only: ``pd-send`` imports it.
"""

from __future__ import annotations

import os
import sqlite3
import threading

#: As long as SQLite's busy timeout: a writer of this process waits no longer than one of another.
WAIT_SECONDS = 30.0

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def write_lock(database: str) -> threading.Lock | None:
    """The lock of the file ``database`` names (a path or a ``file:`` URI); None for an
    in-memory database, which no other connection can share."""
    path = (
        database.split("?", 1)[0].removeprefix("file:")
        if database.startswith("file:")
        else database
    )
    if not path or path == ":memory:":
        return None
    key = os.path.realpath(path)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.Lock()
        return lock


class WriteLockedConnection(sqlite3.Connection):
    """A ``sqlite3`` connection whose write transactions queue behind this process's others."""

    _file_lock: threading.Lock | None = None
    _holding = False

    def __init__(self, database: str | os.PathLike[str], *args: object, **kwargs: object) -> None:
        super().__init__(database, *args, **kwargs)  # type: ignore[arg-type]
        self._file_lock = write_lock(os.fsdecode(database))

    def begin_immediate(self) -> None:
        """``BEGIN IMMEDIATE`` once no other connection of this process writes the file."""
        lock = self._file_lock
        if lock is not None and not self._holding:
            if not lock.acquire(timeout=WAIT_SECONDS):
                raise sqlite3.OperationalError("database is locked (by this process)")
            self._holding = True
        try:
            self.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._holding:
            self._holding = False
            assert self._file_lock is not None
            self._file_lock.release()
