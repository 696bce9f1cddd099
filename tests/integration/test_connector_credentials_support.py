"""Support for the connector credential tests (no tests here): a migrated database, a connector
row, the sandbox's OAuth token store on a clock the test moves."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from pagerbridge.connectors.models import connectors_table
from pagerbridge.connectors.records import ConnectorRecord, load
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.settings import dump_settings, parse_config
from pagerbridge.sandbox.oauth_store import TokenStore
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"


class MovableClock:
    """Epoch seconds that a test moves forward (shared by our code and the sandbox's tokens)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def migrated(url: str) -> sa.Engine:
    engine = make_engine(url)
    upgrade(engine)
    return engine


def add_connector(
    engine: sa.Engine, box: SecretBox, name: str, config: Mapping[str, Any]
) -> ConnectorRecord:
    """Store a connector the way ``im connector add`` does (settings validated, secrets
    encrypted)."""
    settings, secrets = parse_config(config)
    now = time.time()
    with engine.begin() as conn:
        conn.execute(
            sa.insert(connectors_table).values(
                name=name,
                type="pagerduty",
                status="active",
                sync_direction=settings.sync_direction,
                settings=dump_settings(settings),
                secrets=box.encrypt(secrets),
                key_fingerprint=box.fingerprint,
                created_at=now,
                updated_at=now,
            )
        )
        return load(conn, name)


def oauth_config(sandbox_url: str, auth_type: str, **oauth: Any) -> dict[str, Any]:
    return {
        "base_url": sandbox_url,
        "auth_type": auth_type,
        "oauth": {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "subdomain": "sandbox",
            "token_url": f"{sandbox_url}/oauth/token",
            "authorize_url": f"{sandbox_url}/oauth/authorize",
            **oauth,
        },
        "custom": {"service_id": "PDEMO01", "from_email": "demo@example.com"},
    }


def token_store(sandbox: Any) -> TokenStore:
    """The sandbox's OAuth token store (in-thread sandbox), to put it on the test's clock."""
    (validate,) = sandbox.runtime.bearer_validators
    store: TokenStore = validate.__self__
    return store
