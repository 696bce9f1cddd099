"""`pagerbridge agent` as a process: SIGHUP reloads its syslog source, and kill -9 during a TCP
burst loses no message it had counted as stored."""

from __future__ import annotations

import contextlib
import signal
import socket
import sqlite3
import threading
from pathlib import Path

from pagerbridge.agent.testing import AgentProcess, free_port, get, start_agent_process
from servers.waiting import wait_for

KEY = "c" * 32
NOWHERE = "http://127.0.0.1:9"  # rows stay pending: the database shows everything stored
BURST = 30_000


def config(port: int, prefix: str) -> str:
    return f"""\
sources:
  syslog:
    udp: null
    tcp: 127.0.0.1:{port}
    routing_key: {KEY}
    rules:
      - match: {{app: burst}}
        dedup_key: "{prefix}{{{{ message }}}}"
        summary: "burst {{{{ message }}}}"
"""


def stored(agent: AgentProcess) -> float:
    text = get(agent.url + "/metrics").body.decode()
    for line in text.splitlines():
        if line.startswith('pagerbridge_source_stored_total{source="syslog"}'):
            return float(line.split()[-1])
    return 0.0


def keys(db: Path, prefix: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT dedup_key FROM outbox WHERE dedup_key LIKE ?", (prefix + "%",)
        ).fetchall()
    return {row[0] for row in rows}


def connects(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_sighup_reloads_then_kill9_mid_burst_loses_nothing_counted(tmp_path: Path) -> None:
    db = tmp_path / "agent.db"
    first, second = free_port(), free_port()
    agent = start_agent_process(
        database_url=f"sqlite:///{db}",
        events_url=NOWHERE,
        workdir=tmp_path,
        config_text=config(first, "v1-"),
    )
    try:
        wait_for(lambda: connects(first), "the syslog listener")
        (config_path,) = tmp_path.glob("agent-*.yaml")
        config_path.write_text(config(second, "v2-"))
        agent.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: connects(second), "the listener moved by SIGHUP")
        with socket.create_connection(("127.0.0.1", second)) as conn:
            conn.sendall(b"<11>1 - h burst - - - hello\n")
        wait_for(lambda: keys(db, "v2-") == {"v2-hello"}, "the reloaded rule's row")

        lines = b"".join(b"<11>1 - h burst - - - %d\n" % i for i in range(BURST))
        conn = socket.create_connection(("127.0.0.1", second))
        sender = threading.Thread(target=_send, args=(conn, lines), daemon=True)
        sender.start()
        counted = wait_for(lambda: (n := stored(agent)) > 2_000 and n, "part of the burst")
        agent.kill()  # SIGKILL right after reading the counter: no clean-up at all
        conn.close()
        sender.join(timeout=10)
    finally:
        agent.kill()
    found = keys(db, "v2-") - {"v2-hello"}
    numbers = sorted(int(k[3:]) for k in found)
    assert len(found) >= counted - 1, (
        f"counted {counted} stored (one was 'hello'), found {len(found)}"
    )
    # One connection, submitted in order through the group commit: what is stored is a prefix.
    assert numbers == list(range(len(numbers)))


def _send(conn: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the agent is killed mid-burst
        conn.sendall(data)
