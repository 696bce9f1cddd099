"""Durable enqueue over HTTP: wrk against the agent's /v2/enqueue vs a trivial 202 endpoint.

Both run on the same stack (uvicorn with uvloop + httptools, a plain Starlette route) as separate
processes, measured alternately in the same run. The agent is the real ``pagerbridge agent``
(JSON parse, PagerDuty validation, group commit with fsync) with its delivery worker running
against a black hole (a port that accepts connections and never answers, like an unreachable
PagerDuty), so the worker holds its calls open and we measure intake.

    apt-get install -y wrk
    .venv/bin/python bench/bench_enqueue.py                  # 3 runs x 20 s, 32 connections
    .venv/bin/python bench/bench_enqueue.py --db postgresql://127.0.0.1:5432/test  # admin URL

Prints a table and a JSON line with medians (requests/s, p99 ms) for both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

KEY = "0123456789abcdef0123456789abcdef"
BODY = json.dumps(
    {
        "routing_key": KEY,
        "event_action": "trigger",
        "payload": {"summary": "bench event", "source": "wrk", "severity": "info"},
    }
)
LUA = f"""
wrk.method = "POST"
wrk.body = '{BODY}'
wrk.headers["Content-Type"] = "application/json"
"""
TRIVIAL_BODY = b'{"status":"success","message":"Event processed","dedup_key":"x"}'


def serve_trivial(port: int) -> None:
    """The baseline: read the body, answer 202 with PagerDuty's body. Same server stack."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def enqueue(request: Request) -> Response:
        await request.body()
        return Response(TRIVIAL_BODY, 202, media_type="application/json")

    app = Starlette(routes=[Route("/v2/enqueue", enqueue, methods=["POST"])])
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # any HTTP answer means it is up
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, lua: Path, duration: int, connections: int, threads: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            "-s",
            str(lua),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {
        "rate": rate,
        "p99_ms": float(p99.group(1)) * _UNIT[p99.group(2)] if p99 else float("nan"),
        "errors": float(non2xx.group(1)) if non2xx else 0.0,
    }


def start_trivial() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve-trivial", str(port)])
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/v2/enqueue", proc)
    return proc, url


def black_hole() -> str:
    """A TCP port that accepts connections and never answers (an unreachable PagerDuty)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1024)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            conn, _ = server.accept()
            held.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}"


def start_agent(db_url: str, workdir: Path, events_url: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = Path(sys.executable).parent / "pagerbridge"
    log = open(workdir / "agent.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(exe),
            "agent",
            "--listen",
            f"127.0.0.1:{port}",
            "--db",
            db_url,
            "--events-url",
            events_url,
            "--log-level",
            "warning",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_ready(url + "/health", proc)
    return proc, url


def fresh_database(db_url: str, workdir: Path, run: int) -> tuple[str, Callable[[], None]]:
    """A new empty database for one run, and how to drop it afterwards.

    For PostgreSQL ``--db`` is the server's admin URL (e.g. ``postgresql://127.0.0.1:5432/test``);
    each run gets its own database, dropped afterwards.
    """
    if db_url.startswith("postgres"):
        import psycopg

        name = f"bench_enqueue_{os.getpid()}_{run}"
        base = db_url.rsplit("/", 1)[0]
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with psycopg.connect(db_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return f"{base}/{name}", drop
    for leftover in workdir.glob("bench.db*"):
        leftover.unlink()
    return f"sqlite:///{workdir / 'bench.db'}", lambda: None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--serve-trivial", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    if args.serve_trivial:
        serve_trivial(args.serve_trivial)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="bench-enqueue-"))
    lua = workdir / "post.lua"
    lua.write_text(LUA)
    results: dict[str, list[dict[str, float]]] = {"trivial": [], "agent": []}
    hole = black_hole()
    try:
        for run in range(args.runs):
            proc, url = start_trivial()
            try:
                r = run_wrk(url + "/v2/enqueue", lua, args.duration, args.connections, args.threads)
            finally:
                stop(proc)
            results["trivial"].append(r)
            db_url, drop = fresh_database(args.db or "sqlite", workdir, run)
            proc, url = start_agent(db_url, workdir, hole)
            try:
                r = run_wrk(url + "/v2/enqueue", lua, args.duration, args.connections, args.threads)
            finally:
                stop(proc)
                drop()
            results["agent"].append(r)
            print(
                f"run {run + 1}: trivial {results['trivial'][-1]['rate']:.0f}/s "
                f"p99 {results['trivial'][-1]['p99_ms']:.1f} ms | agent "
                f"{r['rate']:.0f}/s p99 {r['p99_ms']:.1f} ms (non-2xx {r['errors']:.0f})",
                flush=True,
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary = {
        name: {
            "rate_median": statistics.median(x["rate"] for x in rs),
            "p99_ms_median": statistics.median(x["p99_ms"] for x in rs),
            "runs": rs,
        }
        for name, rs in results.items()
    }
    ratio = summary["agent"]["rate_median"] / summary["trivial"]["rate_median"]
    print(
        f"median: trivial {summary['trivial']['rate_median']:.0f}/s, agent "
        f"{summary['agent']['rate_median']:.0f}/s ({ratio:.0%} of trivial), agent p99 "
        f"{summary['agent']['p99_ms_median']:.1f} ms; load average {os.getloadavg()[0]:.2f}"
    )
    print(json.dumps({"db": args.db or "sqlite", "ratio": ratio, **summary}))


if __name__ == "__main__":
    main()
