"""The agent delivering to the sandbox over loopback: order per key, outages, forwarding,
self-monitoring, and SIGTERM finishing the calls in flight."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.agent.config import SelfMonitoringSettings
from pagerbridge.agent.selfmonitor import SelfMonitor
from pagerbridge.agent.testing import post, running_agent, start_agent_process
from pagerbridge.outbox import DEAD, DELIVERED, PENDING, open_outbox
from pagerbridge.sandbox.testing import free_port, running_sandbox
from servers.waiting import wait_for

KEY = "deadbeefdeadbeefdeadbeefdeadbeef"  # the sandbox's demo routing key
TOKEN = "edge-to-hub-shared-token"
UNLIMITED = {"listen": "127.0.0.1:0", "delivery": {"rate_limit_per_minute": 0}}


def event(dedup: str, n: int = 0, action: str = "trigger") -> dict[str, Any]:
    body: dict[str, Any] = {"routing_key": KEY, "event_action": action, "dedup_key": dedup}
    if action == "trigger":
        body["payload"] = {"summary": f"{dedup} #{n}", "source": "tests", "severity": "error"}
    return body


def test_events_arrive_in_order_per_key(database_url: str) -> None:
    with (
        running_sandbox(rate_limits=False) as sandbox,
        running_agent(database_url=database_url, events_url=sandbox.url, config=UNLIMITED) as agent,
    ):
        sent = []
        for n in range(30):
            dedup = f"alert-{n % 3}"
            action = "resolve" if n >= 27 else "trigger"
            assert post(agent.enqueue_url, event(dedup, n, action)).status == 202
            sent.append((dedup, action, n))
        wait_for(lambda: len(sandbox.arrivals()) == 30, what="30 arrivals")
        arrivals = sandbox.arrivals()
        for dedup in ("alert-0", "alert-1", "alert-2"):
            got = [a["summary"] for a in arrivals if a["dedup_key"] == dedup and a["summary"]]
            want = [f"{d} #{n}" for d, act, n in sent if d == dedup and act == "trigger"]
            assert got == want
            # The resolve came after every trigger of its key.
            actions = [a["event_action"] for a in arrivals if a["dedup_key"] == dedup]
            assert actions[-1] == "resolve"
        # The sandbox may record an arrival a moment before the worker records the outcome.
        wait_for(
            lambda: {r.state for r in agent.agent.outbox.list_rows(limit=100)} == {DELIVERED},
            what="every row delivered",
        )


def test_sandbox_down_for_a_while_then_everything_arrives(sqlite_url: str) -> None:
    port = free_port()
    with running_sandbox(port=port, rate_limits=False) as sandbox:
        url = sandbox.url
    # The sandbox is gone: connections are refused.
    fast = {
        "listen": "127.0.0.1:0",
        "delivery": {"retry_initial": 0.05, "retry_max": 0.5, "rate_limit_per_minute": 0},
    }
    with running_agent(database_url=sqlite_url, events_url=url, config=fast) as agent:
        for n in range(20):
            assert post(agent.enqueue_url, event(f"k{n % 4}", n)).status == 202
        time.sleep(1.5)
        outbox = agent.agent.outbox
        assert outbox.stats().by_state.get(DELIVERED, 0) == 0
        rows = outbox.list_rows(limit=100)
        assert any(r.attempts > 0 for r in rows)
        assert all(r.state in (PENDING, "in_flight") for r in rows)
        with running_sandbox(port=port, rate_limits=False, faults={"burst_429": 5}) as back:
            wait_for(lambda: len(back.arrivals()) == 20, timeout=30, what="20 arrivals")
            stats = outbox.stats().by_state
            assert stats.get(DEAD, 0) == 0
            wait_for(lambda: outbox.stats().by_state.get(DELIVERED, 0) == 20, what="delivered")
        metrics = agent.agent.metrics.render().decode()
        assert 'pagerbridge_delivery_retries_total{reason="connection"}' in metrics


def test_forwarding_edge_to_hub(tmp_path: Path) -> None:
    hub_config = {"listen": "127.0.0.1:0", "token": TOKEN, "loopback_exempt": False}
    with (
        running_sandbox(rate_limits=False) as sandbox,
        running_agent(
            database_url=f"sqlite:///{tmp_path / 'hub.db'}",
            events_url=sandbox.url,
            config=hub_config,
        ) as hub,
    ):
        edge_config = {"listen": "127.0.0.1:0", "forward": {"url": hub.url, "token": TOKEN}}
        wrong_config = {"listen": "127.0.0.1:0", "forward": {"url": hub.url, "token": "x" * 20}}
        with running_agent(
            database_url=f"sqlite:///{tmp_path / 'edge.db'}", config=edge_config
        ) as edge:
            assert edge.agent.target.kind == "forward"
            answer = post(edge.enqueue_url, event("fwd-1"))
            assert answer.status == 202
            wait_for(lambda: len(sandbox.arrivals()) == 1, what="forwarded arrival")
            assert sandbox.arrivals()[0]["dedup_key"] == "fwd-1"
        with running_agent(
            database_url=f"sqlite:///{tmp_path / 'wrong.db'}", config=wrong_config
        ) as wrong:
            assert post(wrong.enqueue_url, event("fwd-2")).status == 202
            wait_for(
                lambda: any(r.attempts for r in wrong.agent.outbox.list_rows()), what="attempt"
            )
            (row,) = wrong.agent.outbox.list_rows()
            # A refused token is a configuration problem: retried, never dead-lettered.
            assert row.state in (PENDING, "in_flight")
            assert "token" in (row.last_error or "")
        assert len(sandbox.arrivals()) == 1


def test_self_monitoring_pages_about_dead_letters_and_backlog(sqlite_url: str) -> None:
    now = [1_800_000_000.0]
    outbox = open_outbox(sqlite_url, clock=lambda: now[0])
    try:
        settings = SelfMonitoringSettings(routing_key="f" * 32, oldest_pending_threshold=60)
        monitor = SelfMonitor(
            settings,
            stats=outbox.stats,
            enqueue=outbox.enqueue_event_async,
            clock=lambda: now[0],
            source="edge-7",
        )
        # Fresh start, all clear: one resolve per alert (we may have raised them before).
        assert asyncio.run(monitor.check()) == ["resolve:dead-letters", "resolve:backlog"]
        assert asyncio.run(monitor.check()) == []
        outbox.enqueue_event(event("old"))
        now[0] += 120
        assert asyncio.run(monitor.check()) == ["trigger:backlog"]
        storage = outbox.storage
        (row,) = storage.claim(now=now[0], limit=1, lease_seconds=30, worker="t")
        from pagerbridge.outbox import Completion

        storage.complete([Completion(row.id, DEAD, last_error="HTTP 400")], now=now[0])
        sent = asyncio.run(monitor.check())
        assert "trigger:dead-letters" in sent
        pages = [
            r.payload_json()
            for r in outbox.list_rows(routing_key="f" * 32, limit=50)
            if r.payload_json()["event_action"] == "trigger"
        ]
        keys = {p["dedup_key"] for p in pages}
        assert keys == {
            "pagerbridge-agent/edge-7/backlog",
            "pagerbridge-agent/edge-7/dead-letters",
        }
        assert all(p["payload"]["source"] == "edge-7" for p in pages)
        outbox.purge(dead=True)
        assert "resolve:dead-letters" in asyncio.run(monitor.check())
    finally:
        outbox.close()


def test_sigterm_finishes_the_call_in_flight_and_exits_0(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'agent.db'}"
    with running_sandbox(rate_limits=False) as sandbox:
        sandbox.set_faults(latency=1.5)
        agent = start_agent_process(database_url=db, events_url=sandbox.url, workdir=tmp_path)
        try:
            assert post(agent.enqueue_url, event("slow")).status == 202
            watcher = open_outbox(db)
            try:  # wait until the delivery is waiting on the sandbox's latency
                wait_for(lambda: watcher.list_rows()[0].state == "in_flight", what="in flight")
            finally:
                watcher.close()
            started = time.monotonic()
            code = agent.terminate()
            took = time.monotonic() - started
        finally:
            agent.kill()
        assert code == 0, agent.log()
        assert took < 10
        with pytest.raises(OSError):
            post(agent.enqueue_url, event("late"), timeout=2)
        assert [a["dedup_key"] for a in sandbox.arrivals()] == ["slow"]
    outbox = open_outbox(db)
    try:
        (row,) = outbox.list_rows()
        assert row.state == DELIVERED
    finally:
        outbox.close()


def test_events_url_ending_in_v2_enqueue_and_change_events(sqlite_url: str) -> None:
    with (
        running_sandbox(rate_limits=False) as sandbox,
        running_agent(
            database_url=sqlite_url, events_url=sandbox.events_url, config=UNLIMITED
        ) as agent,
    ):
        assert sandbox.events_url.endswith("/v2/enqueue")
        assert post(agent.enqueue_url, event("suffix")).status == 202
        change = {"routing_key": KEY, "payload": {"summary": "deployed", "source": "ci"}}
        assert post(agent.change_url, change).status == 202
        wait_for(lambda: len(sandbox.arrivals()) == 2, what="2 arrivals")
        kinds = sorted((a["change"], a["dedup_key"] or "") for a in sandbox.arrivals())
        assert kinds[0] == (False, "suffix")
        assert kinds[1][0] is True
