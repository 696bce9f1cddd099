"""A real agent on a database that also holds a connector's REST row (issue 13: who sends what).

The hub's connector writes ``pd_rest`` rows into the same outbox, in the transaction of the
incident change (``enqueue_in_transaction``). The agent beside it must deliver its events, and
leave the REST row alone: never POST it to ``/v2/enqueue`` (which would dead-letter it), never
count it as its backlog in ``/health``, never in its queue metrics.
"""

from __future__ import annotations

import time
from typing import Any

from pagerbridge.agent.testing import get, post, running_agent
from pagerbridge.outbox import DELIVERED, PENDING, REST_KIND, enqueue_in_transaction, open_storage
from pagerbridge.sandbox.testing import SandboxHandle
from pagerbridge.store.engine import make_engine
from servers.waiting import wait_for

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
HOUR_AGO = time.time() - 3600


def test_the_agent_sends_its_events_and_leaves_rest_rows_to_the_hub(
    database_url: str, sandbox: SandboxHandle
) -> None:
    open_storage(database_url).close()  # the outbox tables, as any process on the database
    engine = make_engine(database_url)
    try:
        with engine.begin() as conn:  # connector rows, an hour old: the hub is not running
            rest_ids = [
                enqueue_in_transaction(
                    conn,
                    REST_KIND,
                    {"action": "create", "incident": n},
                    f"connector:1/incident:{n}",
                    routing_key="rest:1",
                    destination=destination,
                    now=HOUR_AGO,
                )
                for n, destination in ((1, "connector:1"), (2, None))
            ]
    finally:
        engine.dispose()
    event: dict[str, Any] = {
        "routing_key": RK,
        "event_action": "trigger",
        "dedup_key": "db-1/disk",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "error"},
    }
    with running_agent(database_url=database_url, events_url=sandbox.url) as agent:
        answer = post(agent.enqueue_url, event)
        assert answer.status == 202, answer.body

        def delivered() -> bool:
            (row,) = agent.agent.outbox.list_rows(dedup_key="db-1/disk")
            return row.state == DELIVERED

        wait_for(delivered, "the event delivered")
        assert [a["dedup_key"] for a in sandbox.arrivals(RK)] == ["db-1/disk"]
        health = get(agent.url + "/health")
        assert health.status == 200, health.body
        assert health.json()["checks"]["backlog"]["oldest_due_age"] is None
        metrics = get(agent.url + "/metrics").body.decode()
        assert 'pagerbridge_outbox_rows{state="pending"} 0.0' in metrics
        assert agent.agent.worker.held == [] and agent.agent.outbox.held() == []  # not "held"
        rest_rows = [agent.agent.outbox.get(i) for i in rest_ids]
    for rest in rest_rows:
        assert rest is not None and rest.kind == REST_KIND
        assert (rest.state, rest.attempts, rest.last_error) == (PENDING, 0, None)
        assert rest.updated_at == rest.created_at == HOUR_AGO  # untouched: never claimed
    assert len(sandbox.arrivals()) == 1  # nothing else reached PagerDuty
