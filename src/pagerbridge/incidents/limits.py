"""What the incident store accepts: every documented limit as a named constant, and the text check
that enforces them, so the CLI and the hub's API refuse the same input with the same message.

Why: a value either database cannot store (a NUL byte on PostgreSQL, an integer outside 64 bits
on SQLite, a string longer than its column on PostgreSQL) must be refused *before* the database
sees it, with a message naming the field, or the two backends answer differently and one of them
answers with its own error text. Standard library only (the CLI checks before SQLAlchemy loads).
"""

from __future__ import annotations

from typing import Final

from pagerbridge.incidents.errors import InvalidInputError

#: An incident's title: one line of at most this many characters.
TITLE_MAX_CHARS: Final = 1024
#: Descriptions (incidents and services) and notes, counted in bytes of UTF-8.
TEXT_MAX_BYTES: Final = 64 * 1024
#: An incident's custom fields, as compact JSON in UTF-8.
CUSTOM_FIELDS_MAX_BYTES: Final = 64 * 1024
#: How deeply JSON objects and arrays may nest inside custom fields.
JSON_DEPTH_MAX: Final = 32
#: Integers anywhere in JSON: what SQLite and PostgreSQL (bigint) can both hold.
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1
#: Who: an assignee, an actor (the ``From`` header or $PAGERBRIDGE_ACTOR).
NAME_MAX_CHARS: Final = 255
#: A service's owner team.
OWNER_TEAM_MAX_CHARS: Final = 200
#: Services one incident may name.
SERVICES_PER_INCIDENT_MAX: Final = 100
#: Incident numbers are 32-bit integers on PostgreSQL: INC-2147483647 is the largest there can be.
INCIDENT_NUMBER_MAX: Final = 2**31 - 1
#: ``offset`` of a listing.
OFFSET_MAX: Final = INT64_MAX
#: SLA targets: at most a (leap) year.
SLA_MAX_SECONDS: Final = 366 * 86400

NUL: Final = "\x00"


def check_text(
    field: str,
    value: str,
    *,
    max_chars: int | None = None,
    max_bytes: int | None = None,
    one_line: bool = False,
) -> str:
    """``value`` if it can be stored and served as it is; else InvalidInputError naming ``field``.

    Refused: anything but a string, NUL characters (PostgreSQL cannot store them), lone
    surrogates (not Unicode, so not UTF-8: neither database nor a JSON answer can carry them),
    more than ``max_chars`` characters or ``max_bytes`` bytes of UTF-8, and with ``one_line``
    any line break.
    """
    if not isinstance(value, str):
        raise InvalidInputError(f"{field} must be a string, not {type(value).__name__}")
    if NUL in value:
        raise InvalidInputError(f"{field} must not contain NUL characters (\\u0000)")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInputError(
            f"{field} is not valid Unicode (it contains a lone surrogate such as \\ud800)"
        ) from None
    if max_chars is not None and len(value) > max_chars:
        raise InvalidInputError(
            f"{field} is {len(value):,} characters long (at most {max_chars:,})"
        )
    if max_bytes is not None and size > max_bytes:
        raise InvalidInputError(f"{field} is {size:,} bytes long in UTF-8 (at most {max_bytes:,})")
    if one_line and value and value.splitlines() != [value]:
        raise InvalidInputError(f"{field} must be one line (it contains a line break)")
    return value


def check_optional_text(field: str, value: str | None, *, max_chars: int) -> str | None:
    """:func:`check_text` for an optional short value (assignee, owner team)."""
    return None if value is None else check_text(field, value, max_chars=max_chars)
