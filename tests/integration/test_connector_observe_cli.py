"""``im logs --follow`` as a real process: it prints what matches, then each new record as another
process writes it, and stops cleanly on Ctrl-C (SIGINT)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

from pagerbridge.connectors import logstore
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade
from servers.waiting import wait_for

IM = str(Path(sys.executable).with_name("im"))


def test_follow_prints_new_records_until_ctrl_c(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    engine = make_engine(url)
    upgrade(engine)
    logstore.write(engine, "webhook", "warning", "forged webhook refused (401)", connector="pd")
    logstore.write(engine, "sync", "info", "INC-1 declared: not this component", connector="pd")
    proc = subprocess.Popen(
        [IM, "logs", "--component", "webhook", "--follow", "--json", "--db", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout or []], daemon=True).start()
    seen: list[dict[str, object]] = []

    def got(n: int) -> bool:
        while not lines.empty():
            seen.append(json.loads(lines.get()))
        return len(seen) >= n

    try:
        wait_for(lambda: got(1), "the existing record", timeout=10)
        logstore.write(engine, "sync", "error", "not shown either", connector="pd")
        logstore.write(engine, "webhook", "info", "incident.acknowledged P1 applied: ok")
        wait_for(lambda: got(2), "the new record", timeout=10)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        engine.dispose()
    assert proc.returncode == 0, err
    assert [r["message"] for r in seen] == [
        "forged webhook refused (401)",
        "incident.acknowledged P1 applied: ok",
    ]
    assert seen[0]["connector"] == "pd" and seen[0]["level"] == "warning"
