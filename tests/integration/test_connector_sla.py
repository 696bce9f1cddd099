"""SLA alignment against the sandbox: a connector's ``sla_mapping`` sets the local SLA policies
(``im sla``'s, one source of truth), and a breach, measured on the incident's own clock, reaches
every linked PagerDuty incident as a note (the timeline entry's text) and, with
``custom.sla_breach_priority``, a higher priority — through the outbox, like every change.

SQLite and PostgreSQL; time moves through the injected clocks (``Commands(now=…)``, the hub's
``clock``), never by sleeping.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from pagerbridge.cli._common import run_app
from pagerbridge.cli.im_app import app
from pagerbridge.connectors import records, service
from pagerbridge.connectors.outbound import OutboundSync
from pagerbridge.connectors.runtime import sync_now
from pagerbridge.connectors.secrets import SecretBox, generate_key
from pagerbridge.connectors.settings import parse_config
from pagerbridge.incidents import sla
from pagerbridge.incidents.commands import Commands
from pagerbridge.incidents.models import SlaPolicy
from pagerbridge.sandbox.testing import SandboxHandle
from pagerbridge.server.testing import running_hub
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade
from servers.waiting import wait_for

FROM = "oncall@example.com"
T0 = datetime(2025, 8, 23, 12, 0, tzinfo=UTC)
#: The reference's mapping, SEV-1 tightened so the test can tell it from the defaults.
MAPPING = {
    "SEV-1": {"ack": "10m", "resolve": "1h"},
    "SEV-2": {"ack": "30m", "resolve": "4h"},
    "SEV-3": {"ack": "2h", "resolve": "24h"},
    "SEV-4": {"ack": "8h", "resolve": "72h"},
}


@pytest.fixture
def engine(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())
    eng = make_engine(database_url)
    upgrade(eng)
    yield eng
    eng.dispose()


def add_connector(engine: Engine, sandbox: SandboxHandle, **custom: Any) -> None:
    settings, secrets = parse_config(
        {
            "base_url": sandbox.url,
            "api_key": "sandbox-token",
            "sync_direction": "bidirectional",
            "custom": {"service_id": "PDEMO01", "from_email": FROM, **custom},
        }
    )
    with engine.begin() as conn:
        box = SecretBox.for_engine(engine)
        service.add(conn=conn, name="ops-pd", settings=settings, secrets=secrets, box=box)


def commands(engine: Engine, now: datetime | None) -> Commands:
    sessions = sessionmaker(engine, expire_on_commit=False)
    return Commands(sessions, actor="alice", origin="local", now=now, listener=OutboundSync())


def im(database_url: str, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``im`` in this process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        run_app(app, "im", [*args, "--db", database_url])
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def configure(database_url: str, capsys: pytest.CaptureFixture[str], mapping: Any) -> str:
    """``im connector config ops-pd --sla-mapping JSON``; its stderr (exit 0) or SystemExit."""
    code, _out, err = im(database_url, capsys, "connector", "config", "ops-pd",
                         "--sla-mapping", json.dumps(mapping))  # fmt: skip
    if code:
        raise SystemExit(err)
    return err


def test_sla_mapping_sets_the_local_policies_or_nothing(
    database_url: str, engine: Engine, sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    add_connector(engine, sandbox)
    configure(database_url, capsys, MAPPING)
    shown = {p["severity"]: (p["ack"], p["resolve"]) for p in commands(engine, T0).sla_show()}
    assert shown == {  # as `im sla show` writes them
        "SEV-1": ("10m", "1h"),
        "SEV-2": ("30m", "4h"),
        "SEV-3": ("2h", "1d"),
        "SEV-4": ("8h", "3d"),
    }
    # A partial mapping changes only what it names.
    configure(database_url, capsys, {"SEV-2": {"ack": "20m"}})
    shown = {p["severity"]: (p["ack"], p["resolve"]) for p in commands(engine, T0).sla_show()}
    assert shown["SEV-2"] == ("20m", "4h") and shown["SEV-1"] == ("10m", "1h")
    # What `im sla set` refuses is refused here too (exit 2), and nothing is stored: neither the
    # mapping nor a policy.
    with engine.connect() as conn:
        before = (records.load(conn, "ops-pd").settings, conn.execute(sa.select(SlaPolicy)).all())
    for bad, message in (
        ({"SEV-1": {"ack": "2h", "resolve": "1h"}}, "shorter than time to acknowledge"),
        ({"SEV-4": {"ack": "8h", "resolve": "400d"}}, "longer than"),
    ):
        code, _out, err = im(database_url, capsys, "connector", "config", "ops-pd",
                             "--sla-mapping", json.dumps(bad))  # fmt: skip
        assert code == 2 and message in err and "Traceback" not in err
    with engine.connect() as conn:
        after = (records.load(conn, "ops-pd").settings, conn.execute(sa.select(SlaPolicy)).all())
    assert after == before


def pd_incident(sandbox: SandboxHandle) -> dict[str, Any]:
    _status, body = sandbox.rest("GET", "/incidents?date_range=all")
    [found] = body["incidents"]
    return dict(found)


def pd_notes(sandbox: SandboxHandle, pd_id: str) -> list[str]:
    _status, body = sandbox.rest("GET", f"/incidents/{pd_id}/notes")
    return [n["content"] for n in body["notes"]]


def test_a_breach_is_a_note_and_a_higher_priority_in_pagerduty(
    database_url: str, engine: Engine, sandbox: SandboxHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    add_connector(engine, sandbox)
    configure(database_url, capsys, MAPPING)
    code, _out, err = im(database_url, capsys, "connector", "config", "ops-pd",
                         "--sla-breach-priority", "P1")  # fmt: skip
    assert code == 0, err
    ref = commands(engine, T0).declare(title="Checkout down", severity="SEV-1")["incident"]["id"]
    sync = lambda: asyncio.run(sync_now(database_url, engine, "ops-pd"))  # noqa: E731
    assert sync().delivered == 1
    pd = pd_incident(sandbox)
    assert "priority" not in pd or pd["priority"] is None

    # 9 minutes in: within SEV-1's mapped 10m, nothing. 11 minutes: the ack target is breached.
    assert commands(engine, T0 + timedelta(minutes=9)).sla_check() == []
    [breach] = commands(engine, T0 + timedelta(minutes=11)).sla_check()
    assert breach == {"incident": ref, "sla": "acknowledge", "due_at": "2025-08-23T12:10:00Z"}
    after = sandbox.clear_requests()
    assert sync().delivered == 1
    [entry] = [e for e in commands(engine, None).timeline(ref) if e["kind"] == "sla_breach"]
    assert pd_notes(sandbox, pd["id"]) == [entry["body"]]  # the echo is then recognised as ours
    assert pd_incident(sandbox)["priority"]["summary"] == "P1"
    writes = [
        (r["method"], r["path"]) for r in sandbox.requests(api="rest", after=after)
        if r["method"] != "GET"
    ]  # fmt: skip
    assert writes == [("POST", f"/incidents/{pd['id']}/notes"), ("PUT", f"/incidents/{pd['id']}")]
    said = [e["body"] for e in commands(engine, None).timeline(ref) if e["kind"] == "pagerduty"]
    number = pd["incident_number"]
    assert said[-2:] == [
        f"SLA breach noted on PagerDuty incident #{number}",
        f"PagerDuty incident #{number} priority raised to P1",
    ]

    # `im sla status`: the ack breach recorded; the resolve target (1h) passed long ago (the
    # command's clock is now) but not recorded yet.
    code, text, err = im(database_url, capsys, "sla", "status")
    assert code == 0, err
    out = text.splitlines()
    assert out[0].split() == ["INCIDENT", "SEVERITY", "STATUS", "ELAPSED", "ACKNOWLEDGE", "RESOLVE"]
    assert out[1].split()[:3] == [ref, "SEV-1", "open"]
    assert out[1].split()[-4:] == ["breached", "(10m)", "overdue", "(1h)"]

    # The resolve target (1h): a second note; the priority is P1 already, so no second PUT.
    commands(engine, T0 + timedelta(minutes=45)).transition(ref, "ack")
    [breach] = commands(engine, T0 + timedelta(minutes=61)).sla_check()
    assert breach["sla"] == "resolve"
    with Session(engine) as session:
        [row] = sla.standing(session=session, now=T0 + timedelta(minutes=61))
    assert (row["status"], row["elapsed"], row["ack_state"], row["resolve_state"]) == (
        "mitigated",
        "1h1m",
        "breached",
        "breached",
    )
    after = sandbox.clear_requests()
    assert sync().delivered == 2  # the ack, then the breach
    writes = [
        (r["method"], r["path"]) for r in sandbox.requests(api="rest", after=after)
        if r["method"] != "GET"
    ]  # fmt: skip
    assert writes == [("PUT", f"/incidents/{pd['id']}"), ("POST", f"/incidents/{pd['id']}/notes")]
    assert len(pd_notes(sandbox, pd["id"])) == 2
    # Each breach is told once: checking again finds nothing new and queues nothing.
    assert commands(engine, T0 + timedelta(hours=5)).sla_check() == []
    assert sync().delivered == 0


def test_the_hub_tells_pagerduty_of_a_breach_it_finds(
    sqlite_url: str, sandbox: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hub's periodic check (its clock 16 minutes ahead) records the breach and its sender
    delivers the note: no command involved."""
    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())
    eng = make_engine(sqlite_url)
    upgrade(eng)
    try:
        add_connector(eng, sandbox)
        ref = commands(eng, None).declare(title="API errors", severity="SEV-1")["incident"]["id"]
        ahead = datetime.now(UTC) + timedelta(minutes=16)
        with running_hub(sqlite_url, sla_interval=0.05, clock=lambda: ahead):
            found = wait_for(
                lambda: sandbox.rest("GET", "/incidents?date_range=all")[1]["incidents"],
                "the PagerDuty incident",
                timeout=10,
            )
            notes = wait_for(lambda: pd_notes(sandbox, found[0]["id"]), "the breach note", 10)
        [entry] = [e for e in commands(eng, None).timeline(ref) if e["kind"] == "sla_breach"]
        assert notes == [entry["body"]] and "time to acknowledge" in entry["body"]
    finally:
        eng.dispose()
