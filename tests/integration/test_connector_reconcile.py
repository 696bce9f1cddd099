"""Reconcile against a real sandbox: the first run's backfill, the log walk that repairs what
the webhooks missed (a webhook lost on purpose, repaired by the hub's next reconcile), nothing
applied twice, the watermark kept across a restart (SQLite and PostgreSQL); two reconcilers on
one PostgreSQL do the work once and a killed one's lock is taken over; an outbound-only
connector is not reconciled inbound; auto_resolve off notes PagerDuty's resolve once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from pagerbridge.connectors import reconcile_state
from pagerbridge.connectors.models import (
    connector_logs_table,
    connector_state_table,
)
from pagerbridge.connectors.reconcile import ReconcileResult, reconcile_now
from pagerbridge.connectors.reconcile_loop import ReconcileLoop
from pagerbridge.connectors.secrets import generate_key
from pagerbridge.server.testing import running_hub
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade
from servers.connector_setup import FROM, add_connector, commands, pd_incidents, subscribe
from servers.waiting import wait_for

NAME = "prod-pagerduty"


def reconcile(engine: Engine, name: str = NAME) -> ReconcileResult:
    return asyncio.run(reconcile_now(engine, name))


def pd_create(sandbox: Any, title: str, service: str = "PDEMO01") -> str:
    status, body = sandbox.rest(
        "POST",
        "/incidents",
        {
            "incident": {
                "type": "incident",
                "title": title,
                "urgency": "high",
                "service": {"id": service, "type": "service_reference"},
            }
        },
        from_email=FROM,
    )
    assert status == 201, body
    return str(body["incident"]["id"])


def other_service(sandbox: Any) -> str:
    status, body = sandbox.rest(
        "POST",
        "/services",
        {
            "service": {
                "type": "service",
                "name": "Elsewhere",
                "escalation_policy": {"id": "PDEMOEP", "type": "escalation_policy_reference"},
            }
        },
    )
    assert status == 201, body
    return str(body["service"]["id"])


def pd_put(sandbox: Any, pd_id: str, **fields: Any) -> None:
    status, body = sandbox.rest(
        "PUT",
        f"/incidents/{pd_id}",
        {"incident": {"type": "incident_reference", **fields}},
        from_email="backup@example.com",
    )
    assert status == 200, body


def pd_note(sandbox: Any, pd_id: str, content: str) -> None:
    status, body = sandbox.rest(
        "POST", f"/incidents/{pd_id}/notes", {"note": {"content": content}}, from_email=FROM
    )
    assert status == 200, body


def local_by_title(engine: Engine) -> dict[str, dict[str, Any]]:
    return {i["title"]: i for i in commands(engine).list_incidents()["incidents"]}


def timeline(engine: Engine, ref: str) -> list[tuple[str, str]]:
    return [(e["kind"], e["body"]) for e in commands(engine).timeline(ref)]


def state_of(engine: Engine, name: str) -> str | None:
    t = connector_state_table
    with engine.connect() as conn:
        return conn.execute(sa.select(t.c.value).where(t.c.name == name)).scalar()


def test_backfill_then_the_walk_repairs_missed_changes_once(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name=NAME)
    acked = pd_create(sandbox, "Acked in PagerDuty")
    pd_put(sandbox, acked, status="acknowledged")
    open_one = pd_create(sandbox, "Open in PagerDuty")
    pd_create(sandbox, "Elsewhere", service=other_service(sandbox))  # not mapped

    ticks: list[tuple[int, int]] = []
    first = asyncio.run(reconcile_now(engine, NAME, progress=lambda *t: ticks.append(t)))
    assert first.ran and first.ok, first
    assert ticks[-1][0] == ticks[-1][1] > 0, "the progress bar ends full"
    # The backfill asked PagerDuty for the open incidents of the mapped service, of any age.
    [listing] = sandbox.requests(method="GET", path="/incidents")
    assert parse_qs(listing["query"]) == {
        "statuses[]": ["triggered", "acknowledged"],
        "service_ids[]": ["PDEMO01"],
        "date_range": ["all"],
        "offset": ["0"],
        "limit": ["100"],
        "total": ["true"],
    }
    found = local_by_title(engine)
    assert sorted(found) == ["Acked in PagerDuty", "Open in PagerDuty"]
    assert found["Acked in PagerDuty"]["status"] == "mitigated"
    assert found["Acked in PagerDuty"]["assignee"] == "oncall@example.com"
    assert found["Open in PagerDuty"]["status"] == "open"
    assert first.applied == 3 and first.backfilled == 2
    assert state_of(engine, reconcile_state.BACKFILLED)

    # Changes made in PagerDuty with no webhook to carry them: the next run applies them.
    pd_put(sandbox, open_one, status="acknowledged")
    pd_note(sandbox, open_one, "looking at the disks")
    pd_put(sandbox, acked, status="resolved")
    second = reconcile(engine)
    assert second.ok and second.applied == 3, second
    assert any("resolved" in line for line in second.fixed)
    found = local_by_title(engine)
    assert found["Open in PagerDuty"]["status"] == "mitigated"
    assert found["Acked in PagerDuty"]["status"] == "resolved"
    ref = found["Open in PagerDuty"]["id"]
    assert ("note", "looking at the disks") in timeline(engine, ref)
    before = {t: timeline(engine, i["id"]) for t, i in found.items()}

    # Already applied: nothing is applied twice, and no second note or incident appears.
    third = reconcile(engine)
    assert third.ok and third.applied == 0 and third.backfilled == 0, third
    assert {t: timeline(engine, i["id"]) for t, i in local_by_title(engine).items()} == before

    # The watermark survives a restart: a new process walks on from it (60 s before it).
    watermark = state_of(engine, reconcile_state.WATERMARK)
    assert watermark and third.watermark == watermark
    marker = sandbox.clear_requests()
    fresh = make_engine(database_url)
    try:
        assert asyncio.run(reconcile_now(fresh, NAME)).applied == 0
    finally:
        fresh.dispose()
    [walk] = sandbox.requests(method="GET", path="/log_entries", after=marker)
    [since_text] = parse_qs(walk["query"])["since"]
    since = reconcile_state_time(since_text)
    assert (reconcile_state_time(watermark) - since).total_seconds() == 60
    assert sandbox.count_requests("GET", "/incidents") == 0, "backfilled once only"
    assert [r["applied"] for r in reconcile_runs(engine)] == [3, 3, 0, 0]


def reconcile_runs(engine: Engine) -> list[dict[str, Any]]:
    """The ``reconcile`` log records' data, oldest first."""
    t = connector_logs_table
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.data).where(t.c.component == "reconcile").order_by(t.c.id)
        ).scalars()
        return [json.loads(d) for d in rows]


def reconcile_state_time(text: str) -> Any:
    from pagerbridge.connectors.reconcile_entries import parse_at

    return parse_at(text)


def test_a_webhook_lost_on_purpose_is_repaired_by_the_hubs_next_reconcile(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name=NAME)
    with running_hub(database_url) as hub:
        subscribe(engine, sandbox, hub.url)
        im = commands(engine)
        ref = im.declare(title="Disk full", severity="SEV-1")["incident"]["id"]
        [pd] = wait_for(lambda: pd_incidents(sandbox), "the PagerDuty incident")
        sandbox.script_fault("drop_webhook", event_type="incident.acknowledged")
        pd_put(sandbox, pd["id"], status="acknowledged")
        wait_for(
            lambda: any(d["status"] == "dropped" for d in sandbox.webhook_deliveries()),
            "the acknowledgement's webhook dropped",
        )
        assert im.show(ref)["incident"]["status"] == "open"
        # Make the connector's reconcile due now (its sync_interval is 5 minutes).
        with engine.begin() as conn:
            reconcile_state.put(conn, 1, reconcile_state.LAST_RUN, "0")
        wait_for(lambda: im.show(ref)["incident"]["status"] == "mitigated", "repaired")
        entries = [e for e in im.timeline(ref) if e["kind"] == "status"]
        assert [e["origin"] for e in entries][-1] == "pagerduty"
        runs = wait_for(lambda: reconcile_runs(engine), "the run's record")
        assert [r["applied"] for r in runs] == [1], "one run, one repair"


HOLD = """
import sys, time
from pagerbridge.connectors.reconcile_state import RunLock
from pagerbridge.store.engine import make_engine
lock = RunLock(make_engine(sys.argv[1]), 1)
assert lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def migrated(url: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())
    engine = make_engine(url)
    upgrade(engine)
    return engine


@pytest.fixture
def pg(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Engine]]:
    engine = migrated(postgres_url, monkeypatch)
    yield postgres_url, engine
    engine.dispose()


@pytest.fixture
def lite(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    engine = migrated(sqlite_url, monkeypatch)
    yield engine
    engine.dispose()


@pytest.mark.postgres
def test_two_reconcilers_on_postgresql_do_the_work_once_and_a_killed_one_is_taken_over(
    pg: tuple[str, Engine], sandbox: Any
) -> None:
    url, engine = pg
    add_connector(engine, sandbox, name=NAME)
    for n in range(3):
        pd_create(sandbox, f"Made in PagerDuty {n}")
    # The log walk answers slowly, so the two runs overlap for certain.
    sandbox.set_faults(latency=0.3, routes=["/log_entries"])
    engines = [make_engine(url), make_engine(url)]
    results: list[ReconcileResult] = []
    threads = [threading.Thread(target=lambda e=e: results.append(reconcile(e))) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for e in engines:
        e.dispose()
    sandbox.set_faults()
    assert sorted(r.ran for r in results) == [False, True]
    loser = next(r for r in results if not r.ran)
    assert loser.reason == "another process reconciles this connector now"
    assert sandbox.count_requests("GET", "/incidents") == 1, "one backfill"
    assert sandbox.count_requests("GET", "/log_entries") == 1, "one walk"
    assert len(commands(engine).list_incidents()["incidents"]) == 3, "each declared once"

    # A hub killed while it reconciles: PostgreSQL drops its session and with it the lock.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, url], stdout=subprocess.PIPE, text=True, env=os.environ
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        marker = sandbox.clear_requests()
        assert not reconcile(engine).ran
        assert sandbox.requests(after=marker) == []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
    taken_over = wait_for(lambda: (r := reconcile(engine)).ran and r, "the lock taken over")
    assert taken_over.ok and taken_over.applied == 0


def test_outbound_only_is_not_reconciled_and_auto_resolve_off_notes_once(
    lite: Engine, sandbox: Any
) -> None:
    add_connector(lite, sandbox, name="sender", sync_direction="outbound")
    add_connector(lite, sandbox, name=NAME, custom={"auto_resolve": False})
    with lite.begin() as conn:
        for connector_id in (1, 2):
            reconcile_state.put(conn, connector_id, reconcile_state.LAST_RUN, "0")
    assert [r.name for r in ReconcileLoop(lite).due()] == [NAME], "only the receiving one"
    marker = sandbox.clear_requests()
    skipped = asyncio.run(reconcile_now(lite, "sender"))
    assert not skipped.ran and "does not receive" in (skipped.reason or "")
    assert sandbox.requests(after=marker) == []

    pd_id = pd_create(sandbox, "Resolved over there")
    assert reconcile(lite).applied == 1  # declared
    pd_put(sandbox, pd_id, status="resolved")
    assert reconcile(lite).applied == 1
    assert reconcile(lite).applied == 0
    [made] = commands(lite).list_incidents()["incidents"]
    assert made["status"] == "open", "auto_resolve is off"
    notes = [e for e in commands(lite).timeline(made["id"]) if e["body"] == "resolved in PagerDuty"]
    assert len(notes) == 1


def test_im_connector_sync_reconciles_and_says_what_it_repaired(
    sqlite_url: str, lite: Engine, sandbox: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from pagerbridge.cli._common import run_app
    from pagerbridge.cli.im_app import app

    add_connector(lite, sandbox, name=NAME)
    pd_create(sandbox, "Made in PagerDuty")

    def im(*args: str) -> tuple[int, str]:
        capsys.readouterr()
        with pytest.raises(SystemExit) as done:
            run_app(app, "im", ["connector", "sync", NAME, *args, "--db", sqlite_url])
        return int(done.value.code or 0), capsys.readouterr().out

    code, out = im()
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0] == f"{NAME}: nothing pending"
    assert lines[1].startswith(f"{NAME}: 1 change(s) repaired from PagerDuty (")
    assert any(line.startswith("  ") and "declared as INC-1" in line for line in lines[2:])
    code, out = im("--json")
    synced = json.loads(out)
    assert code == 0 and synced["ok"] is True
    assert synced["reconcile"]["applied"] == 0 and synced["reconcile"]["ran"] is True


def test_the_later_change_wins_and_a_reassignment_comes_back(lite: Engine, sandbox: Any) -> None:
    add_connector(lite, sandbox, name=NAME)
    reopened_here, acked_here = pd_create(sandbox, "Reopened here"), pd_create(sandbox, "Acked")
    assert reconcile(lite).applied == 2
    found = local_by_title(lite)
    im = commands(lite)
    # Resolved in PagerDuty, then resolved and reopened here: the later reopen stands.
    pd_put(sandbox, reopened_here, status="resolved")
    im.transition(found["Reopened here"]["id"], "resolve")
    im.transition(found["Reopened here"]["id"], "reopen")
    # Resolved in PagerDuty, then acknowledged here: a resolve moves forward, both end resolved.
    pd_put(sandbox, acked_here, status="resolved")
    im.transition(found["Acked"]["id"], "ack")
    # Reassigned in PagerDuty: the new assignee by email.
    pd_put(
        sandbox,
        reopened_here,
        assignments=[{"assignee": {"id": "PDEMOU2", "type": "user_reference"}}],
    )
    result = reconcile(lite)
    assert result.ok, result
    found = local_by_title(lite)
    assert found["Reopened here"]["status"] == "open"
    assert found["Reopened here"]["assignee"] == "backup@example.com"
    assert found["Acked"]["status"] == "resolved"
    assert result.applied == 2, result.fixed


def test_on_sqlite_a_lease_lets_one_reconcile_and_expires_with_a_dead_holder(
    lite: Engine, sandbox: Any
) -> None:
    add_connector(lite, sandbox, name=NAME)
    first, second = reconcile_state.RunLock(lite, 1), reconcile_state.RunLock(lite, 1)
    assert first.acquire() and not second.acquire()
    assert not reconcile(lite).ran, "a run finds the lease taken"
    first.release()
    assert second.acquire() and second.renew()
    # Its holder died (no release): the lease runs out and the next one takes over.
    lease = json.dumps({"owner": second.owner, "until": time.time() - 1})
    with lite.begin() as conn:
        reconcile_state.put(conn, 1, reconcile_state.LEASE, lease)
    assert reconcile(lite).ran
    assert not second.renew(), "the dead holder's lease is gone"
