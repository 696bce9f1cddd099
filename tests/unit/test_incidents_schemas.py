"""The JSON shapes of ``serialize`` match the API's response models exactly.

The API answers with those shapes directly (no second validation), so this test is what keeps the
OpenAPI document honest: every key present, no key the models do not declare.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import sessionmaker

from pagerbridge.incidents import schemas
from pagerbridge.incidents.commands import Commands
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade


def exact(model: type[BaseModel], data: Any) -> None:
    parsed = model.model_validate(data)
    assert parsed.model_dump(mode="json", exclude_unset=True) == data


def test_serialized_shapes_match_response_models(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    cmds = Commands(sessionmaker(engine, expire_on_commit=False), actor="a", origin="api")
    declared = cmds.declare(
        title="t", severity="SEV-1", services=["db", "api"], custom_fields={"n": 1}
    )
    exact(schemas.DeclaredOut, declared)
    exact(schemas.IncidentAnswer, cmds.transition("INC-1", "ack", note="x"))
    exact(schemas.IncidentAnswer, cmds.assign("INC-1", "bob"))
    exact(schemas.IncidentAnswer, cmds.show("INC-1"))
    exact(schemas.EntryOut, cmds.note("INC-1", "hello"))
    exact(schemas.TimelineOut, {"entries": cmds.timeline("INC-1")})
    exact(schemas.IncidentPage, cmds.list_incidents())
    exact(schemas.ServiceList, {"services": cmds.service_list()})
    exact(schemas.ServiceOut, cmds.service_add("web", owner_team="t"))
    exact(schemas.SlaList, {"policies": cmds.sla_show()})
    exact(schemas.SlaOut, cmds.sla_set("SEV-2", ack="10m"))
    exact(schemas.BreachList, {"breaches": cmds.sla_check()})
    later = Commands(
        cmds.sessions, actor="a", origin="api", now=datetime.now(UTC) + timedelta(days=9)
    )
    breaches = later.sla_check()
    assert [(b["incident"], b["sla"]) for b in breaches] == [("INC-1", "resolve")]  # it was acked
    exact(schemas.BreachList, {"breaches": breaches})
    exact(schemas.TokenCreated, cmds.token_create("x"))
    exact(schemas.TokenList, {"tokens": cmds.token_list()})
    engine.dispose()
