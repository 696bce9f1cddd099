"""Named SQL queries loaded from the ``.sql`` files beside this module (procrastinate style).

A file holds sections that start with ``-- name: NAME``; the text up to the next such line is
that query. Standard library only (``pd-send`` loads the SQLite files).
"""

from __future__ import annotations

import os
import re
from functools import cache

# os.path, not pathlib: pathlib costs pd-send ~3 ms of start-up.
SQL_DIR = os.path.join(os.path.dirname(__file__), "sql")
_NAME = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)

#: ``next_attempt_at`` of a row waiting behind an earlier active row of its ordering key.
BLOCKED = 1e15


def _read(name: str) -> str:
    with open(os.path.join(SQL_DIR, name), encoding="utf-8") as file:
        return file.read()


def schema_sql(dialect: str) -> str:
    """The idempotent CREATE ... IF NOT EXISTS script (``sqlite`` or ``postgresql``)."""
    return _read(f"schema_{dialect}.sql")


@cache
def queries(dialect: str) -> dict[str, str]:
    """Every named query of ``queries_<dialect>.sql``."""
    text = _read(f"queries_{dialect}.sql")
    parts = _NAME.split(text)
    return {
        name: body.strip().rstrip(";") for name, body in zip(parts[1::2], parts[2::2], strict=True)
    }
