"""The agent's resident memory must not grow with its backlog: 1,000 vs 1,000,000 pending events.

For each size: fill a fresh database with N pending events (bulk SQL, same columns the outbox
writes), start the real ``pagerbridge agent`` delivering to a sandbox subprocess in sink mode
(rate limits off, so the worker runs flat out through the backlog), scrape ``/metrics`` now and
then (queue depth is a GROUP BY over the whole table), and sample the agent's VmRSS from /proc.

    .venv/bin/python bench/bench_memory.py                  # 1,000 and 1,000,000 events
    .venv/bin/python bench/bench_memory.py --sizes 1000 100000 --seconds 20
    .venv/bin/python bench/bench_memory.py --postgres postgresql://127.0.0.1:5432/test

Prints the peak and final RSS per size and their ratio.
"""

from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
sys.path.insert(0, str(SRC))

SANDBOX_KEY = "deadbeefdeadbeefdeadbeefdeadbeef"  # the sandbox's demo routing key
BIN = Path(sys.executable).parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fill(url: str, count: int) -> float:
    """Insert ``count`` pending events the way the outbox stores them; returns seconds taken."""
    from pagerbridge.outbox import open_outbox
    from pagerbridge.outbox.core import prepare_event

    open_outbox(url).close()  # schema
    started = time.monotonic()
    now = time.time()
    template = prepare_event(
        {
            "routing_key": SANDBOX_KEY,
            "event_action": "trigger",
            "dedup_key": "DEDUP",
            "payload": {"summary": "memory bench", "source": "bench", "severity": "info"},
        },
        now=now,
    )
    if url.startswith("postgresql"):
        fill_postgresql(url, count, template.kind, template.payload, now)
        return time.monotonic() - started
    conn = sqlite3.connect(url.removeprefix("sqlite:///"))
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")  # filling only; the agent runs with FULL
    sql = (
        "INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state, attempts,"
        " next_attempt_at, created_at, updated_at, deadline_from)"
        " VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?)"
    )
    chunk = 50_000
    for start in range(0, count, chunk):
        rows = []
        for i in range(start, min(count, start + chunk)):
            dedup = f"mem-{i}"
            rows.append(
                (
                    template.kind,
                    template.payload.replace("DEDUP", dedup),
                    f"{SANDBOX_KEY}/{dedup}",
                    SANDBOX_KEY,
                    dedup,
                    now,
                    now,
                    now,
                    now,
                )
            )
        with conn:
            conn.executemany(sql, rows)
    conn.close()
    return time.monotonic() - started


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def scrape(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=30) as r:
        return str(r.read().decode())


def pending_from_metrics(text: str) -> float:
    for line in text.splitlines():
        if line.startswith('pagerbridge_outbox_rows{state="pending"}'):
            return float(line.split()[-1])
    return -1.0


def fill_postgresql(url: str, count: int, kind: str, payload: str, now: float) -> None:
    """The same rows as the SQLite fill, generated inside PostgreSQL (one statement)."""
    import psycopg

    before, after = payload.split("DEDUP", 1)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO outbox (kind, payload, ordering_key, routing_key, dedup_key, state,"
            " attempts, next_attempt_at, created_at, updated_at, deadline_from)"
            " SELECT %(kind)s, %(before)s || 'mem-' || i || %(after)s,"
            " %(key)s || '/mem-' || i, %(key)s, 'mem-' || i, 'pending', 0,"
            " %(now)s, %(now)s, %(now)s, %(now)s FROM generate_series(0, %(last)s) AS i",
            {
                "kind": kind,
                "before": before,
                "after": after,
                "key": SANDBOX_KEY,
                "now": now,
                "last": count - 1,
            },
        )


def fresh_postgresql(server: str, name: str) -> str:
    """Create database ``name`` on ``server`` (dropped first if it exists); return its URL."""
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server.rsplit("/", 1)[0] + "/" + name


def drop_postgresql(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(
    count: int, seconds: float, workdir: Path, postgres: str | None = None
) -> dict[str, float]:
    db_url = (
        fresh_postgresql(postgres, f"pb_bench_memory_{count}")
        if postgres
        else f"sqlite:///{workdir / f'mem-{count}.db'}"
    )
    fill_s = fill(db_url, count)
    sandbox_port, agent_port = free_port(), free_port()
    sandbox = subprocess.Popen(
        [
            str(BIN / "pagerbridge"),
            "sandbox",
            "--port",
            str(sandbox_port),
            "--sink",
            "--no-rate-limits",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    config = workdir / "agent.yaml"
    config.write_text("delivery:\n  rate_limit_per_minute: 0\n  workers: 32\n")
    agent = subprocess.Popen(
        [
            str(BIN / "pagerbridge"),
            "agent",
            "--config",
            str(config),
            "--listen",
            f"127.0.0.1:{agent_port}",
            "--db",
            db_url,
            "--events-url",
            f"http://127.0.0.1:{sandbox_port}",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{agent_port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                scrape(url)
                break
            except OSError:
                if time.monotonic() > deadline or agent.poll() is not None:
                    raise SystemExit("the agent did not start") from None
                time.sleep(0.2)
        samples: list[int] = []
        started = time.monotonic()
        last_scrape = 0.0
        pending_at_end = -1.0
        while time.monotonic() - started < seconds:
            samples.append(rss_kb(agent.pid))
            if time.monotonic() - last_scrape > 5:
                pending_at_end = pending_from_metrics(scrape(url))
                last_scrape = time.monotonic()
            time.sleep(0.25)
        pending_at_end = pending_from_metrics(scrape(url))
        samples.append(rss_kb(agent.pid))
    finally:
        for proc in (agent, sandbox):
            proc.send_signal(signal.SIGTERM)
        for proc in (agent, sandbox):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if postgres:
            drop_postgresql(postgres, db_url.rsplit("/", 1)[1])
    return {
        "events": count,
        "fill_seconds": round(fill_s, 1),
        "rss_peak_mb": round(max(samples) / 1024, 1),
        "rss_final_mb": round(samples[-1] / 1024, 1),
        "pending_at_end": pending_at_end,
        "delivered_during_run": count - pending_at_end,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 1_000_000])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="a PostgreSQL server's admin URL (e.g. postgresql://127.0.0.1:5432/test): "
        "each size runs in a fresh database there instead of a SQLite file",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        results = [measure(n, args.seconds, Path(tmp), args.postgres) for n in args.sizes]
    for r in results:
        print(
            f"{r['events']:>9,} pending: RSS peak {r['rss_peak_mb']} MB, final "
            f"{r['rss_final_mb']} MB; delivered {r['delivered_during_run']:,.0f} during the run "
            f"(fill {r['fill_seconds']} s)"
        )
    if len(results) >= 2:
        growth = results[-1]["rss_peak_mb"] / results[0]["rss_peak_mb"] - 1
        print(
            f"peak RSS growth {results[0]['events']:,} -> {results[-1]['events']:,}: {growth:+.1%}"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
