"""kill -9 of the agent during a burst of INFORMs: every INFORM it answered reaches PagerDuty.

Senders are the real ``snmpinform`` (one try each, so exit 0 means the agent answered). The
agent is SIGKILLed mid-burst, started again on the same database, and the sandbox must then
receive every answered INFORM (unanswered ones may or may not arrive: their senders would retry).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from pagerbridge.agent.testing import free_port, start_agent_process
from pagerbridge.sandbox.testing import SandboxHandle
from servers.waiting import wait_for

pytestmark = pytest.mark.skipif(
    shutil.which("snmpinform") is None, reason="Debian's snmp package is not installed"
)

MARK = "1.3.6.1.4.1.8072.9999.1.0"
#: A short call timeout and lease (as the kill -9 harness, agent/chaos.py): a row the killed agent
#: had in flight is sent again within a second, not after the default minute's lease.
CONFIG = """\
listen: 127.0.0.1:0
pagerduty:
  timeout: 0.5
delivery:
  rate_limit_per_minute: 0
  retry_initial: 0.05
  lease: 1
sources:
  snmp:
    listen: 127.0.0.1:{port}
    communities: [public]
    routing_key: {routing_key}
    rules:
      - match: {{trap: {{regex: '^1\\.3\\.6\\.1\\.4\\.1\\.8072\\.9999\\.'}}}}
        dedup_key: "burst/{{{{ oids['{mark}'] }}}}"
        summary: "inform {{{{ oids['{mark}'] }}}}"
"""


def _sender(target: str, prefix: str, answered: list[str], stop: threading.Event) -> None:
    n = 0
    while not stop.is_set():
        mark = f"{prefix}-{n}"
        n += 1
        done = subprocess.run(
            ["snmpinform", "-v", "2c", "-c", "public", "-r", "0", "-t", "1", target, "",
             "1.3.6.1.4.1.8072.9999.0.1", MARK, "s", mark],
            capture_output=True,
            timeout=10,
            check=False,
        )  # fmt: skip
        if done.returncode == 0:
            answered.append(mark)  # the agent answered: it promised the event is durable


def test_no_answered_inform_is_lost_to_kill_9(sandbox: SandboxHandle, tmp_path: Path) -> None:
    port = free_port()
    config = CONFIG.format(port=port, routing_key=sandbox.routing_key, mark=MARK)
    db = f"sqlite:///{tmp_path}/kill9.db"
    agent = start_agent_process(
        database_url=db, events_url=sandbox.url, workdir=tmp_path, config_text=config
    )
    answered: list[str] = []
    stop = threading.Event()
    senders = [
        threading.Thread(target=_sender, args=(f"127.0.0.1:{port}", f"s{i}", answered, stop))
        for i in range(4)
    ]
    try:
        for thread in senders:
            thread.start()
        wait_for(lambda: len(answered) >= 40, "40 answered INFORMs", timeout=15)
        agent.kill()  # SIGKILL mid-burst: INFORMs in flight go unanswered
        stop.set()
        for thread in senders:
            thread.join()
        promised = set(answered)
        agent = start_agent_process(
            database_url=db, events_url=sandbox.url, workdir=tmp_path, config_text=config
        )

        def missing() -> set[str]:
            arrived = {a.get("summary", "").removeprefix("inform ") for a in sandbox.arrivals()}
            return promised - arrived

        wait_for(lambda: not missing(), "every answered INFORM delivered", timeout=20)
    finally:
        stop.set()
        agent.kill()
    assert len(promised) >= 40
