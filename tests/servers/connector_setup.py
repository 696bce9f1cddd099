"""Shared set-up of connector tests: a migrated database with a secret key, a connector pointing
at a sandbox, incident commands that tell the outbound sync, and the sandbox's incidents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from pagerbridge.connectors import service
from pagerbridge.connectors.outbound import OutboundSync
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.settings import parse_config
from pagerbridge.incidents.commands import Commands

FROM = "oncall@example.com"


def add_connector(engine: Engine, sandbox: Any, name: str = "prod-pagerduty", **extra: Any) -> None:
    raw: dict[str, Any] = {
        "base_url": sandbox.url,
        "api_key": extra.pop("api_key", "sandbox-token"),
        "sync_direction": "bidirectional",
        "custom": {"service_id": "PDEMO01", "from_email": FROM, **extra.pop("custom", {})},
        **extra,
    }
    settings, secrets = parse_config(raw)
    with engine.begin() as conn:
        service.add(
            conn=conn,
            name=name,
            settings=settings,
            secrets=secrets,
            box=SecretBox.for_engine(engine),
        )


def commands(engine: Engine, actor: str = "alice", origin: str = "local") -> Commands:
    return Commands(
        sessionmaker(engine, expire_on_commit=False),
        actor=actor,
        origin=origin,
        listener=OutboundSync(),
    )


def pd_incidents(sandbox: Any) -> list[dict[str, Any]]:
    status, body = sandbox.rest("GET", "/incidents?date_range=all&limit=100")
    assert status == 200, body
    return list(body["incidents"])
