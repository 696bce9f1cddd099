"""Database failures classified by cause: the request's fault, a conflict, or the database's.

Why: a NUL byte or an out-of-range number that reaches PostgreSQL is the request's fault (4xx),
not an outage (503); a lost race is a conflict (409); only a lost connection, a timeout, a full
disk or a locked database mean "try again later" (503); a broken schema or a bug is neither
(500). PostgreSQL says which with its SQLSTATE class, SQLite with its result code; SQLAlchemy's
exception class is the fallback. Messages never carry the database's own text to an API client
(the hub logs it, through :func:`describe`, with passwords removed).
"""

from __future__ import annotations

import re
import sqlite3
from typing import Final

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm.exc import StaleDataError

from pagerbridge.errors import ConflictError, PagerbridgeError, StorageError, StoreError
from pagerbridge.incidents.errors import InvalidInputError

UNAVAILABLE: Final = "unavailable"
INVALID: Final = "invalid"
CONFLICT: Final = "conflict"
INTERNAL: Final = "internal"

#: PostgreSQL SQLSTATE classes (first two characters) and single states, by cause.
_PG_CLASSES: Final = {
    "08": UNAVAILABLE,  # connection exception
    "53": UNAVAILABLE,  # insufficient resources: disk full, out of memory, too many connections
    "57": UNAVAILABLE,  # operator intervention: statement timeout, shutdown, cannot connect now
    "55": UNAVAILABLE,  # object not in prerequisite state: lock not available, not accepting
    "58": UNAVAILABLE,  # system error: I/O
    "22": INVALID,  # data exception: NUL byte, out of range, bad JSON, value too long
    "54": INVALID,  # program limit exceeded: value or statement too large or too complex
    "23": CONFLICT,  # integrity constraint violation
    "40": CONFLICT,  # transaction rollback: serialization failure, deadlock
}
_PG_STATES: Final = {"25006": UNAVAILABLE}  # read-only transaction: a standby after failover

#: SQLite primary result codes, by cause (SQLITE_ERROR, a generic error such as a missing table,
#: is internal: not the request's fault, and not going to pass by retrying).
_SQLITE_CODES: Final = {
    **dict.fromkeys((1, 2), INTERNAL),
    **dict.fromkeys((3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 26), UNAVAILABLE),
    **dict.fromkeys((18, 20, 25), INVALID),  # TOOBIG, MISMATCH, RANGE
    19: CONFLICT,  # CONSTRAINT
}

_URL_PASSWORD: Final = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)[^/\s]*@")
_CONNINFO_PASSWORD: Final = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with passwords in URLs and ``password=`` settings replaced by ``***``."""
    return _CONNINFO_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))


def _origin(exc: BaseException) -> BaseException:
    return exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig is not None else exc


def cause(exc: BaseException) -> str:
    """One of UNAVAILABLE, INVALID, CONFLICT, INTERNAL for a failure raised by the database.

    The database's own code first (PostgreSQL's SQLSTATE, SQLite's result code); without one (a
    connection that failed or broke has none), the class of the exception.
    """
    orig = _origin(exc)
    state = getattr(orig, "sqlstate", None)
    if isinstance(state, str) and state:
        found = _PG_STATES.get(state) or _PG_CLASSES.get(state[:2])
        if found:
            return found
    code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(orig, sqlite3.Error) and isinstance(code, int) and code & 0xFF in _SQLITE_CODES:
        return _SQLITE_CODES[code & 0xFF]
    if isinstance(exc, sa_exc.IntegrityError | StaleDataError):
        return CONFLICT
    if isinstance(exc, sa_exc.DataError | OverflowError | UnicodeEncodeError):
        return INVALID
    if isinstance(
        exc,
        sa_exc.OperationalError
        | sa_exc.InterfaceError
        | sa_exc.TimeoutError
        | sa_exc.DisconnectionError,
    ):
        return UNAVAILABLE
    return INTERNAL


def describe(exc: BaseException) -> str:
    """The database's own account of ``exc`` on one line, passwords removed: for logs only."""
    orig = _origin(exc)
    state = getattr(orig, "sqlstate", None) or getattr(orig, "sqlite_errorname", None)
    text = " | ".join(line.strip() for line in str(orig).splitlines() if line.strip())
    return redact(f"{type(orig).__name__}{f' [{state}]' if state else ''}: {text}")


def convert(exc: BaseException, database: str) -> PagerbridgeError:
    """The pagerbridge error for a database failure, by :func:`cause`.

    ``database`` (a redacted URL) and the database's first line of text go only into errors that
    mean the database itself failed (StorageError, StoreError): the local CLI shows them to the
    user who owns that database; the hub logs them and answers with a generic message.
    """
    kind = cause(exc)
    if kind == INVALID:
        return InvalidInputError(
            "the database refused a value of this request (too large or malformed); "
            "nothing was stored"
        )
    if kind == CONFLICT:
        if isinstance(exc, sa_exc.IntegrityError):
            return ConflictError("a concurrent change created the same thing first; retry")
        return ConflictError("a concurrent change got in the way; nothing was stored, retry")
    first = redact(str(_origin(exc)).strip().splitlines()[0] if str(_origin(exc)).strip() else "")
    detail = f"database {redact(database)}: {first or type(_origin(exc)).__name__}"
    if kind == UNAVAILABLE:
        return StorageError(f"{detail} (unavailable; try again)")
    return StoreError(detail)
