"""The incident domain on SQLite and PostgreSQL: lifecycle, services, timeline, notes, listing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pagerbridge.errors import ConflictError, IllegalTransitionError, IncidentNotFoundError
from pagerbridge.incidents import catalog, service, timeline
from pagerbridge.incidents.errors import InvalidInputError, ServiceInUseError
from pagerbridge.incidents.lifecycle import parse_ref, parse_severity, split_services
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def declare(engine: Engine, title: str = "db down", **kw: object) -> str:
    with Session(engine) as s, s.begin():
        kw.setdefault("severity", "SEV-2")
        d = service.declare(session=s, title=title, actor="alice", now=T0, **kw)  # type: ignore[arg-type]
        return f"INC-{d.incident.id}"


def test_full_lifecycle_records_timeline_and_timestamps(engine: Engine) -> None:
    ref = declare(engine, services=["db", "api"], assignee="bob", custom_fields={"region": "eu"})
    steps = [("ack", 1), ("resolve", 2), ("close", 3), ("reopen", 4), ("resolve", 5)]
    for action, minutes in steps:
        with Session(engine) as s, s.begin():
            service.transition(
                session=s,
                ref=ref,
                action=action,
                actor="carol",
                origin="api",
                note=f"{action} note",
                now=T0 + timedelta(minutes=minutes),
            )
    with Session(engine) as s:
        inc = service.get_incident(session=s, ref=ref)
        assert inc.status == "resolved"
        assert inc.resolved_at == T0 + timedelta(minutes=5)
        assert inc.reopened_at == T0 + timedelta(minutes=4)
        assert inc.sla_started_at == T0 + timedelta(minutes=4)
        assert inc.mitigated_at is None and inc.closed_at is None  # cleared by the reopen
        assert inc.correlation_id and len(inc.correlation_id) == 36
        assert [x.name for x in inc.services] == ["api", "db"]
        assert inc.custom_fields == {"region": "eu"} and inc.assignee == "bob"
        assert inc.version == 6
        entries = timeline.entries(session=s, incident_id=inc.id)
        assert [e.kind for e in entries] == ["declared"] + ["status"] * 5
        assert entries[1].data == {
            "action": "ack",
            "from": "open",
            "to": "mitigated",
            "note": "ack note",
        }
        assert entries[1].origin == "api" and entries[1].actor == "carol"
        assert entries[0].at == T0 and entries[0].at.tzinfo is not None
        assert entries[0].data["created_services"] == ["db", "api"]


@pytest.mark.parametrize(
    ("path", "action", "message"),
    [
        ([], "close", "cannot close INC-1: it is open; resolve it before closing"),
        (["ack"], "ack", "cannot ack INC-1: it is already mitigated (acknowledged)"),
        (["resolve"], "ack", "cannot ack INC-1: it is resolved; reopen it first"),
        ([], "reopen", "cannot reopen INC-1: it is already open"),
        (["resolve", "close"], "resolve", "cannot resolve INC-1: it is closed; reopen it first"),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(
    engine: Engine, path: list[str], action: str, message: str
) -> None:
    ref = declare(engine)
    for step in path:
        with Session(engine) as s, s.begin():
            service.transition(session=s, ref=ref, action=step, actor="a")
    with Session(engine) as s:
        before = service.get_incident(session=s, ref=ref).version
    with Session(engine) as s, s.begin(), pytest.raises(IllegalTransitionError) as info:
        service.transition(session=s, ref=ref, action=action, actor="a")
    assert str(info.value) == message
    with Session(engine) as s:
        inc = service.get_incident(session=s, ref=ref)
        assert inc.version == before
        assert len(timeline.entries(session=s, incident_id=inc.id)) == 1 + len(path)


def test_numbers_count_up_per_database(engine: Engine) -> None:
    refs = [declare(engine, title=f"t{i}") for i in range(3)]
    assert refs == ["INC-1", "INC-2", "INC-3"]


def test_declare_creates_missing_services_and_reuses_existing(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        catalog.create_service(session=s, name="db", owner_team="dba", default_severity="SEV-1")
    with Session(engine) as s, s.begin():
        d = service.declare(
            session=s, title="x", severity="sev3", services=["db", "web"], actor="a"
        )
        assert d.created_services == ["web"]
        assert d.incident.severity == "SEV-3"
    with Session(engine) as s, s.begin():
        assert [x.name for x in catalog.list_services(session=s)] == ["db", "web"]
        assert catalog.get_service(session=s, name="db").owner_team == "dba"
        with pytest.raises(ServiceInUseError, match="referred to by 1 incident"):
            catalog.remove_service(session=s, name="db")
        with pytest.raises(ConflictError, match="already exists"):
            catalog.create_service(session=s, name="db")
    with Session(engine) as s, s.begin():
        catalog.create_service(session=s, name="spare")
        catalog.remove_service(session=s, name="spare")
    with Session(engine) as s:
        assert "spare" not in [x.name for x in catalog.list_services(session=s)]


def test_notes_and_assignment(engine: Engine) -> None:
    ref = declare(engine)
    with Session(engine) as s, s.begin():
        service.add_note(session=s, ref=ref, body="looking at replicas", actor="bob")
        service.assign(session=s, ref=ref, assignee="bob", actor="bob", note="mine")
    with (
        Session(engine) as s,
        s.begin(),
        pytest.raises(InvalidInputError, match="must not be empty"),
    ):
        service.add_note(session=s, ref=ref, body="  ", actor="bob")
    with Session(engine) as s:
        inc = service.get_incident(session=s, ref=ref)
        assert inc.assignee == "bob"
        kinds = [(e.kind, e.body) for e in timeline.entries(session=s, incident_id=inc.id)]
        assert kinds[1:] == [("note", "looking at replicas"), ("assigned", "assigned to bob: mine")]


def test_expected_version_conflict(engine: Engine) -> None:
    ref = declare(engine)
    with Session(engine) as s, s.begin():
        service.add_note(session=s, ref=ref, body="n", actor="a")
    with Session(engine) as s, s.begin(), pytest.raises(ConflictError, match="changed since"):
        service.transition(session=s, ref=ref, action="ack", actor="a", expected_version=1)


def test_not_found_and_bad_input(engine: Engine) -> None:
    with Session(engine) as s:
        with pytest.raises(IncidentNotFoundError, match="no incident INC-42"):
            service.get_incident(session=s, ref="INC-42")
        with pytest.raises(InvalidInputError, match="not an incident id"):
            service.get_incident(session=s, ref="INC-x")
    with Session(engine) as s, s.begin():
        with pytest.raises(InvalidInputError, match="severity 'SEV-9' is invalid"):
            service.declare(session=s, title="x", severity="SEV-9", actor="a")
        with pytest.raises(InvalidInputError, match="title must not be empty"):
            service.declare(session=s, title=" ", severity="SEV-1", actor="a")


def test_list_filters_and_pages(engine: Engine) -> None:
    for i in range(7):
        declare(
            engine,
            title=f"t{i}",
            severity="SEV-1" if i % 2 else "SEV-3",
            services=["db"] if i < 3 else ["web"],
        )
    with Session(engine) as s, s.begin():
        service.transition(session=s, ref="INC-7", action="ack", actor="a")
    with Session(engine) as s:
        page = service.list_incidents(session=s, limit=3)
        assert [i.id for i in page.items] == [7, 6, 5] and page.more
        page = service.list_incidents(session=s, limit=3, offset=6)
        assert [i.id for i in page.items] == [1] and not page.more
        assert [i.id for i in service.list_incidents(session=s, service="db").items] == [3, 2, 1]
        assert [i.id for i in service.list_incidents(session=s, severity="SEV-1").items] == [
            6,
            4,
            2,
        ]
        assert [i.id for i in service.list_incidents(session=s, status="acknowledged").items] == [7]
        with pytest.raises(InvalidInputError, match="status 'gone' is invalid"):
            service.list_incidents(session=s, status="gone")


def test_lifecycle_parsers() -> None:
    assert parse_ref("inc-7") == 7 and parse_ref("12") == 12
    assert parse_severity("2") == "SEV-2"
    assert split_services("db, api,db") == ["db", "api"]
    with pytest.raises(InvalidInputError, match="service name 'a b' is invalid"):
        split_services("a b")
