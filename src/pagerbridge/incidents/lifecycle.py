"""The incident lifecycle as data: severities, statuses, origins and the legal transitions.

Standard library only, so the CLI can validate input before it loads SQLAlchemy.

    open ──ack──▶ mitigated ──resolve──▶ resolved ──close──▶ closed
      └────────────resolve───────────────▲   │                  │
      ▲──────────────────reopen──────────────┘◀────reopen───────┘

``mitigated`` is PagerDuty's "acknowledged"; ``closed`` maps to PagerDuty's "resolved".
"""

from __future__ import annotations

import re
from typing import Final

from pagerbridge.errors import IncidentNotFoundError
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.limits import INCIDENT_NUMBER_MAX

SEVERITIES: Final = ("SEV-1", "SEV-2", "SEV-3", "SEV-4")
STATUSES: Final = ("open", "mitigated", "resolved", "closed")
ACTIVE_STATUSES: Final = frozenset({"open", "mitigated"})

#: Where a change came from. A change from PagerDuty is never written back to PagerDuty.
ORIGINS: Final = ("local", "api", "pagerduty")

#: action -> (statuses it may start from, status it leads to)
TRANSITIONS: Final[dict[str, tuple[frozenset[str], str]]] = {
    "ack": (frozenset({"open"}), "mitigated"),
    "resolve": (frozenset({"open", "mitigated"}), "resolved"),
    "close": (frozenset({"resolved"}), "closed"),
    "reopen": (frozenset({"resolved", "closed"}), "open"),
    # PagerDuty's acknowledgement timed out (incident.unacknowledged): someone was working on
    # it and no longer is. Only the PagerDuty connector does this; im and the API do not offer it.
    "unack": (frozenset({"mitigated"}), "open"),
}

#: What to tell a user who tries an action from the wrong status.
_ADVICE: Final[dict[tuple[str, str], str]] = {
    ("ack", "mitigated"): "it is already mitigated (acknowledged)",
    ("ack", "resolved"): "it is resolved; reopen it first",
    ("ack", "closed"): "it is closed; reopen it first",
    ("resolve", "resolved"): "it is already resolved",
    ("resolve", "closed"): "it is closed; reopen it first",
    ("close", "open"): "it is open; resolve it before closing",
    ("close", "mitigated"): "it is mitigated; resolve it before closing",
    ("close", "closed"): "it is already closed",
    ("reopen", "open"): "it is already open",
    ("reopen", "mitigated"): "it is still active (mitigated), not resolved",
    ("unack", "open"): "it is not acknowledged",
}

_REF = re.compile(r"^(?:INC-)?([1-9][0-9]{0,17})$", re.IGNORECASE)
_SEV = re.compile(r"^(?:SEV-?)?([1-4])$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def target_status(action: str, current: str) -> str | None:
    """The status ``action`` leads to from ``current``, or None if it is not allowed."""
    sources, target = TRANSITIONS[action]
    return target if current in sources else None


def refusal(action: str, ref: str, current: str) -> str:
    """A clear sentence saying why ``action`` is refused for an incident in ``current``."""
    why = _ADVICE.get((action, current), f"it is {current}")
    return f"cannot {action} {ref}: {why}"


def format_ref(number: int) -> str:
    return f"INC-{number}"


def parse_ref(value: str | int) -> int:
    """``INC-12``, ``inc-12`` or ``12`` -> 12; anything else is an InvalidInputError.

    A number above :data:`INCIDENT_NUMBER_MAX` names no incident there can be (IncidentNotFound,
    without asking a database that could not even compare it).
    """
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        number = value
    else:
        match = _REF.fullmatch(str(value).strip())
        if not match:
            raise InvalidInputError(f"{value!r} is not an incident id (expected INC-<number>)")
        number = int(match.group(1))
    if number > INCIDENT_NUMBER_MAX:
        raise IncidentNotFoundError(f"no incident {format_ref(number)}")
    return number


def parse_severity(value: str) -> str:
    """``SEV-2``, ``sev2`` or ``2`` -> ``SEV-2``; anything else is an InvalidInputError."""
    match = _SEV.fullmatch(value.strip())
    if not match:
        raise InvalidInputError(
            f"severity {value!r} is invalid (must be one of {', '.join(SEVERITIES)})"
        )
    return f"SEV-{match.group(1)}"


def parse_status(value: str) -> str:
    status = value.strip().lower()
    if status == "acknowledged":
        status = "mitigated"
    if status not in STATUSES:
        raise InvalidInputError(
            f"status {value!r} is invalid (must be one of {', '.join(STATUSES)})"
        )
    return status


def parse_origin(value: str) -> str:
    if value not in ORIGINS:
        raise InvalidInputError(
            f"origin {value!r} is invalid (must be one of {', '.join(ORIGINS)})"
        )
    return value


def check_service_name(value: str) -> str:
    """Service names are short slugs (letters, digits, ``.``, ``_``, ``-``) used on the CLI."""
    name = value.strip()
    if not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"service name {value!r} is invalid (1-100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit)"
        )
    return name


def split_services(value: str | None) -> list[str]:
    """``"db, api"`` -> ``["db", "api"]``, validated, duplicates dropped, order kept."""
    if not value:
        return []
    names: list[str] = []
    for part in value.split(","):
        if part.strip():
            name = check_service_name(part)
            if name not in names:
                names.append(name)
    return names
