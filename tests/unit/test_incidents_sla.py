"""SLA policies and breach detection with a fake clock, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pagerbridge.incidents import service, sla, timeline
from pagerbridge.incidents.errors import InvalidInputError
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def check(engine: Engine, minutes: float) -> list[sla.Breach]:
    with Session(engine) as s, s.begin():
        return sla.check_sla(session=s, now=T0 + timedelta(minutes=minutes))


def breaches(engine: Engine, number: int) -> list[str]:
    with Session(engine) as s:
        return [
            e.data["sla"]
            for e in timeline.entries(session=s, incident_id=number)
            if e.kind == "sla_breach"
        ]


def test_defaults() -> None:
    assert sla.DEFAULT_SLA["SEV-1"] == (15 * 60, 3600)
    assert sla.DEFAULT_SLA["SEV-4"] == (8 * 3600, 72 * 3600)


def test_sev1_ack_and_resolve_breaches_are_written_once(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        service.declare(session=s, title="down", severity="SEV-1", actor="a", now=T0)
        service.declare(session=s, title="slow", severity="SEV-4", actor="a", now=T0)
    assert check(engine, 14) == []
    found = check(engine, 16)
    assert [(b.incident_id, b.sla) for b in found] == [(1, "acknowledge")]
    assert found[0].due_at == T0 + timedelta(minutes=15)
    assert check(engine, 20) == []  # recorded once
    with Session(engine) as s, s.begin():
        service.transition(
            session=s, ref=1, action="ack", actor="a", now=T0 + timedelta(minutes=30)
        )
    assert [(b.incident_id, b.sla) for b in check(engine, 61)] == [(1, "resolve")]
    assert breaches(engine, 1) == ["acknowledge", "resolve"]
    assert breaches(engine, 2) == []
    with Session(engine) as s:
        entry = next(
            e for e in timeline.entries(session=s, incident_id=1) if e.kind == "sla_breach"
        )
        assert entry.actor == "sla" and entry.origin == "local"
        assert "breached its SEV-1 time to acknowledge (15m" in entry.body
        inc = service.get_incident(session=s, ref=1)
        assert inc.ack_breached_at == T0 + timedelta(minutes=16)


def test_acknowledged_in_time_never_breaches_ack(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        service.declare(session=s, title="x", severity="SEV-2", actor="a", now=T0)
        service.transition(session=s, ref=1, action="ack", actor="a", now=T0 + timedelta(minutes=5))
    assert check(engine, 60) == []
    with Session(engine) as s, s.begin():
        service.transition(session=s, ref=1, action="resolve", actor="a", now=T0)
    assert check(engine, 60 * 24) == []


def test_reopen_restarts_the_clock(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        service.declare(session=s, title="x", severity="SEV-1", actor="a", now=T0)
    assert len(check(engine, 16)) == 1
    with Session(engine) as s, s.begin():
        service.transition(
            session=s, ref=1, action="resolve", actor="a", now=T0 + timedelta(minutes=20)
        )
        service.transition(
            session=s, ref=1, action="reopen", actor="a", now=T0 + timedelta(minutes=30)
        )
    assert check(engine, 40) == []
    assert [b.sla for b in check(engine, 46)] == ["acknowledge"]


def test_custom_policy(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        t = sla.set_policy(session=s, severity="sev3", ack_seconds=sla.parse_duration("5m"))
        assert (t.ack_seconds, t.resolve_seconds, t.custom) == (300, 24 * 3600, True)
        with pytest.raises(InvalidInputError, match="shorter than time to acknowledge"):
            sla.set_policy(session=s, severity="SEV-3", resolve_seconds=60)
        service.declare(session=s, title="x", severity="SEV-3", actor="a", now=T0)
    with Session(engine) as s:
        pol = sla.policies(session=s)
        assert pol["SEV-3"].ack_seconds == 300 and not pol["SEV-2"].custom
    assert [b.sla for b in check(engine, 6)] == ["acknowledge"]


def test_durations() -> None:
    assert sla.parse_duration("1h30m") == 5400
    assert sla.parse_duration("90") == 90
    assert sla.format_duration(5400) == "1h30m"
    for bad in ("", "5x", "0m", "m5"):
        with pytest.raises(InvalidInputError):
            sla.parse_duration(bad)
