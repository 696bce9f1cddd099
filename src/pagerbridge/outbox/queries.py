"""Named SQL queries loaded from the ``.sql`` files beside this module (procrastinate style).

A file holds sections that start with ``-- name: NAME``; the text up to the next such line is
that query. Standard library only (``pd-send`` loads the SQLite files).
"""

from __future__ import annotations

import os
from functools import cache

# os.path, not pathlib: pathlib costs pd-send ~3 ms of start-up; and str methods, not re (re with
# enum, ~3 ms): a section starts at a line ``-- name: NAME`` (NAME: letters, digits, ``_``).
SQL_DIR = os.path.join(os.path.dirname(__file__), "sql")

#: ``next_attempt_at`` of a row waiting behind an earlier active row of its ordering key.
BLOCKED = 1e15


def _read(name: str) -> str:
    with open(os.path.join(SQL_DIR, name), encoding="utf-8") as file:
        return file.read()


def schema_sql(dialect: str) -> str:
    """The idempotent CREATE ... IF NOT EXISTS script (``sqlite`` or ``postgresql``)."""
    return _read(f"schema_{dialect}.sql")


def schema_statements(dialect: str) -> list[str]:
    """The schema script as single statements, comments dropped (for Alembic's ``op.execute``)."""
    lines = [ln for ln in schema_sql(dialect).splitlines() if not ln.strip().startswith("--")]
    return [st for st in "\n".join(lines).split(";") if st.strip()]


@cache
def queries(dialect: str) -> dict[str, str]:
    """Every named query of ``queries_<dialect>.sql``."""
    return parse_queries(_read(f"queries_{dialect}.sql"))


def parse_queries(text: str) -> dict[str, str]:
    """NAME -> query for each section of ``text`` (without the trailing ``;``)."""
    out: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        header = _section_name(line)
        if header is None:
            body.append(line)
            continue
        if name is not None:
            out[name] = "\n".join(body).strip().rstrip(";")
        name, body = header, []
    if name is not None:
        out[name] = "\n".join(body).strip().rstrip(";")
    return out


def _section_name(line: str) -> str | None:
    """NAME when ``line`` is ``-- name: NAME`` (spaces optional), else None."""
    if not line.startswith("--"):
        return None
    rest = line[2:].lstrip()
    if not rest.startswith("name:"):
        return None
    name = rest[5:].strip()
    if name and all(c.isalnum() or c == "_" for c in name):
        return name
    return None
