"""Benchmark: the hub's API with 32 concurrent clients: incident state changes per second.

    .venv/bin/python bench/bench_api_incidents.py --db postgresql://127.0.0.1:5432/DBNAME \
        [--clients 32] [--seconds 15] [--workers 2]

Starts ``im serve`` as a separate process (uvicorn, ``--workers`` processes) on a free port, seeds
one incident per client, then each client (aiohttp, one process) cycles its incident through
ack → resolve → reopen → ack ... over real HTTP with an API token, as fast as answers come back.
Every request is a real state change: one transaction that locks the row, updates it and appends
a timeline entry. Reports changes/s and latency percentiles. The database must be empty.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

IM = Path(sys.executable).parent / "im"
CYCLE = {"open": "ack", "mitigated": "resolve", "resolved": "reopen"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_table() -> tuple[dict[int, int], dict[int, int], dict[int, str]]:
    """pid -> parent, pid -> CPU ticks (user + system), pid -> command name (Linux /proc)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, _, tail = (entry / "stat").read_text().rpartition(")")
        except OSError:
            continue
        fields = tail.split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
        names[pid] = head.partition("(")[2]
    return parents, ticks, names


def postgres_cpu_seconds() -> float:
    """CPU time used so far by every PostgreSQL process on the machine (other users' included)."""
    _, ticks, names = _proc_table()
    return sum(t for pid, t in ticks.items() if names[pid] == "postgres") / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(root: int) -> float:
    """CPU time (user + system) used so far by ``root`` and its descendants (Linux /proc)."""
    parents, ticks, _ = _proc_table()
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in tree:
                tree.add(pid)
                frontier.append(pid)
    return sum(ticks.get(pid, 0) for pid in tree) / os.sysconf("SC_CLK_TCK")


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("hub did not become healthy")


async def client(
    session: aiohttp.ClientSession,
    base: str,
    number: int,
    stop_at: float,
    lat: list[float],
    statuses: dict[int, str],
) -> tuple[int, int]:
    status, done, errors = statuses.get(number, "open"), 0, 0
    while time.monotonic() < stop_at:
        action = CYCLE[status]
        start = time.perf_counter()
        async with session.post(f"{base}/api/v1/incidents/INC-{number}/{action}") as resp:
            body = await resp.json()
        lat.append((time.perf_counter() - start) * 1000)
        if resp.status == 200:
            status, done = body["incident"]["status"], done + 1
        else:
            errors += 1
            print(f"INC-{number} {action}: HTTP {resp.status} {body}", file=sys.stderr)
    statuses[number] = status
    return done, errors


async def run(base: str, token: str, clients: int, seconds: float, server_pid: int) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    conn = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(headers=headers, connector=conn) as session:
        for n in range(clients):
            body = {"title": f"bench {n}", "severity": "SEV-3", "services": ["bench"]}
            async with session.post(f"{base}/api/v1/incidents", json=body) as resp:
                assert resp.status == 201, await resp.text()
        lat: list[float] = []
        statuses: dict[int, str] = {}
        warm = time.monotonic() + 2
        await asyncio.gather(
            *(client(session, base, n + 1, warm, lat, statuses) for n in range(clients))
        )
        lat.clear()
        cpu_before = tree_cpu_seconds(server_pid)
        pg_before, own_before = postgres_cpu_seconds(), time.process_time()
        start = time.monotonic()
        results = await asyncio.gather(
            *(client(session, base, n + 1, start + seconds, lat, statuses) for n in range(clients))
        )
        took = time.monotonic() - start
        cpu = tree_cpu_seconds(server_pid) - cpu_before
        pg_cpu = postgres_cpu_seconds() - pg_before
        own_cpu = time.process_time() - own_before
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    lat.sort()
    print(
        f"{clients} clients, {took:.1f} s: {done} state changes, {done / took:.0f} changes/s, "
        f"{errors} errors; latency median {statistics.median(lat):.1f} ms, "
        f"p99 {lat[int(len(lat) * 0.99)]:.1f} ms"
    )
    per_change = cpu / max(done, 1) * 1000
    print(
        f"hub CPU: {cpu:.1f} s over {took:.1f} s ({cpu / took:.2f} cores busy), "
        f"{per_change:.2f} ms per change: {os.cpu_count()} free cores would carry "
        f"~{(os.cpu_count() or 1) / per_change * 1000:.0f} changes/s (hub only)"
    )
    pg_ms, own_ms = pg_cpu / max(done, 1) * 1000, own_cpu / max(done, 1) * 1000
    print(
        f"CPU per change: hub {per_change:.2f} ms + PostgreSQL {pg_ms:.2f} ms (all its processes) "
        f"+ load generator {own_ms:.2f} ms = {per_change + pg_ms + own_ms:.2f} ms; "
        f"load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    env = {**os.environ, "PAGERBRIDGE_DATABASE_URL": args.db, "PAGERBRIDGE_SERVER": ""}
    subprocess.run([str(IM.parent / "pagerbridge"), "db", "upgrade"], env=env, check=True)
    token = subprocess.run(
        [str(IM), "token", "create", f"bench-{os.getpid()}"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    port = free_port()
    server = subprocess.Popen(
        [
            str(IM),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--sla-interval",
            "0",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base)
        print(f"hub: im serve --workers {args.workers}; database {args.db.split('://')[0]}")
        asyncio.run(run(base, token, args.clients, args.seconds, server.pid))
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
