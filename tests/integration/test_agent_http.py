"""The agent's Events API over real loopback HTTP: PagerDuty's bodies, limits, auth, metrics.

The agent runs in a thread (``pagerbridge.agent.testing.running_agent``) without its delivery
worker, so every accepted event stays in the outbox where the test can look at it.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.agent.testing import AgentHandle, get, post, running_agent
from pagerbridge.outbox import PENDING, SUPPRESSED

KEY = "0123456789abcdef0123456789abcdef"
TOKEN = "a-shared-token-of-some-length"


def trigger(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": KEY,
        "event_action": "trigger",
        "payload": {"summary": "disk full", "source": "db-1", "severity": "critical"},
    }
    event.update(overrides)
    return event


@pytest.fixture
def agent(sqlite_url: str) -> Iterator[AgentHandle]:
    with running_agent(database_url=sqlite_url, deliver=False) as handle:
        yield handle


def test_202_carries_pagerduty_body_and_row_is_stored(agent: AgentHandle) -> None:
    answer = post(agent.enqueue_url, trigger(dedup_key="disk/db-1"))
    assert answer.status == 202
    assert answer.json() == {
        "status": "success",
        "message": "Event processed",
        "dedup_key": "disk/db-1",
    }
    (row,) = agent.agent.outbox.list_rows()
    assert row.state == PENDING
    assert row.dedup_key == "disk/db-1"
    stored = row.payload_json()
    assert stored["payload"]["summary"] == "disk full"
    assert "timestamp" in stored["payload"]  # accepted time kept for late delivery


def test_trigger_without_dedup_key_gets_one_and_it_is_stored(agent: AgentHandle) -> None:
    answer = post(agent.enqueue_url, trigger())
    assert answer.status == 202
    key = answer.json()["dedup_key"]
    assert isinstance(key, str) and len(key) >= 16
    (row,) = agent.agent.outbox.list_rows()
    assert row.dedup_key == key
    assert row.payload_json()["dedup_key"] == key


def test_change_event(agent: AgentHandle) -> None:
    answer = post(
        agent.change_url,
        {"routing_key": KEY, "payload": {"summary": "deployed v2", "source": "ci"}},
    )
    assert answer.status == 202, answer.body
    assert answer.json()["status"] == "success"
    (row,) = agent.agent.outbox.list_rows()
    assert row.change


@pytest.mark.parametrize(
    ("body", "status_text", "fragment"),
    [
        (b"{not json", "Unrecognized object", "JSON parse error"),
        (b"[1, 2]", "Unrecognized object", "JSON object"),
        (b"", "Unrecognized object", "JSON parse error"),
        (json.dumps(trigger(routing_key="short")).encode(), "invalid event", "routing_key"),
        (json.dumps(trigger(event_action="explode")).encode(), "invalid event", "event_action"),
        (
            json.dumps(trigger(payload={"summary": 5, "source": "x", "severity": "bad"})).encode(),
            "invalid event",
            "severity",
        ),
        (
            json.dumps({"routing_key": KEY, "event_action": "resolve"}).encode(),
            "invalid event",
            "dedup_key",
        ),
        (  # PagerDuty answers 400: never stored to be retried against it for a day
            json.dumps(
                {"routing_key": KEY, "event_action": "resolve", "dedup_key": "k", "payload": "x"}
            ).encode(),
            "invalid event",
            "payload",
        ),
    ],
)
def test_malformed_input_is_a_pagerduty_style_400(
    agent: AgentHandle, body: bytes, status_text: str, fragment: str
) -> None:
    answer = post(agent.enqueue_url, body)
    assert answer.status == 400
    data = answer.json()
    assert data["status"] == status_text
    assert isinstance(data["message"], str) and data["message"]
    assert any(fragment in e for e in data["errors"]), data
    assert agent.agent.outbox.list_rows() == []


def test_oversized_body_is_refused_before_parsing(agent: AgentHandle) -> None:
    big = b'{"x": "' + b"a" * (600 * 1024) + b'"}'
    answer = post(agent.enqueue_url, big)
    assert answer.status == 400
    assert "too large" in answer.json()["errors"][0]
    # Chunked (no Content-Length): refused while streaming.
    host, port = agent.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /v2/enqueue HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"a" * 65536
        for _ in range(10):
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        sock.sendall(b"0\r\n\r\n")
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert agent.agent.outbox.list_rows() == []


def test_queue_full_is_503_with_retry_after(sqlite_url: str) -> None:
    config = {"listen": "127.0.0.1:0", "delivery": {"max_queue_size": 3}}
    with running_agent(database_url=sqlite_url, config=config, deliver=False) as agent:
        for i in range(3):
            assert post(agent.enqueue_url, trigger(dedup_key=f"k{i}")).status == 202
        answer = post(agent.enqueue_url, trigger(dedup_key="k3"))
        assert answer.status == 503
        assert int(answer.headers["retry-after"]) > 0
        assert answer.json()["status"] == "queue full"
        assert [r.dedup_key for r in agent.agent.outbox.list_rows()] == ["k0", "k1", "k2"]
        metrics = get(agent.url + "/metrics").body.decode()
        assert 'pagerbridge_events_refused_total{reason="queue_full"} 1.0' in metrics


def test_maintenance_window_stores_suppressed(sqlite_url: str) -> None:
    config = {
        "listen": "127.0.0.1:0",
        "maintenance": [
            {"name": "db work", "from": "00:00", "to": "00:00", "match": {"source": "db-*"}}
        ],
    }
    with running_agent(database_url=sqlite_url, config=config, deliver=False) as agent:
        assert post(agent.enqueue_url, trigger(dedup_key="a")).status == 202
        web = trigger(dedup_key="b", payload={"summary": "s", "source": "web", "severity": "info"})
        assert post(agent.enqueue_url, web).status == 202
        states = {r.dedup_key: r.state for r in agent.agent.outbox.list_rows()}
        assert states == {"a": SUPPRESSED, "b": PENDING}
        metrics = get(agent.url + "/metrics").body.decode()
        assert "pagerbridge_events_suppressed_total 1.0" in metrics


def test_token_required_when_loopback_is_not_exempt(sqlite_url: str) -> None:
    config = {"listen": "127.0.0.1:0", "token": TOKEN, "loopback_exempt": False}
    with running_agent(database_url=sqlite_url, config=config, deliver=False) as agent:
        refused = post(agent.enqueue_url, trigger())
        assert refused.status == 401
        assert refused.json()["status"] == "unauthorized"
        assert TOKEN not in refused.body.decode()
        wrong = post(agent.enqueue_url, trigger(), headers={"X-Pagerbridge-Token": "nope"})
        assert wrong.status == 401
        ok = post(agent.enqueue_url, trigger(), headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status == 202
        assert get(agent.url + "/metrics").status == 401
        assert get(agent.url + "/metrics", headers={"X-Pagerbridge-Token": TOKEN}).status == 200
        assert get(agent.url + "/health").status == 200  # probes need no token
        assert len(agent.agent.outbox.list_rows()) == 1


def test_health_metrics_and_unknown_routes(agent: AgentHandle) -> None:
    assert post(agent.enqueue_url, trigger()).status == 202
    health = get(agent.url + "/health")
    assert health.status == 200 and health.json()["ok"] is True
    metrics = get(agent.url + "/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.body.decode()
    assert 'pagerbridge_outbox_rows{state="pending"} 1.0' in text
    assert 'pagerbridge_events_accepted_total{kind="event"} 1.0' in text
    assert "pagerbridge_outbox_oldest_pending_age_seconds" in text
    assert "pagerbridge_outbox_folded_events 0.0" in text
    assert KEY not in text  # routing keys are secrets: never a label
    missing = get(agent.url + "/v1/nothing")
    assert missing.status == 404 and missing.json()["status"] == "not found"
    assert get(agent.enqueue_url).status == 405


def test_database_path_in_a_missing_directory_is_created(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'deep' / 'er' / 'db.sqlite'}"
    with running_agent(database_url=url, deliver=False) as agent:
        assert post(agent.enqueue_url, trigger()).status == 202
