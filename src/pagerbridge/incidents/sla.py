"""SLA policies per severity and breach detection, written to the timeline.

Each severity has a time to acknowledge (open → mitigated) and a time to resolve, counted from the
declaration or the last reopen. The hub runs :func:`check_sla` periodically; it takes ``now`` so
tests move time instead of waiting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pagerbridge.incidents import timeline
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.incidents.hooks import ChangeListener, IncidentChange
from pagerbridge.incidents.lifecycle import SEVERITIES, format_ref, parse_severity
from pagerbridge.incidents.limits import SLA_MAX_SECONDS, check_text
from pagerbridge.incidents.models import Incident, SlaPolicy, TimelineEntry

#: severity -> (seconds to acknowledge, seconds to resolve)
DEFAULT_SLA: Final[dict[str, tuple[int, int]]] = {
    "SEV-1": (15 * 60, 60 * 60),
    "SEV-2": (30 * 60, 4 * 3600),
    "SEV-3": (2 * 3600, 24 * 3600),
    "SEV-4": (8 * 3600, 72 * 3600),
}

#: How many incidents one check locks and updates per transaction at most.
CHECK_BATCH: Final = 500

_DURATION = re.compile(r"([0-9]+)([smhd])")
_DIGITS = re.compile(r"[0-9]+")
#: Longer duration texts are refused before any number in them is converted.
_DURATION_MAX_CHARS: Final = 40
_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Target:
    severity: str
    ack_seconds: int
    resolve_seconds: int
    custom: bool


@dataclass(frozen=True)
class Breach:
    incident_id: int
    sla: str  # "acknowledge" or "resolve"
    due_at: datetime


def parse_duration(value: str) -> int:
    """``90s``, ``15m``, ``4h``, ``1d``, ``1h30m`` or plain seconds -> seconds (> 0, at most
    :data:`SLA_MAX_SECONDS`)."""
    text = check_text("duration", value).strip().lower().replace(" ", "")
    if len(text) > _DURATION_MAX_CHARS:
        raise InvalidInputError(f"duration {value[:40]!r} is too long")
    if _DIGITS.fullmatch(text):
        seconds = int(text)
    else:
        parts = _DURATION.findall(text)
        if not parts or "".join(n + u for n, u in parts) != text:
            raise InvalidInputError(
                f"duration {value!r} is invalid (examples: 90s, 15m, 4h, 1d, 1h30m)"
            )
        seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise InvalidInputError(f"duration {value!r} must be greater than zero")
    if seconds > SLA_MAX_SECONDS:
        raise InvalidInputError(
            f"duration {value!r} is longer than {SLA_MAX_SECONDS // 86400} days"
        )
    return seconds


def format_duration(seconds: int) -> str:
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            out.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(out) or "0s"


def policies(*, session: Session) -> dict[str, Target]:
    """The effective SLA per severity: stored overrides, else the defaults."""
    stored = {p.severity: p for p in session.scalars(select(SlaPolicy))}
    result: dict[str, Target] = {}
    for sev in SEVERITIES:
        if sev in stored:
            p = stored[sev]
            result[sev] = Target(sev, p.ack_seconds, p.resolve_seconds, True)
        else:
            ack, res = DEFAULT_SLA[sev]
            result[sev] = Target(sev, ack, res, False)
    return result


def set_policy(
    *,
    session: Session,
    severity: str,
    ack_seconds: int | None = None,
    resolve_seconds: int | None = None,
    now: datetime | None = None,
) -> Target:
    """Change one severity's targets (either or both); returns the effective policy."""
    sev = parse_severity(severity)
    current = policies(session=session)[sev]
    ack = current.ack_seconds if ack_seconds is None else ack_seconds
    res = current.resolve_seconds if resolve_seconds is None else resolve_seconds
    if ack <= 0 or res <= 0:
        raise InvalidInputError("SLA durations must be greater than zero")
    if ack > SLA_MAX_SECONDS or res > SLA_MAX_SECONDS:
        raise InvalidInputError(f"SLA durations must be at most {SLA_MAX_SECONDS // 86400} days")
    if res < ack:
        raise InvalidInputError(
            f"{sev}: time to resolve ({format_duration(res)}) is shorter than time to "
            f"acknowledge ({format_duration(ack)})"
        )
    row = session.get(SlaPolicy, sev)
    when = now or datetime.now(UTC)
    if row is None:
        session.add(SlaPolicy(severity=sev, ack_seconds=ack, resolve_seconds=res, updated_at=when))
    else:
        row.ack_seconds, row.resolve_seconds, row.updated_at = ack, res, when
    session.flush()
    return Target(sev, ack, res, True)


def due_times(incident: Incident, target: Target) -> tuple[datetime, datetime]:
    start = incident.sla_started_at
    return (
        start + timedelta(seconds=target.ack_seconds),
        start + timedelta(seconds=target.resolve_seconds),
    )


def check_sla(
    *, session: Session, now: datetime | None = None, listener: ChangeListener | None = None
) -> list[Breach]:
    """Find active incidents past an SLA target, mark them and write a timeline entry each.

    Safe to run from several hub replicas at once: rows are locked (``SKIP LOCKED`` on
    PostgreSQL; SQLite's write lock serialises) and each breach is recorded once. ``listener``
    (the connectors' outbound sync) is told of each breach in the same transaction, as
    ``Commands`` tells it of every change: so PagerDuty hears of it through the outbox.
    """
    when = now or datetime.now(UTC)
    found: list[Breach] = []
    recorded: list[tuple[Breach, TimelineEntry]] = []
    for target in policies(session=session).values():
        ack_limit = when - timedelta(seconds=target.ack_seconds)
        res_limit = when - timedelta(seconds=target.resolve_seconds)
        ack_stmt = (
            select(Incident)
            .where(
                Incident.severity == target.severity,
                Incident.status == "open",
                Incident.ack_breached_at.is_(None),
                Incident.sla_started_at <= ack_limit,
            )
            .order_by(Incident.id)
            .limit(CHECK_BATCH)
            .with_for_update(skip_locked=True)
        )
        for inc in session.scalars(ack_stmt).all():
            due = due_times(inc, target)[0]
            inc.ack_breached_at = when
            found.append(Breach(inc.id, "acknowledge", due))
            entry = _record(session, inc, "acknowledge", target.ack_seconds, due, when)
            recorded.append((found[-1], entry))
        res_stmt = (
            select(Incident)
            .where(
                Incident.severity == target.severity,
                Incident.status.in_(("open", "mitigated")),
                Incident.resolve_breached_at.is_(None),
                Incident.sla_started_at <= res_limit,
            )
            .order_by(Incident.id)
            .limit(CHECK_BATCH)
            .with_for_update(skip_locked=True)
        )
        for inc in session.scalars(res_stmt).all():
            due = due_times(inc, target)[1]
            inc.resolve_breached_at = when
            found.append(Breach(inc.id, "resolve", due))
            entry = _record(session, inc, "resolve", target.resolve_seconds, due, when)
            recorded.append((found[-1], entry))
    session.flush()
    if listener is not None:
        _tell(session, listener, recorded)
    return found


def _record(
    session: Session, inc: Incident, sla: str, seconds: int, due: datetime, when: datetime
) -> TimelineEntry:
    inc.updated_at = when
    return timeline.append(
        session=session,
        incident_id=inc.id,
        kind="sla_breach",
        actor="sla",
        origin="local",
        at=when,
        body=(
            f"{format_ref(inc.id)} breached its {inc.severity} time to {sla} "
            f"({format_duration(seconds)}, due {due.isoformat()})"
        ),
        data={"sla": sla, "target_seconds": seconds, "due_at": due.isoformat()},
    )


# -- SLA alignment with connectors (issue 14 item 7) ----------------------------------------------


def _tell(
    session: Session, listener: ChangeListener, recorded: list[tuple[Breach, TimelineEntry]]
) -> None:
    """Each recorded breach as an ``sla_breach`` change (``action``: acknowledge or resolve)."""
    conn = session.connection()
    for breach, entry in recorded:
        listener.after_change(
            conn,
            IncidentChange(
                incident_id=breach.incident_id,
                kind="sla_breach",
                entry_id=entry.id,
                origin="local",
                action=breach.sla,
            ),
        )


# -- where each active incident stands (`im sla status`) ------------------------------------------

#: Active incidents ``im sla status`` lists at most (oldest SLA clock first).
STATUS_LIMIT: Final = 200


def _state(breached_at: datetime | None, done: bool, due: datetime, when: datetime) -> str:
    """``breached`` (recorded), ``met``, ``overdue`` (not recorded yet: the check runs every
    30 s) or ``due in 12m``."""
    if breached_at is not None:
        return "breached"
    if done:
        return "met"
    if due <= when:
        return "overdue"
    left = int((due - when).total_seconds())
    return f"due in {format_duration(left - left % 60 if left >= 60 else max(1, left))}"


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")  # as the API writes times


def standing(
    *, session: Session, now: datetime | None = None, limit: int = STATUS_LIMIT
) -> list[dict[str, object]]:
    """Each open or mitigated incident against its SLA: targets, elapsed time on its own clock
    (from the declaration or the last reopen), and where each target stands."""
    when = now or datetime.now(UTC)
    targets = policies(session=session)
    stmt = (
        select(Incident)
        .where(Incident.status.in_(("open", "mitigated")))
        .order_by(Incident.sla_started_at, Incident.id)
        .limit(limit)
    )
    out: list[dict[str, object]] = []
    for inc in session.scalars(stmt):
        target = targets[inc.severity]
        ack_due, res_due = due_times(inc, target)
        elapsed = max(0, int((when - inc.sla_started_at).total_seconds()))
        out.append(
            {
                "incident": format_ref(inc.id),
                "title": inc.title,
                "severity": inc.severity,
                "status": inc.status,
                "sla_started_at": _iso(inc.sla_started_at),
                "elapsed_seconds": elapsed,
                "elapsed": format_duration(elapsed),
                "ack": format_duration(target.ack_seconds),
                "resolve": format_duration(target.resolve_seconds),
                "ack_due_at": _iso(ack_due),
                "resolve_due_at": _iso(res_due),
                "ack_state": _state(inc.ack_breached_at, inc.status != "open", ack_due, when),
                "resolve_state": _state(inc.resolve_breached_at, False, res_due, when),
            }
        )
    return out
