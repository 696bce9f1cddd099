"""Observing a connector (issue 14 item 8) against the sandbox and a real hub: ``im logs``,
``im metrics connector``, the hub's Prometheus metrics, ``im connector health`` — healthy on
SQLite and PostgreSQL, and each unhealthy case with its reason and exit 1.

``im`` runs in this process through the same ``run_app`` as the command (see
test_im_connector_cli.py); ``--follow`` runs as a real process in test_connector_observe_cli.py.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from pagerbridge.cli._common import run_app
from pagerbridge.cli.im_app import app
from pagerbridge.pagerduty.webhooks import build_envelope
from pagerbridge.server.testing import running_hub
from servers.connector_setup import (
    add_connector,
    commands,
    events_stored,
    pd_incidents,
    post_webhook,
    subscribe,
)
from servers.waiting import wait_for

NAME = "prod-pagerduty"


class Im:
    """``im ... --db URL`` in this process: (exit code, stdout, stderr)."""

    def __init__(self, url: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.url, self.capsys = url, capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            run_app(app, "im", [*args, "--db", self.url])
        out, err = self.capsys.readouterr()
        return int(done.value.code or 0), out, err

    def json(self, *args: str, code: int = 0) -> Any:
        got, out, err = self(*args, "--json")
        assert got == code, (got, out, err)
        return json.loads(out)


def scrape(hub: Any) -> str:
    request = urllib.request.Request(
        hub.url + "/metrics", headers={"Authorization": f"Bearer {hub.create_token('prom')}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(answer.read().decode())


def states(engine: Engine) -> list[str]:
    return [state for _, state in events_stored(engine)]


def test_a_working_connector_observed(
    database_url: str, engine: Engine, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    add_connector(engine, sandbox, name=NAME, api_key=sandbox.user_token)
    im = Im(database_url, capsys)
    with running_hub(database_url, sla_interval=None) as hub:
        subscribe(engine, sandbox, hub.url)
        ref = commands(engine).declare(title="Disk full", severity="SEV-1")["incident"]["id"]
        [pd] = wait_for(lambda: pd_incidents(sandbox), "the PagerDuty incident")
        status, body = sandbox.rest(
            "PUT",
            f"/incidents/{pd['id']}",
            {"incident": {"type": "incident_reference", "status": "acknowledged"}},
            from_email="backup@example.com",
        )
        assert status == 200, body
        wait_for(lambda: "applied" in states(engine), "the acknowledgement applied")
        forged = json.dumps(build_envelope("incident.acknowledged", {"id": pd["id"]})).encode()
        forge = [post_webhook(hub.url, forged, "v1=" + "0" * 64)[0] for _ in range(3)]
        assert forge == [401, 401, 401]
        assert post_webhook(hub.url, forged, None)[0] == 401

        def refusals() -> list[dict[str, Any]]:
            found = im.json("logs", "--component", "webhook", "--level", "warning")["logs"]
            return found if len(found) >= 2 else []

        refused = wait_for(refusals, "the refusals in im logs")
        text = scrape(hub)
        assert f'pagerbridge_connector_incidents{{connector="{NAME}"}} 1.0' in text
        assert 'pagerbridge_hub_webhook_deliveries_total{outcome="forged"} 3.0' in text
        assert 'pagerbridge_hub_webhook_deliveries_total{outcome="unsigned"} 1.0' in text
        assert f'pagerbridge_connector_syncs_24h{{connector="{NAME}",outcome="synced"}}' in text
        applied = states(engine).count("applied")
        assert (
            f'pagerbridge_connector_webhook_events_24h{{connector="{NAME}",state="applied"}} '
            f"{float(applied)}" in text
        )
    # Three forged calls in a minute are one record (throttled); the unsigned one is its own.
    assert sorted(r["data"]["reason"] for r in refused) == ["forged", "unsigned"]
    assert all(r["connector"] == NAME and r["data"]["client"] == "127.0.0.1" for r in refused)
    assert "forged webhook refused (401)" in json.dumps(refused)

    # im logs --component webhook --filter pagerduty: the refusals and the applied events.
    code, out, _ = im("logs", "--component", "webhook", "--filter", "pagerduty")
    assert code == 0
    assert f"WARNING webhook {NAME}: forged webhook refused (401)" in out
    assert f"INFO webhook {NAME}: incident.acknowledged {pd['id']} applied:" in out
    assert im.json("logs", "--filter", "no-such-thing")["logs"] == []
    synced = im.json("logs", "--component", "sync", "--since", "1h")["logs"]
    assert synced and synced[0]["message"].startswith(f"INC-{ref.split('-')[1]} declared:")
    assert im.json("logs", "--since", "2099-01-01T00:00:00Z")["logs"] == []

    # im metrics connector: the hub wrote the calls it counted when it stopped.
    made = len(sandbox.requests(api="rest", token=sandbox.user_token))
    m = im.json("metrics", "connector", NAME)["metrics"]
    assert m["total_incidents"] == 1 and m["sync_success_rate"] == 1.0
    assert m["api_calls_24h"] == made > 0
    assert m["rate_limit_usage"] == pytest.approx(m["peak_calls_per_minute"] / 960)
    assert 0 < m["average_sync_seconds"] < 5
    assert m["webhook_events_24h"] == len(states(engine))
    code, out, _ = im("metrics", "connector", NAME)
    assert out.splitlines()[:3] == [
        f"Connector: {NAME}",
        "Total Incidents: 1",
        "Sync Success Rate: 100.0%",
    ]
    assert f"API Calls (24h): {made}" in out and "Rate Limit Usage: " in out

    # im connector health: the reference's block, healthy.
    code, out, err = im("connector", "health", NAME)
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[0] == "Health: Healthy"
    assert lines[1].startswith("API Connectivity: ✓ Connected (") and "ms response time)" in out
    assert lines[2:4] == ["Authentication: ✓ Valid API key", "Service Access: ✓ PDEMO01 accessible"]
    assert lines[4].startswith("Webhook: ✓ Receiving events (last: ")
    assert lines[5].startswith("Sync Status: ✓ Up to date (last sync: ")
    assert lines[6] == "Error Rate: 0% (0 errors in 24h)"


def test_unhealthy_connectors_say_why(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pagerbridge.connectors.secrets import generate_key
    from pagerbridge.sandbox.testing import running_sandbox
    from pagerbridge.store.engine import make_engine
    from pagerbridge.store.migrate import upgrade

    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())
    engine = make_engine(sqlite_url)
    upgrade(engine)
    im = Im(sqlite_url, capsys)
    with running_sandbox() as sandbox:
        add_connector(
            engine, sandbox, name="bad-key", api_key="not-a-key", sync_direction="inbound"
        )
        add_connector(
            engine,
            sandbox,
            name="bad-service",
            sync_direction="outbound",
            custom={"service_id": "PNOPE01"},
        )
        add_connector(engine, sandbox, name="read-only", api_key=sandbox.readonly_token)
        with engine.begin() as conn:  # only read-only sends: the others would fail too
            conn.execute(
                sa.text("UPDATE connectors SET status = 'disabled' WHERE name != 'read-only'")
            )
        commands(engine).declare(title="Disk full", severity="SEV-1")
        code, _, _ = im("connector", "sync", "read-only")
        assert code != 0  # PagerDuty refused the write: a dead letter
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE connectors SET status = 'active'"))

        bad_key = im.json("connector", "health", "bad-key", code=1)
        code, out, _ = im("connector", "health", "bad-key")
        bad_service = im.json("connector", "health", "bad-service", code=1)
        read_only = im.json("connector", "health", "read-only", code=1)
        made = len(sandbox.requests(api="rest", token=sandbox.readonly_token))

    assert code == 1 and out.splitlines()[0] == "Health: Unhealthy"
    assert "Authentication: ✗ PagerDuty refused the API key (HTTP 401" in out
    assert (
        "fix: check the key (PagerDuty: Integrations → API Access Keys), then: im connector "
        "update bad-key --api-key NEW_KEY" in out
    )
    assert "not-a-key" not in out
    checks = {c["check"]: c for c in bad_key["checks"]}
    assert checks["api"]["state"] == "ok" and checks["auth"]["state"] == "failed"
    assert checks["services"]["state"] == "unknown"
    assert checks["webhook"]["message"].startswith("Not subscribed")

    checks = {c["check"]: c for c in bad_service["checks"]}
    assert checks["services"]["message"] == "PNOPE01 not found (HTTP 404)"
    assert "--service-id CORRECT_SERVICE_ID" in checks["services"]["fix"]
    assert checks["webhook"]["state"] == "info"  # outbound: webhooks not used

    checks = {c["check"]: c for c in read_only["checks"]}
    assert checks["auth"]["state"] == "ok" and checks["services"]["state"] == "ok"
    rate = checks["error_rate"]
    assert rate["state"] == "failed" and rate["message"].startswith("100% (1 error in 24h; last:")
    assert "read-only" in rate["message"]

    # The dead letter is in im logs, and the sync's PagerDuty calls were counted.
    failed = im.json("logs", "--component", "sync", "--level", "error", "--connector", "read-only")
    [record] = failed["logs"]
    assert record["data"]["status"] == 403 and "read-only" in record["message"]
    m = im.json("metrics", "connector", "read-only")["metrics"]
    assert m["sync_success_rate"] == 0.0 and m["errors_24h"] == 1
    assert m["api_calls_24h"] == made - 2  # health's own two GETs are not the connector's work
    code, _, err = im("logs", "--component", "mail")
    assert code == 2 and "--component 'mail' is not one of webhook, sync" in err
    code, _, err = im("logs", "--since", "yesterday-ish")
    assert code == 2 and "--since 'yesterday-ish' is neither a duration nor a time" in err
    engine.dispose()
