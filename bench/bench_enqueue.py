"""Durable enqueue over HTTP: wrk against the agent's /v2/enqueue vs a trivial 202 endpoint.

Same stack for both, so the comparison is fair both ways: the trivial server is started by the
agent's own serving code (``pagerbridge.agent.serving``: one process, one uvloop event loop, the
same ``uvicorn.Config`` with httptools, no access log, no Server header), and its endpoint is built
the way the agent's hot route is: a raw ASGI app that reads the body and answers PagerDuty's 202
body (``asgi``). A Starlette-route variant (``starlette``, what the agent used before) is measured
too, and on request a FastAPI route (``fastapi``: DESIGN.md's "FastAPI on uvicorn", whose trivial
endpoint it measured at 6,600-10,000 req/s). Servers run as separate processes, alternately, in the
same run. The agent is the real ``pagerbridge agent`` (JSON parse, PagerDuty validation, group
commit with fsync before the 202) with its delivery worker running against a black hole (a port that
accepts connections and never answers, like an unreachable PagerDuty), so the worker holds its calls
open and we measure intake. Each server's CPU time (user + system, all threads) per request is read
from /proc. ``--trivial asgi nostore`` also measures the agent's own app with a commit that stores
nothing (``agent-no-storage``): how far the endpoint could go if storage cost nothing.

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
from typing import Any

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
#: ``nostore`` is not a trivial endpoint but the agent's own app minus storage (the ceiling).
BASELINE_NAMES = {"nostore": "agent-no-storage"}
TRIVIAL_BODY = b'{"status":"success","message":"Event processed","dedup_key":"x"}'


def serve_trivial(port: int, kind: str) -> None:
    """The baseline: read the body, answer 202 with PagerDuty's body, on the agent's stack."""
    import asyncio

    import uvloop
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from pagerbridge.agent.serving import run_services, serve_app

    async def raw(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan: nothing to set up
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        message = await receive()
        while message.get("more_body", False):
            message = await receive()
        headers = [
            (b"content-length", str(len(TRIVIAL_BODY)).encode()),
            (b"content-type", b"application/json"),
        ]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": TRIVIAL_BODY})

    async def enqueue(request: Request) -> Response:
        await request.body()
        return Response(TRIVIAL_BODY, 202, media_type="application/json")

    app: Any = raw
    if kind == "starlette":
        app = Starlette(routes=[Route("/v2/enqueue", enqueue, methods=["POST"])])
    elif kind == "fastapi":
        app = trivial_fastapi()
    elif kind == "nostore":
        app = agent_without_storage()

    async def main() -> None:
        await run_services(asyncio.Event(), front=[serve_app("trivial", app, "127.0.0.1", port)])

    uvloop.run(main())


def trivial_fastapi() -> Any:
    """DESIGN.md's server stack ("FastAPI on uvicorn"; its "6,600-10,000 trivial req/s") in its
    leanest form: the route reads the body and returns the bytes itself (no model, no JSON
    encoding by FastAPI), so the baseline is as fast as FastAPI allows."""
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @api.post("/v2/enqueue", status_code=202)
    async def enqueue(request: Request) -> Response:
        await request.body()
        return Response(TRIVIAL_BODY, 202, media_type="application/json")

    return api


def agent_without_storage() -> Any:
    """The agent's own app (body limits, JSON, PagerDuty's rules, the 202) with a commit that
    stores nothing: each loop iteration's events are "committed" at once on the next one. Its
    rate is the ceiling of the agent's endpoint on this stack, whatever the storage costs."""
    import asyncio

    from pagerbridge.agent.app import create_agent_app
    from pagerbridge.agent.intake import Intake
    from pagerbridge.agent.metrics import AgentMetrics
    from pagerbridge.outbox.storage import NewRow
    from pagerbridge.outbox.types import EnqueuedRow

    waiting: list[tuple[NewRow, asyncio.Future[EnqueuedRow]]] = []

    def commit() -> None:
        batch = waiting[:]
        waiting.clear()
        for n, (row, future) in enumerate(batch):
            future.set_result(EnqueuedRow(n + 1, row.dedup_key, row.routing_key, row.state))

    async def enqueue(row: NewRow) -> EnqueuedRow:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EnqueuedRow] = loop.create_future()
        if not waiting:
            loop.call_soon(commit)
        waiting.append((row, future))
        return await future

    metrics = AgentMetrics()
    return create_agent_app(Intake(enqueue, metrics=metrics), metrics=metrics)


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process, all its threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(
    proc: subprocess.Popen[bytes], url: str, lua: Path, args: argparse.Namespace
) -> dict[str, float]:
    """wrk against ``url``, plus the server's CPU per request and the load average."""
    before = cpu_seconds(proc.pid)
    r = run_wrk(url + "/v2/enqueue", lua, args.duration, args.connections, args.threads)
    cpu = cpu_seconds(proc.pid) - before
    r["cpu_us_per_request"] = cpu / max(1.0, r["rate"] * args.duration) * 1e6
    r["server_cpu_share"] = cpu / args.duration
    r["load1"] = os.getloadavg()[0]
    return r


def start_trivial(kind: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve-trivial", str(port), "--trivial-kind", kind]
    )
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
    parser.add_argument("--trivial-kind", default="asgi", help=argparse.SUPPRESS)
    parser.add_argument(
        "--trivial",
        nargs="+",
        choices=["asgi", "starlette", "fastapi", "nostore"],
        default=["asgi", "starlette", "fastapi"],
        help="baselines to measure, each with its ratio (default: asgi starlette fastapi;"
        " fastapi: DESIGN.md's stack; nostore: the agent's own app with a commit that stores"
        " nothing)",
    )
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    if args.serve_trivial:
        serve_trivial(args.serve_trivial, args.trivial_kind)
        return
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk")
    workdir = Path(tempfile.mkdtemp(prefix="bench-enqueue-"))
    lua = workdir / "post.lua"
    lua.write_text(LUA)
    names = [BASELINE_NAMES.get(kind, f"trivial-{kind}") for kind in args.trivial]
    results: dict[str, list[dict[str, float]]] = {name: [] for name in [*names, "agent"]}
    hole = black_hole()
    try:
        for run in range(args.runs):
            line = [f"run {run + 1}:"]
            for kind, name in zip(args.trivial, names, strict=True):
                proc, url = start_trivial(kind)
                try:
                    r = measure(proc, url, lua, args)
                finally:
                    stop(proc)
                results[name].append(r)
                line.append(describe(name, r))
            db_url, drop = fresh_database(args.db or "sqlite", workdir, run)
            proc, url = start_agent(db_url, workdir, hole)
            try:
                r = measure(proc, url, lua, args)
            finally:
                stop(proc)
                drop()
            results["agent"].append(r)
            line.append(describe("agent", r) + f" non-2xx {r['errors']:.0f}")
            print(" | ".join(line), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    summary: dict[str, dict[str, Any]] = {
        name: {
            "rate_median": statistics.median(x["rate"] for x in rs),
            "p99_ms_median": statistics.median(x["p99_ms"] for x in rs),
            "cpu_us_per_request_median": statistics.median(x["cpu_us_per_request"] for x in rs),
            "runs": rs,
        }
        for name, rs in results.items()
    }
    agent = summary["agent"]
    parts = [f"agent {agent['rate_median']:.0f}/s p99 {agent['p99_ms_median']:.1f} ms"]
    ratios = {}
    for name in names:
        ratios[name] = agent["rate_median"] / summary[name]["rate_median"]
        parts.append(f"{name} {summary[name]['rate_median']:.0f}/s (agent {ratios[name]:.0%})")
    print("median: " + ", ".join(parts) + f"; load average now {os.getloadavg()[0]:.2f}")
    print(json.dumps({"db": args.db or "sqlite", "ratios": ratios, **summary}))


def describe(name: str, r: dict[str, float]) -> str:
    return (
        f"{name} {r['rate']:.0f}/s p99 {r['p99_ms']:.1f} ms "
        f"{r['cpu_us_per_request']:.0f} us CPU/req ({r['server_cpu_share']:.0%} of a core, "
        f"load {r['load1']:.1f})"
    )


if __name__ == "__main__":
    main()
