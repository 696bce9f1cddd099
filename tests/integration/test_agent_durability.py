"""202 means durable: kill -9 right after 202s and every acknowledged event is in the database;
a storage failure is a 507 with a message, and what was accepted before it is kept."""

from __future__ import annotations

import http.client
import resource
import signal
import threading
from pathlib import Path
from typing import Any

from pagerbridge.agent.testing import HttpAnswer, post, start_agent_process
from pagerbridge.outbox import open_outbox

KEY = "0123456789abcdef0123456789abcdef"
NOWHERE = "http://127.0.0.1:9"  # deliveries fail and retry; rows stay in the outbox


def event(dedup: str, details: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"summary": dedup, "source": "tests", "severity": "info"}
    if details is not None:
        payload["custom_details"] = details
    return {"routing_key": KEY, "event_action": "trigger", "dedup_key": dedup, "payload": payload}


def stored_keys(db: str) -> set[str]:
    outbox = open_outbox(db)
    try:
        keys: set[str] = set()
        after = 0
        while rows := outbox.list_rows(after_id=after, limit=500):
            keys.update(r.dedup_key or "" for r in rows)
            after = rows[-1].id
        return keys
    finally:
        outbox.close()


def test_kill_9_right_after_202s_loses_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'agent.db'}"
    agent = start_agent_process(database_url=db, events_url=NOWHERE, workdir=tmp_path)
    acked: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def client(n: int) -> None:
        for i in range(200):
            if killed.is_set():
                return
            key = f"c{n}-{i}"
            try:
                answer = post(agent.enqueue_url, event(key), timeout=5)
            except (OSError, http.client.HTTPException):
                return
            if answer.status == 202:
                with lock:
                    acked.append(key)
                    if len(acked) >= 150 and not killed.is_set():
                        killed.set()
                        agent.proc.send_signal(signal.SIGKILL)  # while others are mid-request

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    agent.kill()
    assert agent.proc.returncode == -signal.SIGKILL
    assert len(acked) >= 150
    missing = set(acked) - stored_keys(db)
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"


def _limit_file_size(limit: int) -> Any:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_storage_failure_is_507_and_accepted_events_survive(tmp_path: Path) -> None:
    db_path = tmp_path / "agent.db"
    db = f"sqlite:///{db_path}"
    open_outbox(db).close()  # the schema exists before the file-size limit applies
    agent = start_agent_process(
        database_url=db,
        events_url=NOWHERE,
        workdir=tmp_path,
        preexec_fn=_limit_file_size(db_path.stat().st_size + 300 * 1024),
    )
    accepted: list[str] = []
    failure: HttpAnswer | None = None
    try:
        for i in range(200):
            answer = post(agent.enqueue_url, event(f"e{i}", {"blob": "x" * 20_000}))
            if answer.status == 202:
                accepted.append(f"e{i}")
                continue
            failure = answer
            break
        assert failure is not None, "the file-size limit never bit"
        assert failure.status == 507, failure.body
        body = failure.json()
        assert body["status"] == "storage error"
        assert body["message"] == "The event could not be stored"
        assert body["errors"] and "outbox" in body["errors"][0]
        assert accepted, "nothing was accepted before the limit"
        # Still refusing loudly (not 500, not a silent 202) while the disk is full.
        again = post(agent.enqueue_url, event("later", {"blob": "y" * 20_000}))
        assert again.status == 507
    finally:
        agent.kill()
    assert set(accepted) <= stored_keys(db)
