"""Repair incident rows an older pagerbridge stored but cannot serve.

Before issue 11 the hub stored what Python's ``json`` reads: NaN and ±Infinity (SQLite), integers
of any size, NUL characters and lone surrogates (both databases, in JSON), and NUL characters in
text (SQLite). One such row made every listing answer 500. This migration rewrites those rows by
the rules the code now applies on read (``pagerbridge.incidents.jsonvalues.safe``, copied here
because a migration must not change when that code does):

- JSON columns (``im_incidents.custom_fields``, ``im_timeline.data``): NaN and ±Infinity become
  null, integers outside 64 bits their decimal string, NUL characters are dropped and lone
  surrogates become U+FFFD in strings and keys, containers nested deeper than 32 levels become
  their JSON text, and text that is not JSON at all is kept as ``{"unreadable_json": "..."}``;
- text columns: NUL characters are dropped.

Rows are read in batches by primary key; only rows that change are written. Nothing to undo.

Revision ID: 0004_incidents_repair
Revises: 0001_incidents
Create Date: 2026-12-03
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004_incidents_repair"
down_revision = "0001_incidents"
branch_labels = None
depends_on = None

BATCH = 500
DEPTH_MAX = 32
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: Longer integer literals are kept as their digits (Python converts at most 4300 digits).
_DIGITS_MAX = 4000
_SURROGATE = re.compile("[\ud800-\udfff]")

#: table -> (key, text columns, JSON columns)
TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "im_incidents": (
        "id",
        ("title", "description", "assignee", "created_by"),
        ("custom_fields",),
    ),
    "im_timeline": ("id", ("body", "actor"), ("data",)),
    "im_services": ("id", ("description", "owner_team"), ()),
}


def _text(value: str) -> str:
    return _SURROGATE.sub("\ufffd", value.replace("\x00", ""))


def _as_json_text(value: Any) -> Any:
    try:
        return json.dumps(value, default=str, separators=(",", ":"))
    except (RecursionError, TypeError, ValueError):
        return None


def _repaired(value: Any, depth: int = 0) -> Any:
    """``value`` by the rules above (a new object; the caller compares the JSON texts)."""
    if isinstance(value, str):
        return _text(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if INT64_MIN <= value <= INT64_MAX else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict | list):
        if depth >= DEPTH_MAX:
            return _as_json_text(value)
        if isinstance(value, dict):
            return {_text(str(k)): _repaired(v, depth + 1) for k, v in value.items()}
        return [_repaired(v, depth + 1) for v in value]
    return str(value)


def _json_column(raw: str | None) -> tuple[Any, bool]:
    """The repaired value of a stored JSON text, and whether it differs from what is stored."""
    if raw is None:
        return None, False
    huge: list[str] = []

    def parse_int(digits: str) -> int | str:
        if len(digits) <= _DIGITS_MAX:
            return int(digits)
        huge.append(digits)  # kept as its digits: a reader could not even convert it
        return digits

    try:
        value = json.loads(raw, parse_int=parse_int)
    except (ValueError, RecursionError):
        return {"unreadable_json": _text(raw)}, True
    fixed = _repaired(value)
    try:
        same = json.dumps(value, allow_nan=False) == json.dumps(fixed, allow_nan=False)
    except (ValueError, RecursionError):
        same = False
    return fixed, bool(huge) or not same


def _repair_table(conn: sa.Connection, name: str) -> None:
    key, texts, jsons = TABLES[name]
    table = sa.table(name, sa.column(key), *(sa.column(c, sa.Text) for c in texts + jsons))
    columns = [table.c[c] for c in texts] + [sa.cast(table.c[c], sa.Text).label(c) for c in jsons]
    update = (
        sa.update(table)
        .where(table.c[key] == sa.bindparam("k"))
        .values(
            {c: sa.bindparam("v_" + c, type_=sa.Text) for c in texts}
            | {c: sa.bindparam("v_" + c, type_=sa.JSON) for c in jsons}
        )
    )
    last: Any = None
    while True:
        query = sa.select(table.c[key], *columns).order_by(table.c[key]).limit(BATCH)
        if last is not None:
            query = query.where(table.c[key] > last)
        rows = conn.execute(query).mappings().all()
        if not rows:
            return
        changed = []
        for row in rows:
            params: dict[str, Any] = {"k": row[key]}
            dirty = False
            for c in texts:
                value = row[c]
                params["v_" + c] = _text(value) if isinstance(value, str) else value
                dirty = dirty or params["v_" + c] != value
            for c in jsons:
                params["v_" + c], fixed = _json_column(row[c])
                dirty = dirty or fixed
            if dirty:
                changed.append(params)
        if changed:
            conn.execute(update, changed)
        last = rows[-1][key]


def upgrade() -> None:
    conn = op.get_bind()
    for name in TABLES:
        _repair_table(conn, name)


def downgrade() -> None:
    pass  # a repair has nothing to undo
