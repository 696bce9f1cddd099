"""SQLite's POSIX-lock pitfall: a long-running process (the agent, `pagerbridge up`) holds the
outbox open while pd-send and pd-queue come and go. If anything in that process opens and closes
the database file by hand, the process loses all its SQLite locks, another process's close then
checkpoints and deletes the WAL under the live connection, and accepted events are lost."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pagerbridge.outbox import open_outbox
from pagerbridge.store.engine import make_engine

RK = "deadbeefdeadbeefdeadbeefdeadbeef"


def run(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    code = f"from pagerbridge.cli.{module} import run; run()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=30
    )


def event(summary: str) -> dict[str, object]:
    return {
        "routing_key": RK,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "t", "severity": "info"},
    }


def test_a_long_running_process_never_loses_its_locks(tmp_path: Path) -> None:
    db = tmp_path / "pb.db"
    url = f"sqlite:///{db}"
    agent = open_outbox(url)  # the agent's outbox, open for the whole test
    agent.enqueue_event(event("from the agent 1"))
    engine = make_engine(url)  # the hub in the same process (`pagerbridge up`)
    with engine.connect():
        pass
    assert (
        run("pd_send", "--db", str(db), "-k", RK, "-t", "trigger", "-d", "from pd-send").returncode
        == 0
    )
    assert run("pd_queue", "status", "--db", str(db), "--json").returncode == 0
    assert (tmp_path / "pb.db-wal").exists()  # nobody checkpointed the WAL away under the agent
    agent.enqueue_event(event("from the agent 2"))
    seen_by_agent = [r.payload_json()["payload"]["summary"] for r in agent.list_rows()]
    engine.dispose()
    agent.close()
    fresh = open_outbox(url)
    try:
        summaries = [r.payload_json()["payload"]["summary"] for r in fresh.list_rows()]
    finally:
        fresh.close()
    expected = ["from the agent 1", "from pd-send", "from the agent 2"]
    assert seen_by_agent == expected
    assert summaries == expected
