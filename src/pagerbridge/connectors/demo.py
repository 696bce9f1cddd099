"""The demo connector ``pagerbridge up`` makes in sandbox mode: ``im declare`` pages the sandbox.

It points at the built-in sandbox with its demo token, service PDEMO01 and From user, and maps
the local service ``default`` there, so every incident (whatever its services) reaches the demo
service with no other step. It is bidirectional: with the subscription ``up`` makes at every
start (:mod:`demo_webhook`), what happens in the sandbox (an acknowledgement, a note, an
incident an event opened) comes back to ``im``. Each start refreshes its address (the
sandbox's port may change); a connector called ``sandbox`` that points anywhere but a local
sandbox is left alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import sqlalchemy as sa

from pagerbridge.connectors import records, service
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.settings import parse_config
from pagerbridge.errors import ConnectorNotFoundError

DEMO_NAME: Final = "sandbox"
_LOCAL_HOSTS: Final = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class DemoConnector:
    name: str
    #: What happened: "created", "updated" (new address), "kept", or "left alone" (not ours).
    action: str


def ensure_demo_connector(
    engine: sa.Engine,
    sandbox_url: str,
    *,
    token: str,
    service_id: str,
    from_email: str,
) -> DemoConnector:
    settings, secrets = parse_config(
        {
            "base_url": sandbox_url,
            "api_key": token,
            "sync_direction": "bidirectional",
            "custom": {
                "service_id": service_id,
                "from_email": from_email,
                "service_mappings": {"default": service_id},
            },
        }
    )
    box = SecretBox.for_engine(engine)
    with engine.begin() as conn:
        try:
            existing = records.load(conn, DEMO_NAME)
        except ConnectorNotFoundError:
            service.add(conn=conn, name=DEMO_NAME, settings=settings, secrets=secrets, box=box)
            return DemoConnector(DEMO_NAME, "created")
        if urlsplit(existing.settings.base_url).hostname not in _LOCAL_HOSTS:
            return DemoConnector(DEMO_NAME, "left alone")
        changes = {
            key: value
            for key, value in (
                ("base_url", settings.base_url),
                ("sync_direction", settings.sync_direction),
            )
            if getattr(existing.settings, key) != value
        }
        if not changes:
            return DemoConnector(DEMO_NAME, "kept")
        service.update(conn=conn, name=DEMO_NAME, changes=changes)
        return DemoConnector(DEMO_NAME, "updated")
