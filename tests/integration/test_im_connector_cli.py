"""``im connector`` against a real sandbox over HTTP: the reference's quick setup, ``test``'s
checks and fixes (401, 404, read-only key, webhook), mappings, import, remove, and no secret in
any output. Most tests run ``im``'s Typer app in this process (the same ``run_app`` as the
``im`` command); tests/integration/test_im_connector_cli_e2e.py runs real ``im`` processes.
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
from pagerbridge.outbox.tables import outbox_table
from pagerbridge.sandbox.testing import SandboxHandle, free_port, running_sandbox
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

SECRET = "sandbox-token"


@pytest.fixture(scope="module")
def pd() -> Iterator[SandboxHandle]:
    with running_sandbox() as handle:
        yield handle


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name in ("PAGERBRIDGE_DATABASE_URL", "PAGERBRIDGE_SECRET_KEY", "PAGERBRIDGE_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAGERBRIDGE_ACTOR", "alice")
    return f"sqlite:///{tmp_path / 'pb.db'}"


class Im:
    """``im`` in this process: (exit code, stdout, stderr) of one command line."""

    def __init__(self, db: str, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch):
        self.db, self.capsys, self.mp = db, capsys, mp
        self.seen: list[str] = []

    def __call__(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.capsys.readouterr()
        self.mp.setattr(sys, "stdin", io.StringIO(stdin))
        with pytest.raises(SystemExit) as done:
            run_app(app, "im", [*args, "--db", self.db])
        out, err = self.capsys.readouterr()
        self.seen += [out, err]
        return int(done.value.code or 0), out, err

    def ok(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)


@pytest.fixture
def im(db: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Im:
    return Im(db, capsys, monkeypatch)


def config(pd: SandboxHandle, **changes: Any) -> str:
    """The reference's JSON configuration, pointed at the sandbox."""
    data: dict[str, Any] = {
        "base_url": pd.api_url,
        "api_key": SECRET,
        "sync_direction": "bidirectional",
        "sync_interval": "5m",
        "enable_webhook": True,
        "custom": {
            "service_id": pd.service_id,
            "from_email": "oncall@example.com",
            "escalation_policy_id": "PDEMOEP",
        },
    }
    data.update(changes)
    return json.dumps(data)


QUICK_SETUP = [
    "✓ Connected to PagerDuty API",
    "✓ Service PDEMO01 accessible",
    "✓ User oncall@example.com valid",
    "✓ Escalation policy PDEMOEP found",
    "? write access cannot be verified without a write",
]


def test_quick_setup_then_test_reads_only(im: Im, pd: SandboxHandle) -> None:
    code, out, _ = im("connector", "add", "pagerduty", "prod-pagerduty", "--config", config(pd))
    assert code == 0 and "connector prod-pagerduty added" in out
    seq = pd.clear_requests()
    code, out, _ = im("connector", "test", "prod-pagerduty")
    assert code == 0, "the webhook is not required"
    assert out.splitlines() == [
        *QUICK_SETUP,
        "✗ webhook not subscribed: run im connector webhook prod-pagerduty --enable "
        "--public-url URL",
    ]
    # With a subscription for the connector's URL in PagerDuty, the last line is the reference's.
    url = "http://127.0.0.1:9/connectors/prod-pagerduty/webhook"
    status, created = pd.rest(
        "POST",
        "/webhook_subscriptions",
        {
            "webhook_subscription": {
                "type": "webhook_subscription",
                "delivery_method": {"type": "http_delivery_method", "url": url},
                "events": ["incident.triggered"],
                "filter": {"type": "team_reference", "id": "PDEMOT1"},
            }
        },
    )
    assert status == 200, created
    try:
        im.ok("connector", "update", "prod-pagerduty", "--public-url", "http://127.0.0.1:9")
        seq = pd.clear_requests()
        code, out, _ = im("connector", "test", "prod-pagerduty")
        assert code == 0
        assert out.splitlines() == [*QUICK_SETUP, f"✓ Webhook endpoint configured ({url})"]
        made = pd.requests(after=seq)
        assert made and {r["method"] for r in made} == {"GET"}, "test never writes to PagerDuty"
        checks = im.ok("connector", "test", "prod-pagerduty")
        assert checks["ok"] is True
        assert [c["check"] for c in checks["checks"]] == [
            "api",
            "service:PDEMO01",
            "user",
            "escalation_policy:PDEMOEP",
            "write_access",
            "webhook",
        ]
    finally:
        pd.rest("DELETE", f"/webhook_subscriptions/{created['webhook_subscription']['id']}")
    assert all(SECRET not in text for text in im.seen), "no secret in any output"


def test_401_and_404_say_what_to_fix(im: Im, pd: SandboxHandle) -> None:
    im.ok("connector", "add", "pagerduty", "pd", "--config", config(pd))
    im.ok("connector", "update", "pd", "--api-key", "wrong-key-0123456789")
    code, out, _ = im("connector", "test", "pd")
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith("✗ PagerDuty API refused the API key (HTTP 401")
    assert lines[1] == (
        "  fix: check the key (PagerDuty: Integrations → API Access Keys), then: "
        "im connector update pd --api-key NEW_KEY"
    )
    assert "wrong-key-0123456789" not in out

    im.ok("connector", "update", "pd", "--api-key", SECRET)
    im.ok("connector", "config", "pd", "--service-id", "PNOSUCH")
    code, out, _ = im("connector", "test", "pd")
    assert code == 1
    assert "✗ Service PNOSUCH not found (HTTP 404)" in out
    assert "im connector import-services pd" in out and f"{pd.api_url}/services" in out
    assert "im connector config pd --service-id CORRECT_SERVICE_ID" in out
    code, out, _ = im("connector", "test", "pd", "--json")
    assert code == 1 and json.loads(out)["ok"] is False
    failed = [c for c in json.loads(out)["checks"] if c["state"] == "failed"]
    assert [c["check"] for c in failed] == ["service:PNOSUCH", "webhook"]
    assert [c["required"] for c in failed] == [True, False]

    # A read-only key reads everything: test cannot tell, and says so (not a failure).
    im.ok("connector", "config", "pd", "--service-id", pd.service_id)
    im.ok("connector", "update", "pd", "--api-key", pd.readonly_token)
    code, out, _ = im("connector", "test", "pd")
    assert code == 0 and "? write access cannot be verified without a write" in out
    assert all(SECRET not in t and pd.readonly_token not in t for t in im.seen)


def test_oauth_names_each_missing_scope(im: Im, pd: SandboxHandle) -> None:
    """The sandbox grants what the app asks for: ask for too little, and test names what lacks."""
    scopes = ["incidents.read", "services.read", "users.read", "escalation_policies.read"]
    oauth = {
        "client_id": "sandbox-client",
        "client_secret": "sandbox-secret",
        "subdomain": "sandbox",
        "token_url": f"{pd.url}/oauth/token",
        "scopes": scopes,
    }
    im.ok(
        "connector",
        "add",
        "pagerduty",
        "oa",
        "--config",
        config(pd, auth_type="oauth_app", oauth=oauth, api_key=None),
    )
    code, out, _ = im("connector", "test", "oa")
    assert code == 1, "incidents.write is required to send"
    lines = out.splitlines()
    assert "✓ Scope incidents.read granted" in lines
    assert (
        "✗ Scope incidents.write not granted (needed for creating and updating PagerDuty incidents)"
        in lines
    )
    assert [line.split()[2] for line in lines if line.startswith("✗ Scope")] == [
        "incidents.write",
        "webhook_subscriptions.read",
        "webhook_subscriptions.write",
    ]
    assert not any("write access cannot be verified" in line for line in lines)
    # Inbound only: nothing is written, so incidents.write is not required.
    im.ok("connector", "update", "oa", "--sync-direction", "inbound")
    assert im("connector", "test", "oa")[0] == 0
    im.ok("connector", "update", "oa", "--client-secret", "not-the-secret")
    code, out, _ = im("connector", "test", "oa")
    assert code == 1 and "invalid_client" in out and "--client-secret SECRET" in out
    assert all("sandbox-secret" not in t and "not-the-secret" not in t for t in im.seen)


def test_routing_key_connector_says_what_it_cannot_do(im: Im, pd: SandboxHandle) -> None:
    seq = pd.clear_requests()
    routing = {"auth_type": "routing_key", "routing_key": pd.routing_key, "api_key": None}
    im.ok("connector", "add", "pagerduty", "events", "--config", config(pd, **routing))
    code, out, _ = im("connector", "test", "events")
    assert code == 0 and out.splitlines()[0] == "✓ Routing key set (Events API mode)"
    assert "notes and assignment are not available" in out
    assert pd.requests(after=seq) == [], "nothing sent: an event would open an incident"
    assert pd.routing_key not in "".join(im.seen)


def test_bad_configuration_stores_nothing(im: Im, pd: SandboxHandle, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps(
            {
                "api_key": SECRET,
                "sync_direction": "sideways",
                "colour": "red",
                "custom": {"service_id": "lower", "from_email": "nope"},
            }
        )
    )
    code, _, err = im("connector", "add", "pagerduty", "pd", "--config", f"@{bad}")
    assert code == 4
    problems = [line.strip() for line in err.splitlines()[1:]]
    assert sorted(p.split(":")[0] for p in problems) == [
        "colour",
        "custom.from_email",
        "custom.service_id",
        "sync_direction",
    ]
    assert SECRET not in err
    assert im.ok("connector", "list") == {"connectors": []}
    assert im("connector", "add", "pagerduty", "pd", "--config", "{not json")[0] == 4
    assert im("connector", "add", "pagerduty", "bad name", "--config", "{}")[0] == 2
    assert im("connector", "add", "opsgenie", "pd", "--config", "{}")[0] == 2
    im.ok("connector", "add", "pagerduty", "pd", "--config", config(pd))
    code, _, err = im("connector", "add", "pagerduty", "pd", "--config", config(pd))
    assert code == 5 and "exists already" in err
    assert im("connector", "status", "nope")[0] == 3
    assert im("connector", "config", "pd", "--urgency-mapping", '{"SEV-1": "urgent"}')[0] == 4


def test_list_status_and_masked_secrets(im: Im, pd: SandboxHandle) -> None:
    im.ok("connector", "add", "pagerduty", "prod-pagerduty", "--config", config(pd))
    _, out, _ = im("connector", "list")
    assert out.split() == [
        "Name", "Type", "Status", "Direction", "Last", "Sync",
        "prod-pagerduty", "pagerduty", "active", "bidirectional", "never",
    ]  # fmt: skip
    listed = im.ok("connector", "list")["connectors"]
    assert listed[0]["last_sync"] == "never" and listed[0]["direction"] == "bidirectional"
    _, out, _ = im("connector", "status", "prod-pagerduty")
    assert out.splitlines()[:6] == [
        "Connector: prod-pagerduty (pagerduty)",
        "Status: Active",
        "Direction: Bidirectional",
        "Last Sync: never",
        "Incidents Synced: 0 (last 24h)",
        "Sync Errors: 0",
    ]
    assert "api_key: sand…en" in out
    view = im.ok("connector", "status", "prod-pagerduty")["connector"]
    assert view["secrets"] == {"api_key": "sand…en"} and view["last_error"] is None
    assert view["settings"]["custom"]["escalation_policy_id"] == "PDEMOEP"
    assert all(SECRET not in t for t in im.seen)


def test_mappings_and_import(im: Im, pd: SandboxHandle, db: str) -> None:
    im.ok("connector", "add", "pagerduty", "pd", "--config", config(pd))
    mapped = im.ok(
        "connector", "map-service", "pd", "--im-service", "api", "--pd-service", "PDEMO01"
    )
    assert mapped["mapping"]["service_name"] == "Demo Service"
    code, _, err = im(
        "connector", "map-service", "pd", "--im-service", "db", "--pd-service", "PDAT001"
    )
    assert code == 3 and "no service PDAT001" in err and "import-services pd" in err
    im.ok(
        "connector",
        "map-service",
        "pd",
        "--im-service",
        "db",
        "--pd-service",
        "PDAT001",
        "--no-check",
    )
    code, out, err = im("connector", "list-mappings", "pd")
    assert code == 0 and "PagerDuty has no service PDAT001" in err
    rows = [line.split() for line in out.splitlines()]
    assert rows[1:] == [
        ["api", "PDEMO01", "Demo", "Service"],
        ["db", "PDAT001", "?"],
        ["(any", "other)", "PDEMO01", "Demo", "Service"],
    ]
    esc = im.ok(
        "connector", "map-escalation", "pd", "--service", "api", "--escalation-policy", "PDEMOEP"
    )
    assert esc["escalation"]["policy_name"]
    assert im.ok("connector", "list-escalations", "pd") == {
        "escalations": [{"im_service": "api", "escalation_policy": "PDEMOEP"}],
        "default_escalation_policy": "PDEMOEP",
    }

    imported = im.ok("connector", "import-services", "pd", "--all")["imported"]
    names = {i["pd_service"]: i for i in imported}
    assert names["PDEMO01"]["im_service"] == "demo-service" and names["PDEMO01"]["created"]
    services = im.ok("service", "list")
    assert "demo-service" in {s["name"] for s in services}
    # Interactive: pick by number; an existing local service is mapped, not created again.
    code, out, _ = im("connector", "import-services", "pd", stdin="1\n")
    assert code == 0 and "demo-service → PDEMO01 (Demo Service)" in out
    assert "created" not in out

    # PagerDuty unreachable: names show as '?', with a warning, and the listing still works.
    im.ok("connector", "update", "pd", "--base-url", f"http://127.0.0.1:{free_port()}")
    code, out, err = im("connector", "list-mappings", "pd")
    assert code == 0 and "warning: service names not shown" in err
    assert [line.split()[-1] for line in out.splitlines()[1:]][:2] == ["?", "?"]


def test_remove_asks_then_leaves_no_pending_rows(im: Im, pd: SandboxHandle, db: str) -> None:
    im.ok("connector", "add", "pagerduty", "pd", "--config", config(pd))
    im.ok("declare", "--sev", "SEV-2", "--title", "Database performance issue", "--service", "db")
    im.ok("ack", "INC-1", "--note", "Investigating database locks")
    assert im.ok("connector", "status", "pd")["connector"]["pending"] == 2
    code, _, _ = im("connector", "remove", "pd", stdin="n\n")
    assert code == 1 and im.ok("connector", "list")["connectors"]
    removed = im.ok("connector", "remove", "pd", "--yes")
    assert removed == {"removed": "pd", "pending_deleted": 2, "pd_incidents_left": 0}
    engine = make_engine(db)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(outbox_table.c.kind, outbox_table.c.state)).all()
    engine.dispose()
    assert rows == [], "nothing left that could still call PagerDuty"
    assert pd.count_requests("POST", "/incidents*") == 0


def test_on_postgresql_too(
    postgres_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    pd: SandboxHandle,
) -> None:
    from pagerbridge.connectors.secrets import generate_key

    engine = make_engine(postgres_url)
    upgrade(engine)
    engine.dispose()
    monkeypatch.delenv("PAGERBRIDGE_SECRET_KEY", raising=False)
    im = Im(postgres_url, capsys, monkeypatch)
    code, _, err = im("connector", "add", "pagerduty", "pd", "--config", config(pd))
    assert code == 4 and "PAGERBRIDGE_SECRET_KEY is required with PostgreSQL" in err
    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())
    im.ok("connector", "add", "pagerduty", "pd", "--config", config(pd))
    code, out, _ = im("connector", "test", "pd")
    assert code == 0 and out.splitlines()[:5] == QUICK_SETUP
    im.ok("declare", "--sev", "SEV-3", "--title", "slow", "--service", "api")
    assert im.ok("connector", "remove", "pd", "--yes")["pending_deleted"] == 1
