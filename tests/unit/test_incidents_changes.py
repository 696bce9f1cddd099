"""The Core write path of changes (pagerbridge.incidents.changes) on SQLite and PostgreSQL: what it
writes, and that its version guard refuses a stale write without appending to the timeline."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from pagerbridge.errors import ConflictError
from pagerbridge.incidents import changes, service, timeline
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    upgrade(eng)
    with Session(eng) as s, s.begin():
        service.declare(
            session=s, title="t", severity="SEV-2", services=["db", "api"], actor="a", now=T0
        )
    yield eng
    eng.dispose()


def test_transition_returns_and_stores_the_new_state(engine: Engine) -> None:
    at = T0 + timedelta(minutes=3)
    with engine.begin() as conn:
        changed = changes.transition(
            conn, ref="INC-1", action="ack", actor="bob", origin="api", note="mine", now=at
        )
    assert changed.incident["status"] == "mitigated" and changed.incident["version"] == 2
    assert changed.incident["mitigated_at"] == at and changed.incident["services"] == ["api", "db"]
    assert changed.entry["body"] == "open → mitigated: mine" and changed.entry["id"] > 0
    with Session(engine) as s:
        inc = service.get_incident(session=s, ref=1)
        assert (inc.status, inc.version, inc.mitigated_at) == ("mitigated", 2, at)
        entries = timeline.entries(session=s, incident_id=1)
        assert [(e.id, e.kind, e.actor, e.origin, e.at) for e in entries[1:]] == [
            (changed.entry["id"], "status", "bob", "api", at)
        ]


def test_a_stale_version_is_refused_and_appends_nothing(engine: Engine) -> None:
    """The UPDATE's version guard: the second line of defence behind the row lock."""
    with engine.begin() as conn:
        values = changes.lock(conn, "INC-1")
        values["version"] -= 1  # as if read before someone else's change
        values["status"] = "mitigated"
        with pytest.raises(ConflictError, match="INC-1 was changed by someone else"):
            changes._write(
                conn, values, kind="status", actor="x", origin="local", at=T0, body="", data=None
            )
    with Session(engine) as s:
        inc = service.get_incident(session=s, ref=1)
        assert (inc.status, inc.version) == ("open", 1)
        assert len(timeline.entries(session=s, incident_id=1)) == 1
