"""Shared by the syslog benchmarks: a real ``pagerbridge agent`` process with a syslog source,
its /metrics counters and its memory, and senders that run in their own processes."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from pathlib import Path

from pagerbridge.agent.testing import AgentProcess, free_port, get, start_agent_process

KEY = "0123456789abcdef0123456789abcdef"
#: Three rules, as a site would have: drop noise, a regex rule with a group, a catch-all.
RULES = """\
    rules:
      - {name: cron, match: {app: CRON}, action: drop}
      - name: link-down
        match: {message: {regex: '(?P<iface>\\S+): Link is Down'}}
        severity: critical
        dedup_key: "{{ host }}/link/{{ iface }}"
        summary: "{{ host }}: {{ iface }} is down"
      - name: errors
        match: {severity: [emerg, alert, crit, err]}
        dedup_key: "{{ host }}/{{ app }}/{{ message }}"
"""


def agent_config(tcp: int, udp: int, *, rate_limit: int | None = None, key: str = KEY) -> str:
    delivery = f"delivery: {{rate_limit_per_minute: {rate_limit}}}\n" if rate_limit else ""
    return (
        f"{delivery}sources:\n  syslog:\n    tcp: 127.0.0.1:{tcp}\n    udp: 127.0.0.1:{udp}\n"
        f"    routing_key: {key}\n{RULES}"
    )


def start(
    workdir: Path, events_url: str, *, rate_limit: int | None = None, key: str = KEY
) -> tuple[AgentProcess, int, int]:
    tcp, udp = free_port(), free_port()
    agent = start_agent_process(
        database_url=f"sqlite:///{workdir / 'agent.db'}",
        events_url=events_url,
        workdir=workdir,
        config_text=agent_config(tcp, udp, rate_limit=rate_limit, key=key),
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", tcp), timeout=1).close()
            break
        except OSError:
            time.sleep(0.05)
    return agent, tcp, udp


_SAMPLE = re.compile(
    r'^pagerbridge_source_(\w+)_total\{source="syslog"(?:,reason="(\w+)")?\} (\S+)$'
)


def counters(agent: AgentProcess) -> dict[str, float]:
    """received, stored, folded, malformed, dropped:<reason>, errors:<reason>."""
    out: dict[str, float] = {}
    for line in get(agent.url + "/metrics").body.decode().splitlines():
        match = _SAMPLE.match(line)
        if match:
            name = match.group(1) + (f":{match.group(2)}" if match.group(2) else "")
            out[name] = float(match.group(3))
    return out


def durable(agent: AgentProcess) -> float:
    c = counters(agent)
    return c.get("stored", 0) + c.get("folded", 0)


def black_hole() -> tuple[socket.socket, str]:
    """A port that accepts connections (in the kernel's backlog) and never answers: the
    delivery worker's calls hang there as they would on an unreachable PagerDuty, instead of
    failing fast and retrying in a loop, so the figures measure intake."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def line(i: int, faults: int) -> bytes:
    """Syslog line ``i``: one of ``faults`` link-down faults (host/interface pairs)."""
    fault = i % faults
    return b"<11>1 2026-12-03T10:00:00Z sw%d kernel - - - ge-0/0/%d: Link is Down\n" % (
        fault // 48,
        fault % 48,
    )


SENDER = """
import socket, sys, time
sys.path.insert(0, {bench!r})
from syslog_common import line
kind = sys.argv[1]
port, count, faults, conns = (int(a) for a in sys.argv[2:6])
rate = float(sys.argv[6])
if kind == "tcp":
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    per = count // conns
    chunks = []
    for c in range(conns):
        chunks.append(b"".join(line(c * per + i, faults) for i in range(per)))
    import threading
    threads = [threading.Thread(target=s.sendall, args=(chunk,)) for s, chunk in zip(socks, chunks)]
    for t in threads: t.start()
    for t in threads: t.join()
    for s in socks: s.close()
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    lines = [line(i, faults) for i in range(count)]
    start = time.perf_counter()
    for i, data in enumerate(lines):
        if rate:
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        s.sendto(data, ("127.0.0.1", port))
print(time.perf_counter())
"""


def send(
    kind: str, port: int, count: int, *, faults: int, conns: int = 1, rate: float = 0
) -> subprocess.Popen[bytes]:
    """Start a sender process (so the agent's CPU is not shared with the bench's)."""
    code = SENDER.format(bench=str(Path(__file__).parent))
    args = [
        sys.executable,
        "-c",
        code,
        kind,
        str(port),
        str(count),
        str(faults),
        str(conns),
        str(rate),
    ]
    return subprocess.Popen(args, stdout=subprocess.PIPE)
