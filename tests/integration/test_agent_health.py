"""``/health`` tells the truth: a real agent whose storage fails, or whose backlog is old, answers
503 with the reason (and ``/metrics`` says the same), and 200 again once it recovers."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from pagerbridge.agent.testing import AgentHandle, HttpAnswer, get, post, running_agent
from pagerbridge.pagerduty.outcome import Accepted, Outcome
from servers.flaky_storage import FlakyStorage

RK = "0123456789abcdef0123456789abcdef"
OTHER_RK = "fedcba9876543210fedcba9876543210"
T0 = 1_800_000_000.0


def event(dedup: str, routing_key: str = RK) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": "disk full", "source": "db-1", "severity": "error"},
    }


def wait_for(
    probe: Callable[[], HttpAnswer], accept: Callable[[HttpAnswer], bool], timeout: float = 20.0
) -> HttpAnswer:
    """Poll ``probe`` until ``accept`` holds; fail with the last answer after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        answer = probe()
        if accept(answer):
            return answer
        assert time.monotonic() < end, (answer.status, answer.body[:600])
        time.sleep(0.05)


def health(agent: AgentHandle) -> HttpAnswer:
    return get(agent.url + "/health")


def gauge(agent: AgentHandle, check: str) -> float:
    text = get(agent.url + "/metrics").body.decode()
    line = f'pagerbridge_agent_health_ok{{check="{check}"}} '
    (value,) = [row[len(line) :] for row in text.splitlines() if row.startswith(line)]
    return float(value)


def failing(check: str) -> Callable[[HttpAnswer], bool]:
    return lambda a: a.status == 503 and a.json()["checks"][check]["ok"] is False


def healthy(answer: HttpAnswer) -> bool:
    return answer.status == 200 and answer.json()["ok"] is True


def test_a_worker_that_cannot_claim_turns_health_503_then_back(sqlite_url: str) -> None:
    config = {"listen": "127.0.0.1:0", "health": {"worker_failing_after": "2s"}}
    with running_agent(database_url=sqlite_url, config=config) as agent:
        answer = health(agent)
        assert healthy(answer)
        assert answer.json()["worker"] == "running" and answer.json()["status"] == "ok"
        assert set(answer.json()["checks"]) == {"worker", "storage", "backlog"}
        assert gauge(agent, "worker") == 1.0

        flaky = FlakyStorage(agent.agent.worker.storage)
        agent.call(lambda: setattr(agent.agent.worker, "storage", flaky))
        flaky.broken.set()
        broken_at = time.monotonic()
        # The first failures are within the threshold: still 200, but they show.
        early = wait_for(
            lambda: health(agent), lambda a: a.json()["checks"]["worker"]["last_error"]
        )
        assert early.status == 200 or time.monotonic() - broken_at >= 2.0

        answer = wait_for(lambda: health(agent), failing("worker"))
        assert time.monotonic() - broken_at < 2.0 + 5.0  # within the threshold (plus polling)
        body = answer.json()
        reason = body["checks"]["worker"]["reason"]
        assert reason.startswith("claim failing for ") and reason.endswith("disk I/O error")
        assert body["ok"] is False and body["status"] == "degraded"
        assert body["worker"] == "running"  # the task runs; its storage does not
        assert body["checks"]["storage"]["ok"] is True  # reads still work
        assert body["reasons"] == [f"worker: {reason}"]
        assert gauge(agent, "worker") == 0.0 and gauge(agent, "storage") == 1.0

        flaky.broken.clear()
        wait_for(lambda: health(agent), healthy)
        assert gauge(agent, "worker") == 1.0
        agent.call(lambda: setattr(agent.agent.worker, "storage", flaky.inner))


@pytest.mark.postgres
def test_a_postgres_outage_turns_health_503_then_back(
    postgres_url: str, postgres_server_url: str
) -> None:
    """The database refuses connections (as while it restarts): the worker's claims and the
    storage probe fail for real; once it is back, ``/health`` says 200 again."""
    name = postgres_url.rsplit("/", 1)[1]
    config = {
        "listen": "127.0.0.1:0",
        "health": {"worker_failing_after": "1s", "probe_timeout": "2s"},
    }

    def allow(on: bool) -> None:
        with psycopg.connect(postgres_server_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(on).lower()}')
            if not on:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    with running_agent(database_url=postgres_url, config=config) as agent:
        wait_for(lambda: health(agent), healthy)
        try:
            allow(False)
            answer = wait_for(
                lambda: health(agent),
                lambda a: failing("worker")(a) and a.json()["checks"]["storage"]["ok"] is False,
            )
            checks = answer.json()["checks"]
            assert checks["worker"]["reason"].startswith("claim failing for ")
            assert "outbox database" in checks["worker"]["reason"]
            assert checks["storage"]["reason"].startswith("the outbox database probe failed")
            assert gauge(agent, "storage") == 0.0
        finally:
            allow(True)
        wait_for(lambda: health(agent), healthy)
        assert post(agent.enqueue_url, event("after")).status == 202


@pytest.mark.parametrize(
    "database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_an_old_backlog_is_503_unless_its_key_is_paused(
    database: str, request: pytest.FixtureRequest, sqlite_url: str
) -> None:
    url = sqlite_url if database == "sqlite" else request.getfixturevalue("postgres_url")
    now = [T0]
    config = {"listen": "127.0.0.1:0", "health": {"oldest_due_threshold": "10m"}}
    with running_agent(
        database_url=url, config=config, clock=lambda: now[0], deliver=False
    ) as agent:
        assert post(agent.enqueue_url, event("old")).status == 202
        now[0] += 9 * 60  # younger than the threshold: fine
        wait_for(lambda: health(agent), lambda a: a.json()["checks"]["backlog"]["oldest_due_age"])
        assert healthy(health(agent))

        now[0] += 2 * 60  # 11 min: too old
        answer = wait_for(lambda: health(agent), failing("backlog"))
        backlog = answer.json()["checks"]["backlog"]
        assert backlog["reason"] == (
            "the oldest event waiting to be sent was accepted 11 min ago (threshold 10 min)"
        )
        assert backlog["oldest_due_age"] == pytest.approx(660)
        assert answer.json()["checks"]["worker"]["ok"] is True
        assert gauge(agent, "backlog") == 0.0

        # A paused key's rows wait on purpose: they are not a backlog.
        agent.call(lambda: agent.agent.outbox.pause(RK))
        wait_for(lambda: health(agent), healthy)
        assert gauge(agent, "backlog") == 1.0

        # A young row of another key does not count either, until it is old too.
        assert post(agent.enqueue_url, event("young", OTHER_RK)).status == 202
        assert healthy(health(agent))
        now[0] += 11 * 60
        wait_for(lambda: health(agent), failing("backlog"))


def test_a_wedged_worker_shows_as_backlog(sqlite_url: str) -> None:
    """The worker's one slot hangs on a call that never returns: it claims nothing more, so no
    claim fails, but events wait unclaimed. Only the backlog check can tell."""
    now = [T0]
    gate = threading.Event()

    async def hanging(body: bytes, change: bool, *destination: str | None) -> Outcome:
        await asyncio.to_thread(gate.wait, 30)
        return Accepted(None, 202, "ok")

    config = {
        "listen": "127.0.0.1:0",
        "delivery": {"workers": 1, "rate_limit_per_minute": 0},
        "health": {"oldest_due_threshold": "10m"},
    }
    try:
        with running_agent(
            database_url=sqlite_url, config=config, clock=lambda: now[0], sender=hanging
        ) as agent:
            assert post(agent.enqueue_url, event("first")).status == 202
            assert post(agent.enqueue_url, event("second")).status == 202
            now[0] += 11 * 60
            answer = wait_for(lambda: health(agent), failing("backlog"))
            checks = answer.json()["checks"]
            assert checks["worker"]["ok"] is True and checks["storage"]["ok"] is True
            gate.set()
            wait_for(lambda: health(agent), healthy)
    finally:
        gate.set()
