"""PagerDuty's changes flow back: the sandbox's signed webhooks reach a real hub, which verifies,
stores and applies them — and sends nothing back for them (no loops). SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from pagerbridge.pagerduty.webhooks import build_envelope, sign
from pagerbridge.server.testing import running_hub
from servers.connector_setup import (
    FROM,
    add_connector,
    commands,
    events_stored,
    pd_incidents,
    post_webhook,
    subscribe,
)
from servers.waiting import wait_for

NAME = "prod-pagerduty"


def local(hub: Any, ref: str) -> dict[str, Any]:
    from pagerbridge.incidents.commands import Commands

    shown: dict[str, Any] = Commands(hub.app.state.sessions, actor="t", origin="local").show(ref)
    return shown["incident"]


def active_connector_rows(engine: Engine) -> int:
    from pagerbridge.outbox.tables import outbox_table as o

    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(
                    o.c.kind == "pd_rest", o.c.state.in_(("pending", "in_flight"))
                )
            ).scalar_one()
        )


def test_acknowledge_in_pagerduty_shows_locally_and_sends_nothing_back(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name=NAME)
    with running_hub(database_url) as hub:
        subscribe(engine, sandbox, hub.url)
        im = commands(engine)
        ref = im.declare(title="Disk full", severity="SEV-1")["incident"]["id"]
        [pd] = wait_for(lambda: pd_incidents(sandbox), "the PagerDuty incident")
        marker = sandbox.clear_requests()
        started = time.monotonic()
        status, body = sandbox.rest(
            "PUT",
            f"/incidents/{pd['id']}",
            {"incident": {"type": "incident_reference", "status": "acknowledged"}},
            from_email="backup@example.com",
        )
        assert status == 200, body
        wait_for(lambda: local(hub, ref)["status"] == "mitigated", "the local acknowledgement")
        assert time.monotonic() - started < 5
        shown = local(hub, ref)
        # The PagerDuty assignee (the on-call engineer the policy paged), by email.
        assert shown["assignee"] == "oncall@example.com"
        entries = im.timeline(ref)
        acked = [e for e in entries if e["kind"] == "status" and e["origin"] == "pagerduty"]
        assert acked and "acknowledged in PagerDuty" in acked[0]["body"]
        # The change came from PagerDuty: nothing is written back (our token wrote nothing).
        wait_for(lambda: ("incident.acknowledged", "applied") in events_stored(engine), "applied")
        ours = [
            r
            for r in sandbox.requests(api="rest", after=marker)
            if r["method"] != "GET" and r["path"] != f"/incidents/{pd['id']}"
        ]
        assert ours == []

        # Our own resolve goes out once, and its echo changes nothing.
        im.transition(ref, "resolve", note="fixed")
        wait_for(lambda: pd_incidents(sandbox)[0]["status"] == "resolved", "PagerDuty resolved")
        wait_for(
            lambda: ("incident.resolved", "ignored") in events_stored(engine), "the echo ignored"
        )
        assert local(hub, ref)["status"] == "resolved"


def test_forged_unsigned_and_replayed_webhooks_change_nothing(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name=NAME)
    with running_hub(database_url) as hub:
        secret = subscribe(engine, sandbox, hub.url)
        envelope = build_envelope(
            "incident.triggered",
            {"id": "PFORGED", "type": "incident", "title": "forged", "service": {"id": "PDEMO01"}},
        )
        body = json.dumps(envelope).encode()
        assert post_webhook(hub.url, body, None)[0] == 401
        assert post_webhook(hub.url, body, sign(body, "not-the-secret"))[0] == 401
        tampered = body.replace(b"forged", b"FORGED")
        assert post_webhook(hub.url, tampered, sign(body, secret))[0] == 401
        assert events_stored(engine) == []
        # A valid delivery sent twice (PagerDuty retries) is stored once.
        first = post_webhook(hub.url, body, sign(body, secret))
        second = post_webhook(hub.url, body, sign(body, secret))
        assert first == (202, {"status": "accepted", "duplicate": False})
        assert second == (202, {"status": "accepted", "duplicate": True})
        assert len(events_stored(engine)) == 1
        counts = hub.app.state.webhook_intake.counts
        assert counts["unsigned"] == 1 and counts["forged"] == 2


def test_incidents_triggered_in_pagerduty_are_declared_once_and_ours_never(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name=NAME)
    with running_hub(database_url) as hub:
        subscribe(engine, sandbox, hub.url)
        im = commands(engine)
        im.declare(title="Ours", severity="SEV-2")  # its incident.triggered comes back
        status, body = sandbox.rest(
            "POST",
            "/incidents",
            {
                "incident": {
                    "type": "incident",
                    "title": "Made in PagerDuty",
                    "urgency": "high",
                    "service": {"id": "PDEMO01", "type": "service_reference"},
                }
            },
            from_email=FROM,
        )
        assert status == 201, body
        wait_for(
            lambda: (
                sum(1 for e in events_stored(engine) if e[0] == "incident.triggered") == 2
                and all(state != "pending" for _, state in events_stored(engine))
            ),
            "both triggers settled",
        )
        listed = im.list_incidents()["incidents"]
        assert sorted(i["title"] for i in listed) == ["Made in PagerDuty", "Ours"]
        made = next(i for i in listed if i["title"] == "Made in PagerDuty")
        assert made["severity"] == "SEV-2"  # high urgency
        assert made["services"] == ["default"]
        # The incident made from PagerDuty is linked: acknowledging it there applies here.
        pd_id = body["incident"]["id"]
        sandbox.rest(
            "PUT",
            f"/incidents/{pd_id}",
            {"incident": {"type": "incident_reference", "status": "acknowledged"}},
            from_email=FROM,
        )
        wait_for(lambda: local(hub, made["id"])["status"] == "mitigated", "ack applied")
        assert len(pd_incidents(sandbox)) == 2  # nothing was created back in PagerDuty


def test_an_acknowledgement_that_times_out_reopens_the_local_incident(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name=NAME)
    with running_hub(database_url) as hub:
        secret = subscribe(engine, sandbox, hub.url)
        im = commands(engine)
        ref = im.declare(title="Flapping", severity="SEV-2")["incident"]["id"]
        [pd] = wait_for(lambda: pd_incidents(sandbox), "the PagerDuty incident")
        im.transition(ref, "ack")
        wait_for(lambda: pd_incidents(sandbox)[0]["status"] == "acknowledged", "acked there")
        body = json.dumps(
            build_envelope("incident.unacknowledged", {"id": pd["id"], "type": "incident"})
        ).encode()
        assert post_webhook(hub.url, body, sign(body, secret))[0] == 202
        wait_for(lambda: local(hub, ref)["status"] == "open", "back to open")
        reasons = [e["body"] for e in im.timeline(ref) if e["origin"] == "pagerduty"]
        assert any("timed out" in r for r in reasons)


def test_changes_on_each_side_make_exactly_the_requests_they_need_and_no_echoes(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(engine, sandbox, name=NAME)
    with running_hub(database_url) as hub:
        subscribe(engine, sandbox, hub.url)
        sandbox.clear_requests()
        im = commands(engine)
        # Our side: declare, ack with a note, a note: 1 create + (1 status + 1 note) + 1 note.
        ref = im.declare(title="Loop", severity="SEV-2")["incident"]["id"]
        [pd] = wait_for(lambda: pd_incidents(sandbox), "the PagerDuty incident")
        im.transition(ref, "ack", note="looking")
        im.note(ref, "found it")
        notes_path = f"/incidents/{pd['id']}/notes"
        wait_for(lambda: sandbox.count_requests("POST", notes_path) == 2, "both notes sent")

        def settled() -> bool:
            stored = events_stored(engine)
            return len(stored) >= 4 and all(state != "pending" for _, state in stored)

        # Their echoes (triggered, acknowledged, annotated twice) settle as ignored.
        wait_for(settled, "the echoes settled")
        assert {state for _, state in events_stored(engine)} == {"ignored"}
        writes = [r for r in sandbox.requests(api="rest") if r["method"] in ("POST", "PUT")]
        assert [(r["method"], r["path"]) for r in writes] == [
            ("POST", "/incidents"),
            ("PUT", f"/incidents/{pd['id']}"),
            ("POST", notes_path),
            ("POST", notes_path),
        ]
        # Their side: a note and a resolve made in PagerDuty: two local entries, no request back.
        marker = sandbox.clear_requests()
        sandbox.rest("POST", notes_path, {"note": {"content": "from the phone"}}, from_email=FROM)
        sandbox.rest(
            "PUT",
            f"/incidents/{pd['id']}",
            {"incident": {"type": "incident_reference", "status": "resolved"}},
            from_email=FROM,
        )
        wait_for(lambda: local(hub, ref)["status"] == "resolved", "resolved here")
        wait_for(settled, "all settled")
        theirs = [e for e in im.timeline(ref) if e["origin"] == "pagerduty"]
        assert [e["kind"] for e in theirs if e["kind"] != "pagerduty"] == ["note", "status"]
        # Nothing was queued for PagerDuty by their changes, so nothing can still be sent.
        assert active_connector_rows(engine) == 0
        back = [
            r
            for r in sandbox.requests(api="rest", after=marker)
            if r["method"] in ("POST", "PUT") and r["credential"]["kind"] != "user"
        ]
        assert len(back) == 2  # only the two changes this test made in PagerDuty


def test_allowlist_rate_limit_and_unknown_connectors_are_refused_before_storing(
    database_url: str, engine: Engine, sandbox: Any
) -> None:
    add_connector(
        engine,
        sandbox,
        name=NAME,
        webhook={"ip_allowlist": ["10.0.0.0/8"], "rate_limit_per_s": 1},
    )
    add_connector(engine, sandbox, name="sender-only", sync_direction="outbound")
    with running_hub(database_url) as hub:
        secret = subscribe(engine, sandbox, hub.url)
        body = json.dumps(build_envelope("incident.triggered", {"id": "PX"})).encode()
        status, answer = post_webhook(hub.url, body, sign(body, secret))
        assert status == 403 and answer["error"]["reason"] == "not_allowed"
        request = urllib.request.Request(
            f"{hub.url}/connectors/sender-only/webhook", data=body, method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 404  # an outbound-only connector takes no webhooks
    with engine.begin() as conn:
        from pagerbridge.connectors import service

        service.update(conn=conn, name=NAME, changes={"webhook.ip_allowlist": ["127.0.0.0/8"]})
    with running_hub(database_url) as hub:
        answers = [post_webhook(hub.url, body, sign(body, secret))[0] for _ in range(4)]
        assert answers[0] == 202 and 429 in answers  # 1/s with a burst of 2
    assert len(events_stored(engine)) == 1


def test_a_busy_database_gets_a_503_in_time_and_the_retry_is_stored(
    database_url: str, engine: Engine, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pagerbridge.connectors import webhook_intake

    monkeypatch.setattr(webhook_intake, "PERSIST_TIMEOUT", 0.5)  # 4 s in production
    add_connector(engine, sandbox, name=NAME)
    with running_hub(database_url) as hub:
        secret = subscribe(engine, sandbox, hub.url)
        warm = json.dumps(build_envelope("incident.triggered", {"id": "PWARM"})).encode()
        assert post_webhook(hub.url, warm, sign(warm, secret))[0] == 202  # connectors cached
        body = json.dumps(build_envelope("incident.triggered", {"id": "PBUSY"})).encode()
        with engine.connect() as blocker:
            if blocker.dialect.name == "postgresql":
                blocker.execute(sa.text("LOCK TABLE connector_webhook_events IN EXCLUSIVE MODE"))
            else:  # SQLite: the engine begins with BEGIN IMMEDIATE, which takes the write lock
                blocker.execute(sa.text("SELECT 1"))
            started = time.monotonic()
            status, answer = post_webhook(hub.url, body, sign(body, secret))
            waited = time.monotonic() - started
            blocker.rollback()
        assert status == 503 and answer["error"]["reason"] == "unavailable"
        assert waited < 3  # well inside PagerDuty's 5 s
        # The late write still lands (or the retry does): PagerDuty's retry is taken, once.
        assert post_webhook(hub.url, body, sign(body, secret))[0] == 202
        wait_for(lambda: [s for _, s in events_stored(engine)] == ["ignored"] * 2, "once each")


def test_the_fast_path_refuses_a_megabyte_body_and_leaves_other_methods_to_the_app(
    sqlite_url: str, sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pagerbridge.connectors.secrets import generate_key
    from pagerbridge.store.engine import make_engine
    from pagerbridge.store.migrate import upgrade

    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())
    engine = make_engine(sqlite_url)
    upgrade(engine)
    add_connector(engine, sandbox, name=NAME)
    with running_hub(sqlite_url) as hub:
        secret = subscribe(engine, sandbox, hub.url)
        huge = (
            b'{"event": {"id": "x", "event_type": "incident.triggered", "pad": "'
            + (b"a" * (1024 * 1024))
            + b'"}}'
        )
        status, answer = post_webhook(hub.url, huge, sign(huge, secret))
        assert status == 413 and answer["error"]["reason"] == "too_large"
        request = urllib.request.Request(f"{hub.url}/connectors/{NAME}/webhook", method="GET")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 405 and "POST" in refused.value.headers["Allow"]
    assert events_stored(engine) == []
    engine.dispose()
