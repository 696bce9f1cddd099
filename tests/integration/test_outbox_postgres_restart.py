"""PostgreSQL dropping the agent's connections (a restart, a failover, an admin's
``pg_terminate_backend``): the batch in flight fails loudly, nothing of it is half-stored, and the
next one goes through on a fresh connection, both in the storage and over the agent's HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest

from pagerbridge.agent.testing import post, running_agent
from pagerbridge.errors import StorageError
from pagerbridge.outbox import PENDING, NewRow, open_outbox, open_storage, ordering_key

pytestmark = pytest.mark.postgres

RK = "deadbeefdeadbeefdeadbeefdeadbeef"


def row(dedup: str) -> NewRow:
    payload = f'{{"routing_key":"{RK}","event_action":"trigger","dedup_key":"{dedup}"}}'
    return NewRow("event", payload, ordering_key(RK, dedup), RK, dedup, PENDING)


def other_sessions(url: str, *, terminate: bool = False) -> int:
    """How many other sessions the test database has; with ``terminate``, end them all first,
    as a restart would."""
    counted = "pg_terminate_backend(pid)" if terminate else "*"
    with psycopg.connect(url, autocommit=True) as admin:
        found = admin.execute(
            f"SELECT count({counted}) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchone()
    return int(found[0]) if found else 0


def test_a_dropped_connection_fails_one_batch_then_reconnects(postgres_url: str) -> None:
    storage = open_storage(postgres_url)
    try:
        storage.insert_batch([row("before")], now=1.0, max_pending=1000)
        assert other_sessions(postgres_url, terminate=True) >= 1
        with pytest.raises(StorageError, match="outbox database"):
            storage.insert_batch([row("lost-1"), row("lost-2")], now=1.0, max_pending=1000)
        (after,) = storage.insert_batch([row("after")], now=1.0, max_pending=1000)
        assert after is not None
        kept = [r.dedup_key for r in storage.list_rows(states=[PENDING])]
        assert kept == ["before", "after"]  # the failed batch left nothing behind
    finally:
        storage.close()


def event(dedup: str) -> dict[str, Any]:
    return {
        "routing_key": RK,
        "event_action": "trigger",
        "dedup_key": dedup,
        "payload": {"summary": dedup, "source": "tests", "severity": "error"},
    }


def test_the_agent_answers_507_for_the_lost_batch_and_202_after(postgres_url: str) -> None:
    accepted = ["before"]
    with (
        running_agent(database_url=postgres_url, deliver=False) as agent,
        ThreadPoolExecutor(8) as pool,
    ):
        idle = other_sessions(postgres_url)  # the agent's own, before any event
        assert post(agent.enqueue_url, event("before")).status == 202
        # Concurrent posts until both group-commit writers hold a connection of their own.
        for round_ in range(50):
            names = [f"warm-{round_}-{i}" for i in range(8)]
            answers = list(pool.map(lambda n: post(agent.enqueue_url, event(n)), names))
            assert {a.status for a in answers} == {202}
            accepted += names
            if other_sessions(postgres_url) >= idle + 2:
                break
        assert other_sessions(postgres_url, terminate=True) >= idle + 2
        lost = post(agent.enqueue_url, event("lost"))
        assert lost.status == 507, lost  # not durable, and the client is told so (it retries)
        assert b"could not be stored" in lost.body
        for n in range(4):  # both writers reconnect
            assert post(agent.enqueue_url, event(f"after-{n}")).status in (202, 507)
        assert post(agent.enqueue_url, event("after")).status == 202
        accepted.append("after")
    outbox = open_outbox(postgres_url)
    try:
        stored = {r.dedup_key for r in outbox.list_rows(limit=10_000)}
    finally:
        outbox.close()
    assert "lost" not in stored and set(accepted) <= stored
