"""Every event goes where it was sent: rows record their destination and workers hold the rest.

Two sandboxes on two ports stand in for two PagerDutys (say, a sandbox and the real one). Each
case of issue 11's first defect is reproduced: a sandbox-mode agent must not deliver a row
written for another PagerDuty (update-watcher's own URL), a production agent must not deliver a
row written while a sandbox agent was recorded (pd-send), a held row keeps its place in its
alert's order, forwarding carries the destination, and unstamped rows of an older database go
to the first worker. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from pagerbridge.agent.testing import post, running_agent
from pagerbridge.outbox import DELIVERED, PENDING, DeliveryWorker, open_outbox
from pagerbridge.pagerduty.event_rules import events_base
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.waiting import wait_for

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
TOKEN = "edge-to-hub-shared-token"


def event(dedup: str, action: str = "trigger", summary: str = "disk full") -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": RK, "event_action": action, "dedup_key": dedup}
    if action == "trigger":
        body["payload"] = {"summary": summary, "source": "db-1", "severity": "error"}
    return body


def dedups(sandbox: SandboxHandle) -> list[tuple[str, str]]:
    return [(a["dedup_key"], a["event_action"]) for a in sandbox.arrivals(RK)]


@pytest.fixture
def two() -> Iterator[tuple[SandboxHandle, SandboxHandle]]:
    """Two PagerDutys: ``first`` (the sandbox ``up`` runs) and ``second`` (the "real" one)."""
    with running_sandbox() as first, running_sandbox() as second:
        yield first, second


def cli(tool: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    env["PAGERBRIDGE_AGENT_URL"] = "http://127.0.0.1:9"  # no silent hand-off to an agent
    code = f"from pagerbridge.cli.{tool} import run; run()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=60
    )


def enqueue_for(database_url: str, sandbox: SandboxHandle, dedup: str) -> Any:
    """A trigger queued by a producer configured for ``sandbox`` (like update-watcher)."""
    producer = open_outbox(database_url, destination=events_base(sandbox.url))
    try:
        return producer.enqueue_event(event(dedup))
    finally:
        producer.close()


def marker_delivered(agent: Any, sandbox: SandboxHandle, name: str) -> None:
    """Post an event of another alert through the agent and wait until it reaches ``sandbox``:
    by then the worker has claimed (and skipped) everything that was due before it."""
    assert post(agent.enqueue_url, event(name)).status == 202
    wait_for(lambda: (name, "trigger") in dedups(sandbox), f"{name} at {sandbox.url}")


def test_a_sandbox_agent_holds_a_row_meant_for_another_pagerduty(
    database_url: str, two: tuple[SandboxHandle, SandboxHandle]
) -> None:
    """``pagerbridge up`` in sandbox mode + update-watcher configured for the real PagerDuty."""
    first, second = two
    with running_agent(database_url=database_url, events_url=first.url) as agent:
        row = enqueue_for(database_url, second, "update-watcher/web-1")
        marker_delivered(agent, first, "marker-1")
        assert ("update-watcher/web-1", "trigger") not in dedups(first)
        stored = agent.agent.outbox.get(row.id)
        assert stored is not None and stored.state == PENDING
        assert stored.destination == events_base(second.url)
        held = agent.agent.outbox.held()
        assert [(h.destination, h.rows, h.first_id) for h in held] == [
            (events_base(second.url), 1, row.id)
        ]

        # update-watcher's own drain is a worker for its URL: it delivers the row there.
        async def drain() -> None:
            outbox = open_outbox(database_url)
            try:
                await DeliveryWorker(outbox, events_url=second.url).drain(10)
            finally:
                outbox.close()

        asyncio.run(drain())
        assert dedups(second) == [("update-watcher/web-1", "trigger")]
        done = agent.agent.outbox.get(row.id)
        assert done is not None and done.state == DELIVERED
    assert ("update-watcher/web-1", "trigger") not in dedups(first)


def test_a_production_agent_holds_what_pd_send_wrote_for_the_sandbox(
    database_url: str, two: tuple[SandboxHandle, SandboxHandle]
) -> None:
    """The reverse: pd-send stamps the recorded (sandbox) URL; a production agent holds it;
    ``pd-queue`` shows it held, and ``retry --held --to`` re-addresses it."""
    first, second = two
    with running_agent(database_url=database_url, events_url=first.url, deliver=False):
        pass  # records the sandbox's URL in the database, as `pagerbridge up` does
    sent = cli("pd_send", "--db", database_url, "-k", RK, "-t", "trigger", "-i", "from-pd-send",
               "-d", "written while the sandbox agent was recorded")  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    with running_agent(database_url=database_url, events_url=second.url) as agent:
        marker_delivered(agent, second, "marker-2")
        assert ("from-pd-send", "trigger") not in dedups(second)
        assert dedups(first) == []

        status = json.loads(cli("pd_queue", "status", "--db", database_url, "--json").stdout)
        assert status["destination"] == events_base(second.url)
        assert [(h["destination"], h["rows"]) for h in status["held"]] == [
            (events_base(first.url), 1)
        ]
        listed = json.loads(
            cli("pd_queue", "list", "--state", "pending", "--db", database_url, "--json").stdout
        )
        (held_row,) = listed["rows"]
        assert held_row["held"].startswith(f"meant for {events_base(first.url)}")
        text = cli("pd_queue", "status", "--db", database_url).stdout
        assert "held:" in text and "pd-queue retry --held" in text

        refused = cli("pd_queue", "retry", "--held", "--db", database_url)
        assert refused.returncode == 2 and "--to" in refused.stderr
        moved = cli("pd_queue", "retry", "--held", "--to", second.url, "--db", database_url)
        assert moved.returncode == 0, moved.stderr
        assert f"to {events_base(second.url)}" in moved.stdout
        wait_for(lambda: ("from-pd-send", "trigger") in dedups(second), "re-addressed row")
    assert dedups(first) == []


def test_a_held_row_keeps_its_place_in_its_alerts_order(
    database_url: str, two: tuple[SandboxHandle, SandboxHandle]
) -> None:
    first, second = two
    with running_agent(database_url=database_url, events_url=first.url) as agent:
        trigger = enqueue_for(database_url, second, "db-1/disk")
        assert post(agent.enqueue_url, event("db-1/disk", "resolve")).status == 202
        marker_delivered(agent, first, "marker-3")
        # The resolve is meant for `first`, but it waits behind the held trigger of its alert.
        assert ("db-1/disk", "resolve") not in dedups(first)
        # The resolve waits, but it is meant for this agent: not held, so --held never moves it.
        outbox = agent.agent.outbox
        assert outbox.retry(held=True, held_for=events_base(first.url), to=second.url) == 0
        assert outbox.retry(held=True, to=first.url) == 1
        wait_for(lambda: ("db-1/disk", "resolve") in dedups(first), "the resolve")
        order = [d for d in dedups(first) if d[0] == "db-1/disk"]
        assert order == [("db-1/disk", "trigger"), ("db-1/disk", "resolve")]
        moved = agent.agent.outbox.get(trigger.id)
        assert moved is not None and moved.destination == events_base(first.url)
    assert dedups(second) == []


def test_forwarding_carries_the_destination_to_the_hub(
    tmp_path: Any, database_url: str, two: tuple[SandboxHandle, SandboxHandle]
) -> None:
    first, second = two
    hub_config = {"listen": "127.0.0.1:0", "token": TOKEN, "loopback_exempt": False}
    with running_agent(database_url=database_url, events_url=first.url, config=hub_config) as hub:
        edge_db = f"sqlite:///{tmp_path / 'edge.db'}"
        edge_config = {"listen": "127.0.0.1:0", "forward": {"url": hub.url, "token": TOKEN}}
        enqueue_for(edge_db, second, "edge/meant-for-second")
        with running_agent(database_url=edge_db, config=edge_config) as edge:
            assert post(edge.enqueue_url, event("edge/plain")).status == 202
            wait_for(lambda: ("edge/plain", "trigger") in dedups(first), "forwarded event")

            def hub_rows() -> list[Any]:
                return hub.agent.outbox.list_rows(routing_key=RK)

            wait_for(lambda: len(hub_rows()) == 2, "both rows at the hub")
        by_key = {r.dedup_key: r for r in hub_rows()}
        assert by_key["edge/plain"].destination == events_base(first.url)
        assert by_key["edge/plain"].state == DELIVERED
        assert by_key["edge/meant-for-second"].destination == events_base(second.url)
        assert by_key["edge/meant-for-second"].state == PENDING
    assert ("edge/meant-for-second", "trigger") not in dedups(first)
    assert dedups(second) == []


def test_a_bad_destination_header_is_a_clear_400(database_url: str) -> None:
    with running_agent(database_url=database_url, deliver=False) as agent:
        answer = post(
            agent.enqueue_url,
            event("x"),
            headers={"X-Pagerbridge-Destination": "ftp://example.com"},
        )
        assert answer.status == 400
        assert "X-Pagerbridge-Destination" in answer.body.decode()
        assert agent.agent.outbox.list_rows() == []


def _old_schema(dialect: str) -> str:
    """The outbox schema as it was before rows had destinations."""
    from pagerbridge.outbox.queries import schema_sql

    sql = schema_sql(dialect)
    sql = sql.replace(",\n    destination TEXT", "")
    return sql[: sql.index("-- Where rows go")]


def test_unstamped_rows_of_an_older_database_go_to_the_first_worker(
    database_url: str, two: tuple[SandboxHandle, SandboxHandle]
) -> None:
    """A database from before this change: the column is added on open, and its rows (no
    destination) are delivered by whichever agent claims them first."""
    first, _second = two
    dialect = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    legacy_insert = (
        "INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state, "
        "attempts, next_attempt_at, created_at, updated_at, deadline_from) VALUES "
        "('event', '{payload}', '{rk}/legacy', '{rk}', 'legacy', 'pending', 0, 1, 1, 1, 1)"
    ).format(payload=json.dumps(event("legacy")), rk=RK)
    if dialect == "sqlite":
        import sqlite3

        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        conn.executescript(_old_schema("sqlite") + legacy_insert + ";")
        conn.commit()
        conn.close()
    else:
        import psycopg

        with psycopg.connect(database_url, autocommit=True) as pg:
            pg.execute(_old_schema("postgresql"))  # type: ignore[arg-type]
            pg.execute(legacy_insert)  # type: ignore[arg-type]
    with running_agent(database_url=database_url, events_url=first.url) as agent:
        wait_for(lambda: ("legacy", "trigger") in dedups(first), "the legacy row")

        def legacy_row() -> Any:
            (row,) = agent.agent.outbox.list_rows(dedup_key="legacy")
            return row if row.state == DELIVERED else None

        assert wait_for(legacy_row, "the legacy row recorded as delivered").destination is None


def test_retry_dead_skips_a_trigger_whose_alert_was_resolved_since(tmp_path: Any) -> None:
    """Issue 11 item 6: retrying an old dead trigger after its resolve was delivered would
    re-open the alert; pd-queue skips it, says so, and --force overrides."""
    from pagerbridge.outbox import DEAD, Completion

    url = f"sqlite:///{tmp_path / 'pb.db'}"
    outbox = open_outbox(url)
    try:
        trigger = outbox.enqueue_event(event("db-1/disk"))
        other = outbox.enqueue_event(event("db-2/disk"))
        claimed = outbox.storage.claim(now=outbox.clock(), limit=5, lease_seconds=60, worker="t")
        assert {r.id for r in claimed} == {trigger.id, other.id}
        outbox.storage.complete(
            [Completion(trigger.id, DEAD, last_error="HTTP 400: invalid"),
             Completion(other.id, DEAD, last_error="HTTP 400: invalid")],
            now=outbox.clock(),
        )  # fmt: skip
        resolve = outbox.enqueue_event(event("db-1/disk", "resolve"))
        (claimed_resolve,) = outbox.storage.claim(
            now=outbox.clock(), limit=5, lease_seconds=60, worker="t"
        )
        assert claimed_resolve.id == resolve.id
        outbox.storage.complete([Completion(resolve.id, DELIVERED)], now=outbox.clock())
    finally:
        outbox.close()

    proc = cli("pd_queue", "retry", "--dead", "--db", url)
    assert proc.returncode == 0, proc.stderr
    assert "1 row(s) queued" in proc.stdout
    assert f"1 dead row(s) skipped ({trigger.id})" in proc.stdout and "--force" in proc.stdout
    outbox = open_outbox(url)
    try:
        assert outbox.get(trigger.id).state == DEAD  # type: ignore[union-attr]
        assert outbox.get(other.id).state == PENDING  # type: ignore[union-attr]
    finally:
        outbox.close()
    by_id = json.loads(cli("pd_queue", "retry", str(trigger.id), "--db", url, "--json").stdout)
    assert by_id == {"retried": 0, "skipped_superseded": [trigger.id]}
    forced = json.loads(
        cli("pd_queue", "retry", str(trigger.id), "--force", "--db", url, "--json").stdout
    )
    assert forced == {"retried": 1}
