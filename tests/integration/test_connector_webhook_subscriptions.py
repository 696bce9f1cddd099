"""``im connector webhook``: subscriptions made through the sandbox's REST API over real HTTP,
their secrets stored encrypted (SQLite and PostgreSQL), enabled once, scoped as Keep scopes,
deleted by ``--disable`` and ``remove`` (best effort when PagerDuty is down), and refused when
they could not work. ``--test`` and ``--rotate`` against a real hub: in
test_connector_webhook_subscriptions_hub.py.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from pagerbridge.cli._common import run_app
from pagerbridge.cli.im_app import app
from pagerbridge.connectors.models import connector_subscriptions_table
from pagerbridge.connectors.secrets import SecretBox, generate_key
from pagerbridge.connectors.subscription_rows import open_secret
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

NAME = "prod-pagerduty"
PUBLIC = "http://hub.example.test:8080"


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


class Im:
    """``im`` in this process (the same ``run_app`` as the command): (exit code, out, err)."""

    def __init__(self, db: str, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch):
        self.db, self.capsys, self.mp = db, capsys, mp

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        self.mp.setattr(sys, "stdin", io.StringIO(""))
        with pytest.raises(SystemExit) as done:
            run_app(app, "im", [*args, "--db", self.db])
        out, err = self.capsys.readouterr()
        return int(done.value.code or 0), out, err

    def ok(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    def add(self, pd: SandboxHandle | None, name: str = NAME, **changes: Any) -> None:
        """A receiving connector on ``pd`` (or on a URL in ``changes``), its demo credentials."""
        config: dict[str, Any] = {
            "base_url": pd.api_url if pd else None,
            "api_key": "sandbox-token",
            "sync_direction": "bidirectional",
            "custom": {"service_id": "PDEMO01", "from_email": "oncall@example.com"},
        }
        config.update(changes)
        code, _, err = self("connector", "add", "pagerduty", name, "--config", json.dumps(config))
        assert code == 0, err


def prepare(db: str, capsys: Any, monkeypatch: pytest.MonkeyPatch, pd: SandboxHandle) -> Im:
    for name in ("PAGERBRIDGE_DATABASE_URL", "PAGERBRIDGE_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())  # PostgreSQL needs it
    pd.reset()
    engine = make_engine(db)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return Im(db, capsys, monkeypatch)


@pytest.fixture
def im(sqlite_url: str, capsys: Any, monkeypatch: pytest.MonkeyPatch, pd: SandboxHandle) -> Im:
    return prepare(sqlite_url, capsys, monkeypatch, pd)


def pd_subscriptions(pd: SandboxHandle) -> list[dict[str, Any]]:
    status, body = pd.rest("GET", "/webhook_subscriptions")
    assert status == 200, body
    return list(body["webhook_subscriptions"])


def stored(db: str) -> list[Any]:
    engine = make_engine(db)
    try:
        with engine.connect() as conn:
            t = connector_subscriptions_table
            return list(conn.execute(sa.select(t).order_by(t.c.id)))
    finally:
        engine.dispose()


def test_enable_stores_the_secret_encrypted_and_subscribes_once(
    database_url: str,
    capsys: Any,
    monkeypatch: pytest.MonkeyPatch,
    pd: SandboxHandle,
    contract_dir: Path,
) -> None:
    im = prepare(database_url, capsys, monkeypatch, pd)
    im.add(pd)
    code, out, err = im("connector", "webhook", NAME, "--enable", "--public-url", PUBLIC + "/")
    assert code == 0, err
    assert "is not HTTPS" in err and "production should use https://" in err
    [sub] = pd_subscriptions(pd)
    assert f"✓ webhook subscription {sub['id']} created for connector {NAME}" in out
    url = f"{PUBLIC}/connectors/{NAME}/webhook"
    assert sub["delivery_method"]["url"] == url
    # Exactly one PagerDuty service: scoped to it, as Keep does; every documented incident type.
    assert sub["filter"] == {"type": "service_reference", "id": pd.service_id}
    documented = json.loads(
        (contract_dir / "webhooks-v3-event-types-and-examples.json").read_text()
    )
    incident_types = {
        e["event_type"]
        for e in documented["event_types"]
        if e["event_type"].startswith("incident.")
    }
    assert set(sub["events"]) == incident_types and len(sub["events"]) == len(incident_types)

    [row] = stored(database_url)
    secret = pd.runtime.state.webhook_subscriptions[sub["id"]]["delivery_method"]["secret"]
    assert (row.pd_subscription_id, row.state, row.url) == (sub["id"], "active", url)
    assert secret not in row.secret and row.first_verified_at is None
    engine = make_engine(database_url)
    try:
        assert open_secret(SecretBox.for_engine(engine), row.secret, row.key_fingerprint) == secret
    finally:
        engine.dispose()
    assert secret not in out + err
    status = im.ok("connector", "status", NAME)["connector"]
    assert status["settings"]["public_url"] == PUBLIC
    assert status["webhook"]["state"] == "subscribed"
    assert status["webhook"]["subscriptions"][0]["id"] == sub["id"]

    again = im.ok("connector", "webhook", NAME, "--enable")
    assert again["enabled"]["created"] is False
    assert again["enabled"]["subscription"]["id"] == sub["id"]
    assert again["webhook"]["state"] == "subscribed"
    assert pd.count_requests("POST", "/webhook_subscriptions") == 1
    assert len(stored(database_url)) == 1

    gone = im.ok("connector", "webhook", NAME, "--disable")
    assert gone["disabled"] == {"deleted": [sub["id"]], "already_gone": [], "left": []}
    assert pd_subscriptions(pd) == [] and stored(database_url) == []
    code, out, _ = im("connector", "webhook", NAME, "--disable")
    assert code == 0 and f"connector {NAME} has no webhook subscription" in out
    assert im.ok("connector", "status", NAME)["connector"]["webhook"]["enabled"] is False


def test_enable_refuses_what_could_not_work(im: Im, pd: SandboxHandle) -> None:
    im.add(pd)
    code, _, err = im("connector", "webhook", NAME, "--enable")
    assert code == 4
    assert f"error: connector {NAME} has no public URL" in err
    assert "hint: give --public-url https://hub.example.com" in err

    im.add(pd, "outbound-pd", sync_direction="outbound")
    code, _, err = im("connector", "webhook", "outbound-pd", "--enable", "--public-url", PUBLIC)
    assert code == 4 and "syncs outbound only: the hub does not take its webhooks" in err
    assert "im connector update outbound-pd --sync-direction bidirectional" in err

    code, _, err = im("connector", "webhook", NAME, "--disable", "--test")
    assert code == 2 and "--disable goes alone" in err
    code, _, err = im("connector", "webhook", NAME, "--wait")
    assert code == 2
    code, _, err = im("connector", "webhook", "nope", "--enable")
    assert code == 3
    assert pd.count_requests("POST", "/webhook_subscriptions") == 0

    code, out, _ = im("connector", "webhook", NAME)
    assert code == 0 and out.startswith("Webhook: not subscribed (im connector webhook")


def test_several_services_subscribe_the_account_and_test_says_why_it_failed(
    im: Im, pd: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    im.add(pd, custom={"service_id": pd.service_id, "from_email": pd.user_email,
                       "service_mappings": {"db": "PDBSRV1"}})  # fmt: skip
    closed = "http://127.0.0.1:9"  # nothing listens there
    done = im.ok("connector", "webhook", NAME, "--enable", "--public-url", closed)
    assert done["enabled"]["scope"] == {"type": "account_reference", "id": None}
    [sub] = pd_subscriptions(pd)
    assert sub["filter"] == {"type": "account_reference"}

    code, out, _ = im("connector", "webhook", NAME, "--test", "--timeout", "0.3")
    assert code == 1
    assert "✗ PagerDuty's ping did not reach the hub verified within 0.3s (subscription " in out
    assert "likely causes:" in out and "the hub is not running" in out
    assert "firewall or IP allowlist" in out
    assert pd.count_requests("POST", f"/webhook_subscriptions/{sub['id']}/ping") == 1


def test_disable_and_remove_delete_in_pagerduty_best_effort(im: Im, pd: SandboxHandle) -> None:
    im.add(pd)
    first = im.ok("connector", "webhook", NAME, "--enable", "--public-url", PUBLIC)
    sub_id = first["enabled"]["subscription"]["id"]
    status, _ = pd.rest("DELETE", f"/webhook_subscriptions/{sub_id}")  # deleted by hand there
    assert status == 204
    gone = im.ok("connector", "webhook", NAME, "--disable")
    assert gone["disabled"] == {"deleted": [], "already_gone": [sub_id], "left": []}

    second = im.ok("connector", "webhook", NAME, "--enable")["enabled"]["subscription"]["id"]
    removed = im.ok("connector", "remove", NAME, "--yes")
    assert removed["webhook_subscriptions"]["deleted"] == [second]
    assert pd_subscriptions(pd) == [] and stored(im.db) == []

    im.add(pd, "other-pd")
    third = im.ok("connector", "webhook", "other-pd", "--enable", "--public-url", PUBLIC)
    third_id = third["enabled"]["subscription"]["id"]
    pd.set_faults(error_rate=1.0, error_status=503, routes=["/webhook_subscriptions"])
    try:
        code, out, err = im("connector", "remove", "other-pd", "--yes")
    finally:
        pd.set_faults()
    assert code == 0, err
    assert (
        f"✗ left in PagerDuty: subscription {third_id} ({PUBLIC}/connectors/other-pd/webhook)"
        in out
    )
    assert [s["id"] for s in pd_subscriptions(pd)] == [third_id]
    assert stored(im.db) == []  # the connector and its rows are gone all the same
