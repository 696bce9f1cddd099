"""Who is on call for a local service, read from PagerDuty: ``im oncall --service api``.

The local service leads to its PagerDuty service (the connector's mappings), then to the
escalation policy incidents of that service use (the connector's mapping for the service, else
its default, else the PagerDuty service's own, as :mod:`connectors.pagerduty` creates them).
``GET /oncalls`` for that policy, now, gives every level's on-call users; asked again at the
moment the first level's current shift ends, it gives who comes next. Reads only, three or four
requests; nothing goes through the outbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.errors import ConnectorError
from pagerbridge.pagerduty.rest import RestClient
from pagerbridge.pagerduty.rest_models import EscalationPolicy, OnCall

#: How the text block writes a time (always UTC, as the JSON's ISO 8601 times say).
TIME_FORMAT: Final = "%Y-%m-%d %H:%M"


class UnmappedServiceError(ConnectorError):
    """The connector sends no incident of this local service to PagerDuty."""

    def __init__(self, connector: str, service: str) -> None:
        self.connector, self.service = connector, service
        super().__init__(
            f"service {service!r} is not mapped to a PagerDuty service by connector "
            f"{connector!r} (and the connector has no default service)"
        )

    @property
    def hint(self) -> str:
        return (
            f"map it: im connector map-service {self.connector} --im-service {self.service} "
            "--pd-service PXXXXXX"
        )


@dataclass(frozen=True)
class Person:
    """A PagerDuty user as ``im oncall`` names them: by email when PagerDuty gives it."""

    id: str
    email: str | None
    name: str | None

    @property
    def label(self) -> str:
        return self.email or self.name or self.id

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "name": self.name}


@dataclass(frozen=True)
class Shift:
    """One user on call at one level: ``start``/``end`` None mean always (a direct target)."""

    person: Person
    level: int
    start: datetime | None
    end: datetime | None
    schedule: str | None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.person.as_json(),
            "level": self.level,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "schedule": self.schedule,
        }


@dataclass(frozen=True)
class Level:
    """One escalation rule: reached ``after_minutes`` after the incident triggers."""

    level: int
    after_minutes: int
    delay_minutes: int
    on_call: list[Person]

    def as_json(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "after_minutes": self.after_minutes,
            "escalation_delay_in_minutes": self.delay_minutes,
            "on_call": [p.as_json() for p in self.on_call],
        }


@dataclass(frozen=True)
class OnCallView:
    service: str
    connector: str
    pd_service_id: str
    policy_id: str
    policy_name: str | None
    current: list[Shift]
    next: list[Shift]
    levels: list[Level]
    num_loops: int = 0

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "connector": self.connector,
            "pd_service": self.pd_service_id,
            "escalation_policy": {"id": self.policy_id, "name": self.policy_name},
            "current": [s.as_json() for s in self.current],
            "next": [s.as_json() for s in self.next],
            "escalation": [lv.as_json() for lv in self.levels],
            "num_loops": self.num_loops,
        }

    def lines(self) -> list[str]:
        """The reference's block: Service, Current On-Call, Next On-Call, Escalation."""
        out = [f"Service: {self.service}"]
        current = ", ".join(
            f"{s.person.label} ({'until ' + _text(s.end) if s.end else 'always'})"
            for s in self.current
        )
        out.append(f"Current On-Call: {current or 'nobody'}")
        upcoming = ", ".join(f"{s.person.label} ({_text(s.start)})" for s in self.next)
        out.append(f"Next On-Call: {upcoming or 'nobody (no change of shift ahead)'}")
        later = self.levels[1:]
        if not later:
            out.append("Escalation: none beyond the first level")
        for i, lv in enumerate(later):
            people = ", ".join(p.label for p in lv.on_call) or "nobody on call"
            lead = "Escalation: After" if i == 0 else "            After"
            out.append(f"{lead} {lv.after_minutes} minutes → {people}")
        if self.num_loops:
            out.append(f"            Then from the first level again ({self.num_loops}x)")
        return out


def _iso(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at else None


def _text(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime(TIME_FORMAT) if at else "?"


def _aware(at: datetime | None) -> datetime | None:
    if at is not None and at.tzinfo is None:
        return at.replace(tzinfo=UTC)
    return at


def _person(entry: OnCall) -> Person | None:
    user = entry.user
    if user is None:
        return None
    extra = user.model_extra or {}
    email = extra.get("email")
    name = extra.get("name") or user.summary
    return Person(
        id=user.id,
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
    )


def _shifts(entries: list[OnCall]) -> list[Shift]:
    out: list[Shift] = []
    seen: set[tuple[str, int, datetime | None]] = set()
    for e in entries:
        person = _person(e)
        if person is None:
            continue
        level = e.escalation_level or 1
        start = _aware(e.start)
        key = (person.id, level, start)
        if key in seen:
            continue
        seen.add(key)
        schedule = e.schedule.id if e.schedule is not None else None
        out.append(Shift(person, level, start, _aware(e.end), schedule))
    return out


async def _policy_id(client: RestClient, record: ConnectorRecord, service: str) -> tuple[str, str]:
    """(PagerDuty service id, escalation policy id) for a local service."""
    pd_service = record.pd_service_for(service)
    if not pd_service:
        raise UnmappedServiceError(record.name, service)
    policy = record.escalation_policy_for(service)
    if policy:
        return pd_service, policy
    found = await client.get_service(pd_service)
    if found.escalation_policy is None:
        raise ConnectorError(f"PagerDuty service {pd_service} has no escalation policy")
    return pd_service, found.escalation_policy.id


def _levels(policy: EscalationPolicy, now: list[Shift]) -> list[Level]:
    levels: list[Level] = []
    after = 0
    for number, rule in enumerate(policy.escalation_rules, start=1):
        people: dict[str, Person] = {}
        for s in now:
            if s.level == number:
                people.setdefault(s.person.id, s.person)
        delay = rule.escalation_delay_in_minutes or 0
        levels.append(Level(number, after, delay, list(people.values())))
        after += delay
    return levels


async def on_call(client: RestClient, record: ConnectorRecord, service: str) -> OnCallView:
    """Who is on call now and next for ``service``, and the escalation chain with delays."""
    pd_service, policy_id = await _policy_id(client, record, service)
    policy = await client.get_escalation_policy(policy_id)
    now = _shifts(
        [e async for e in client.list_oncalls(escalation_policy_ids=[policy_id], include=["users"])]
    )
    current = [s for s in now if s.level == 1]
    ends = [s.end for s in current if s.end is not None]
    upcoming: list[Shift] = []
    if ends:
        handover = min(ends)
        stamp = handover.isoformat()
        later = _shifts(
            [
                e
                async for e in client.list_oncalls(
                    escalation_policy_ids=[policy_id],
                    since=stamp,
                    until=stamp,
                    include=["users"],
                )
            ]
        )
        upcoming = [
            s for s in later if s.level == 1 and s.start is not None and s.start >= handover
        ]
    return OnCallView(
        service=service,
        connector=record.name,
        pd_service_id=pd_service,
        policy_id=policy_id,
        policy_name=policy.name or policy.summary,
        current=current,
        next=upcoming,
        levels=_levels(policy, now),
        num_loops=policy.num_loops or 0,
    )
