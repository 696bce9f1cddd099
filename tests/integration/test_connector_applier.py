"""The webhook applier's batches: unlinked events settled without a query, a trigger and what
follows it in one batch both applied, a backlog applied slice after slice in order, and one
PagerDuty incident declared once when two connectors receive it. SQLite and PostgreSQL; the
applier is driven directly (the hub runs the same loop)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from pagerbridge.connectors import applier as applier_module
from pagerbridge.connectors.applier import WebhookApplier
from pagerbridge.connectors.models import connector_links_table as links
from pagerbridge.connectors.models import connector_webhook_events_table as events
from pagerbridge.pagerduty.webhooks import build_envelope
from servers.connector_setup import add_connector, commands

CONNECTOR_ID = 1


def store(
    engine: Engine, kind: str, pd_id: str, connector_id: int = CONNECTOR_ID, **incident: Any
) -> None:
    """One received, still pending event, as the intake stores it."""
    data = {"id": pd_id, "type": "incident", **incident}
    envelope = build_envelope(kind, data, event_id=str(uuid.uuid4()))
    with engine.begin() as conn:
        conn.execute(
            sa.insert(events).values(
                connector_id=connector_id,
                event_id=envelope["event"]["id"],
                event_type=kind,
                pd_incident_id=pd_id,
                received_at=time.time(),
                payload=json.dumps(envelope),
                state="pending",
            )
        )


def settled(engine: Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(events.c.event_type, events.c.state, events.c.result).order_by(events.c.id)
        ).all()
    return [(r.event_type, r.state, r.result or "") for r in rows]


@pytest.fixture
def connector(engine: Engine) -> Engine:
    add_connector(engine, SimpleNamespace(url="http://127.0.0.1:9"))
    return engine


def test_a_trigger_and_its_acknowledgement_in_one_batch_are_both_applied(
    connector: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = connector
    monkeypatch.setattr(applier_module, "SLICE_SECONDS", 60.0)  # one transaction for all four
    store(engine, "incident.acknowledged", "PUNKNOWN")  # linked to nothing: ignored
    store(
        engine,
        "incident.triggered",
        "PNEW1",
        title="Made in PagerDuty",
        urgency="high",
        service={"id": "PDEMO01", "type": "service_reference"},
    )
    store(engine, "incident.acknowledged", "PNEW1")  # linked by the trigger just before it
    store(engine, "service.updated", "PDEMO01")  # not about an incident: kept, ignored

    more = asyncio.run(WebhookApplier(engine).apply_pending())

    assert more is False
    assert [(kind, state) for kind, state, _ in settled(engine)] == [
        ("incident.acknowledged", "ignored"),
        ("incident.triggered", "applied"),
        ("incident.acknowledged", "applied"),
        ("service.updated", "ignored"),
    ]
    results = [result for *_, result in settled(engine)]
    assert "PUNKNOWN: not linked to a local incident" in results[0]
    assert "not about an incident" in results[3]
    (made,) = commands(engine).list_incidents()["incidents"]
    assert (made["title"], made["status"]) == ("Made in PagerDuty", "mitigated")


def test_a_backlog_is_applied_slice_after_slice_in_order(
    connector: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = connector
    im = commands(engine)
    ref = im.declare(title="Flapping", severity="SEV-2")["incident"]["id"]
    link_to(engine, int(ref.removeprefix("INC-")), "PFLAP1")
    kinds = ["incident.acknowledged", "incident.unacknowledged"] * 6
    for kind in kinds:
        store(engine, kind, "PFLAP1")
    # A slice of no time at all: every transaction applies exactly one event.
    monkeypatch.setattr(applier_module, "SLICE_SECONDS", 0.0)
    applier = WebhookApplier(engine)

    calls = 1
    while asyncio.run(applier.apply_pending()):  # True while more is pending
        calls += 1
        assert calls <= len(kinds), "the backlog never ends"

    assert calls == len(kinds)  # one event per slice
    assert [(k, s) for k, s, _ in settled(engine)] == [(k, "applied") for k in kinds]
    transitions = [e["data"]["to"] for e in im.timeline(ref) if e["kind"] == "status"]
    assert transitions == ["mitigated", "open"] * 6


def link_to(engine: Engine, incident_id: int, pd_id: str) -> None:
    from pagerbridge.connectors.links import ensure_link, record_pd_incident

    with engine.begin() as conn:
        link, _ = ensure_link(
            conn,
            connector_id=CONNECTOR_ID,
            incident_id=incident_id,
            pd_service_id="PDEMO01",
            key=f"test/{pd_id}",
            correlation_id=str(uuid.uuid4()),
        )
        record_pd_incident(
            conn, link_id=link.id, pd_incident_id=pd_id, number=1, html_url=None, status=None
        )


def test_the_hub_loop_applies_a_backlog_without_waiting_between_slices(
    connector: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a backlog the loop goes on at once: a one-second poll between slices would take
    40 s here, the deadline is 20 s."""
    engine = connector
    for n in range(40):
        store(engine, "incident.acknowledged", f"PGONE{n}")
    monkeypatch.setattr(applier_module, "SLICE_SECONDS", 0.0)
    monkeypatch.setattr(applier_module, "BATCH", 1)

    async def main() -> None:
        stop, wake = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(WebhookApplier(engine).run(stop, wake))
        try:
            deadline = time.monotonic() + 20
            while any(state == "pending" for _, state, _ in settled(engine)):
                assert time.monotonic() < deadline, "the backlog was not applied in time"
                await asyncio.sleep(0.05)
        finally:
            stop.set()
            await task

    asyncio.run(main())
    assert len(settled(engine)) == 40
    assert {state for _, state, _ in settled(engine)} == {"ignored"}


def test_two_connectors_on_one_service_declare_a_pagerduty_incident_once(
    connector: Engine,
) -> None:
    """Two connectors on one account, both mapping PDEMO01 (say, one per team): each receives
    the same trigger through its own subscription. One local incident, linked to both; the
    acknowledgement that both then receive moves it once."""
    engine = connector
    add_connector(engine, SimpleNamespace(url="http://127.0.0.1:9"), name="second")
    trigger = {
        "title": "Shared",
        "urgency": "low",
        "service": {"id": "PDEMO01", "type": "service_reference"},
    }
    for connector_id in (1, 2):
        store(engine, "incident.triggered", "PSHARED", connector_id, **trigger)
    for connector_id in (2, 1):
        store(engine, "incident.acknowledged", "PSHARED", connector_id)

    while asyncio.run(WebhookApplier(engine).apply_pending()):
        pass

    im = commands(engine)
    (made,) = im.list_incidents()["incidents"]
    assert (made["title"], made["status"], made["severity"]) == ("Shared", "mitigated", "SEV-4")
    states = [(kind, state) for kind, state, _ in settled(engine)]
    assert states == [
        ("incident.triggered", "applied"),  # declared
        ("incident.triggered", "applied"),  # linked to the same incident
        ("incident.acknowledged", "applied"),
        ("incident.acknowledged", "ignored"),  # mitigated already
    ]
    assert "another connector's" in settled(engine)[1][2]
    with engine.connect() as conn:
        linked = conn.execute(
            sa.select(links.c.connector_id, links.c.incident_id).where(
                links.c.pd_incident_id == "PSHARED"
            )
        ).all()
    ref = int(made["id"].removeprefix("INC-"))
    assert sorted(linked) == [(1, ref), (2, ref)]
    statuses = [e for e in im.timeline(made["id"]) if e["kind"] == "status"]
    assert len(statuses) == 1


@pytest.mark.postgres
def test_an_event_blocked_by_another_hubs_lock_stays_pending_and_is_applied_later(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another hub (here a bare connection) holds the incident's row: the applier's wait ends
    in PostgreSQL's lock timeout. That is not the event's fault: it stays pending, with no
    error, and is applied once the lock is gone."""
    from pagerbridge.connectors.secrets import generate_key
    from pagerbridge.store.engine import make_engine
    from pagerbridge.store.migrate import upgrade

    monkeypatch.setenv("PAGERBRIDGE_SECRET_KEY", generate_key())
    engine = make_engine(postgres_url)
    upgrade(engine)
    impatient = make_engine(postgres_url, connect_args={"options": "-c lock_timeout=200"})
    try:
        add_connector(engine, SimpleNamespace(url="http://127.0.0.1:9"))
        im = commands(engine)
        ref = im.declare(title="Contended", severity="SEV-2")["incident"]["id"]
        number = int(ref.removeprefix("INC-"))
        link_to(engine, number, "PBUSY1")
        store(engine, "incident.acknowledged", "PBUSY1")
        applier = WebhookApplier(impatient)
        with engine.begin() as blocker:
            locked = blocker.execute(
                sa.text("SELECT id FROM im_incidents WHERE id = :n FOR UPDATE"), {"n": number}
            ).all()
            assert len(locked) == 1
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                asyncio.run(applier.apply_pending())
            assert settled(engine) == [("incident.acknowledged", "pending", "")]
        assert asyncio.run(applier.apply_pending()) is False
        assert [s for _, s, _ in settled(engine)] == ["applied"]
        assert im.show(ref)["incident"]["status"] == "mitigated"
    finally:
        impatient.dispose()
        engine.dispose()
