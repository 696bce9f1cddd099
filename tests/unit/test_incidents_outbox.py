"""The shape the PagerDuty connector needs: a state change and its outbox row commit together.

Service functions take the session and never commit, so an outbox row added on the same
connection commits with the change, or neither does.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pagerbridge.incidents import service, timeline
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

outbox_tables = pytest.importorskip("pagerbridge.outbox.tables", reason="outbox not present")


def test_state_change_and_outbox_row_commit_or_roll_back_together(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with Session(engine) as s, s.begin():
        service.declare(session=s, title="x", severity="SEV-1", actor="a")
    with Session(engine) as s, s.begin():
        inc = service.transition(session=s, ref="INC-1", action="ack", actor="a")
        outbox_tables.enqueue_in_transaction(
            s.connection(), "incident.ack", {"incident": "INC-1"}, f"incident:{inc.id}"
        )
    with pytest.raises(RuntimeError), Session(engine) as s, s.begin():
        service.transition(session=s, ref="INC-1", action="resolve", actor="a")
        outbox_tables.enqueue_in_transaction(
            s.connection(), "incident.resolve", {"incident": "INC-1"}, "incident:1"
        )
        raise RuntimeError("the connector failed after enqueueing")
    with Session(engine) as s:
        assert service.get_incident(session=s, ref="INC-1").status == "mitigated"
        assert [e.kind for e in timeline.entries(session=s, incident_id=1)] == [
            "declared",
            "status",
        ]
        kinds = s.execute(sa.select(outbox_tables.outbox_table.c.kind)).scalars().all()
        assert kinds == ["incident.ack"]
    engine.dispose()
