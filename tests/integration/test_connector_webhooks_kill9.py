"""kill -9 of the hub while it applies webhook events loses none and applies none twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from pagerbridge.agent.testing import free_port
from pagerbridge.connectors import links
from pagerbridge.connectors.models import (
    connector_subscriptions_table,
    connector_webhook_events_table,
)
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.incidents.commands import Commands
from pagerbridge.pagerduty.webhooks import build_envelope, sign
from servers.connector_setup import add_connector
from servers.waiting import wait_for

SECRET = "kill9-secret"
EVENTS = 150


def _hub(url: str, port: int) -> subprocess.Popen[bytes]:
    im = Path(sys.executable).parent / "im"
    proc = subprocess.Popen(
        [str(im), "serve", "--port", str(port), "--sla-interval", "0", "--db", url],
        env={**os.environ, "PAGERBRIDGE_SERVER": ""},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def up() -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(up, "the hub", 30)
    return proc


def _states(engine: sa.Engine) -> dict[str, int]:
    t = connector_webhook_events_table
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)).all()
    return {state: n for state, n in rows}


@pytest.mark.slow
def test_kill9_while_applying_loses_and_doubles_nothing(
    database_url: str, engine: sa.Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name="prod-pagerduty")
    im = Commands(sessionmaker(engine, expire_on_commit=False), actor="t", origin="local")
    ref = im.declare(title="Busy", severity="SEV-2")["incident"]["id"]
    number = int(ref.removeprefix("INC-"))
    box = SecretBox.for_engine(engine)
    with engine.begin() as conn:
        link, _ = links.ensure_link(
            conn,
            connector_id=1,
            incident_id=number,
            pd_service_id="PDEMO01",
            key="external",
            correlation_id=ref,
        )
        links.record_pd_incident(
            conn, link_id=link.id, pd_incident_id="PKILL01", number=1, html_url=None, status=None
        )
        conn.execute(
            sa.insert(connector_subscriptions_table).values(
                connector_id=1,
                pd_subscription_id="PSUBKILL",
                secret=box.encrypt_text(SECRET),
                key_fingerprint=box.fingerprint,
                url="http://hub/connectors/prod-pagerduty/webhook",
                state="active",
                created_at=time.time(),
            )
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}/connectors/prod-pagerduty/webhook"
    hub = _hub(database_url, port)
    try:
        for i in range(EVENTS):
            envelope = build_envelope(
                "incident.annotated",
                {
                    "id": f"PNOTE{i}",
                    "type": "incident_note",
                    "content": f"note {i}",
                    "incident": {"id": "PKILL01", "type": "incident_reference"},
                },
            )
            body = json.dumps(envelope).encode()
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={
                    "X-PagerDuty-Signature": sign(body, SECRET),
                    "Content-Type": "application/json",
                },
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.status == 202  # durable before this answer
        wait_for(lambda: _states(engine).get("applied", 0) > 0, "some applied", 30)
    finally:
        hub.send_signal(signal.SIGKILL)
        hub.wait()
    hub = _hub(database_url, port)
    try:
        wait_for(lambda: _states(engine) == {"applied": EVENTS}, "all applied after restart", 60)
    finally:
        hub.terminate()
        hub.wait()
    notes = [e["body"] for e in im.timeline(ref) if e["kind"] == "note"]
    assert sorted(notes) == sorted(f"note {i}" for i in range(EVENTS))  # each exactly once
