"""Benchmark: the PagerDuty connector's outbound sync against a real sandbox and a real hub.

    .venv/bin/python bench/bench_connector.py latency [--runs 20]
    .venv/bin/python bench/bench_connector.py burst [--count 1000] [--kill-after 300]
    .venv/bin/python bench/bench_connector.py inbound [--runs 20]

``latency``: with a connector configured and ``im serve`` running, each run is a fresh
``im declare`` process; prints how long the command took (target ≤ 500 ms) and how long after
it returned the PagerDuty incident existed in the sandbox (target ≤ 1 s).

``burst``: ``--count`` declarations committed at once, then a hub (``im serve``) delivers them;
after ``--kill-after`` incidents exist in the sandbox the hub is killed with SIGKILL and started
again. Checks: every incident reaches the sandbox exactly once (one PagerDuty incident per local
one), no 429 from the sandbox (the REST budget, 960/min, is kept), the elapsed time.

``inbound``: under ``pagerbridge up`` (sandbox mode: the demo connector and its webhook
subscription), each run acknowledges one PagerDuty incident in the sandbox and measures how long
until the local incident is mitigated (target: median ≤ 1 s).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rest(sandbox: str, path: str) -> Any:
    request = urllib.request.Request(
        sandbox + path,
        headers={
            "Authorization": "Token token=sandbox-token",
            "Accept": "application/vnd.pagerduty+json;version=2",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def incident_count(sandbox: str) -> int:
    return len(rest(sandbox, "/_sandbox/state")["incidents"])


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} never answered")


def start(cmd: list[str], env: dict[str, str], ready: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ready(ready)
    return proc


def setup(tmp: str) -> tuple[dict[str, str], str, subprocess.Popen[bytes]]:
    url = f"sqlite:///{tmp}/bench.db"
    env = {
        **os.environ,
        "PAGERBRIDGE_DATABASE_URL": url,
        "PAGERBRIDGE_DATA_DIR": tmp,
        "PAGERBRIDGE_SERVER": "",
    }
    port = free_port()
    sandbox = f"http://127.0.0.1:{port}"
    sb = start(
        [str(BIN / "pagerbridge"), "sandbox", "--port", str(port)],
        env,
        sandbox + "/_sandbox/state",
    )
    subprocess.run([str(BIN / "pagerbridge"), "db", "upgrade"], env=env, check=True)
    config = {
        "base_url": sandbox,
        "api_key": "sandbox-token",
        "custom": {"service_id": "PDEMO01", "from_email": "oncall@example.com"},
    }
    subprocess.run(
        [str(BIN / "im"), "connector", "add", "pagerduty", "bench", "--config", json.dumps(config)],
        env=env,
        check=True,
        capture_output=True,
    )
    return env, sandbox, sb


def stop(*procs: subprocess.Popen[bytes]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait()


def hub(env: dict[str, str]) -> subprocess.Popen[bytes]:
    port = free_port()
    return start(
        [str(BIN / "im"), "serve", "--port", str(port), "--sla-interval", "0"],
        env,
        f"http://127.0.0.1:{port}/health",
    )


def latency(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env, sandbox, sb = setup(tmp)
        server = hub(env)
        took, arrived = [], []
        try:
            for i in range(runs):
                before = incident_count(sandbox)
                t0 = time.perf_counter()
                subprocess.run(
                    [str(BIN / "im"), "declare", "--sev", "SEV-2", "--title", f"bench {i}"],
                    env=env,
                    check=True,
                    capture_output=True,
                )
                t1 = time.perf_counter()
                while incident_count(sandbox) == before:
                    time.sleep(0.005)
                took.append((t1 - t0) * 1000)
                arrived.append((time.perf_counter() - t1) * 1000)
        finally:
            stop(server, sb)
        for name, values in (("im declare", took), ("then in PagerDuty", arrived)):
            values.sort()
            print(
                f"{name:<18} median {statistics.median(values):6.0f} ms   "
                f"p90 {values[int(len(values) * 0.9) - 1]:6.0f} ms   max {values[-1]:6.0f} ms"
            )


def burst(count: int, kill_after: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env, sandbox, sb = setup(tmp)
        code = (
            "import sys\n"
            "from sqlalchemy.orm import sessionmaker\n"
            "from pagerbridge.connectors.outbound import OutboundSync\n"
            "from pagerbridge.incidents.commands import Commands\n"
            "from pagerbridge.store.engine import make_engine\n"
            f"e = make_engine({env['PAGERBRIDGE_DATABASE_URL']!r})\n"
            "c = Commands(sessionmaker(e), actor='bench', origin='local',\n"
            "             listener=OutboundSync())\n"
            f"for i in range({count}):\n"
            "    c.declare(title=f'burst {i}', severity='SEV-3')\n"
        )
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True)
        print(f"{count} declarations committed in {time.perf_counter() - t0:.1f} s")
        t0 = time.perf_counter()
        server = hub(env)
        killed = False
        try:
            while (n := incident_count(sandbox)) < count:
                if not killed and n >= kill_after:
                    server.send_signal(signal.SIGKILL)
                    server.wait()
                    print(f"hub killed with SIGKILL at {n} incidents; restarted")
                    server = hub(env)
                    killed = True
                if time.perf_counter() - t0 > 600:
                    raise SystemExit(f"only {n} of {count} after 10 minutes")
                time.sleep(0.2)
            elapsed = time.perf_counter() - t0
            state = rest(sandbox, "/_sandbox/state")
            keys = [i["incident_key"] for i in state["incidents"].values()]
            throttled = rest(sandbox, "/_sandbox/requests?api=rest")["requests"]
            too_many = sum(1 for r in throttled if r["status"] == 429)
            posts = sum(1 for r in throttled if r["method"] == "POST")
        finally:
            stop(server, sb)
        print(
            f"{len(keys)} PagerDuty incidents for {count} declarations "
            f"({len(set(keys))} distinct incident keys) in {elapsed:.1f} s "
            f"= {len(keys) / elapsed * 60:.0f}/min; POST /incidents: {posts}; "
            f"429 answers: {too_many}"
        )
        if len(set(keys)) != count or len(keys) != count or too_many:
            raise SystemExit("FAILED: lost, duplicated or throttled")


def inbound(runs: int) -> None:
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PAGERBRIDGE_DATA_DIR": tmp, "PAGERBRIDGE_SERVER": ""}
        env.pop("PAGERBRIDGE_DATABASE_URL", None)
        ports = [free_port() for _ in range(3)]
        up = subprocess.Popen(
            [
                str(BIN / "pagerbridge"),
                "up",
                "--listen",
                f"127.0.0.1:{ports[0]}",
                "--hub-listen",
                f"127.0.0.1:{ports[1]}",
                "--sandbox-listen",
                f"127.0.0.1:{ports[2]}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert up.stdout is not None
        for line in up.stdout:
            if "Press Ctrl-C" in line:
                break
        sandbox = f"http://127.0.0.1:{ports[2]}"
        engine = sa.create_engine(f"sqlite:///{tmp}/pagerbridge.db")
        took = []
        try:
            for i in range(runs):
                done = subprocess.run(
                    [str(BIN / "im"), "declare", "--sev", "SEV-2", "--title", f"inbound {i}"],
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                ref = int(done.stdout.split()[1].removeprefix("INC-"))
                while incident_count(sandbox) < i + 1:
                    time.sleep(0.01)
                pd_id = next(
                    k
                    for k, v in rest(sandbox, "/_sandbox/state")["incidents"].items()
                    if v["title"] == f"inbound {i}"
                )
                request = urllib.request.Request(
                    f"{sandbox}/incidents/{pd_id}",
                    method="PUT",
                    data=json.dumps(
                        {"incident": {"type": "incident_reference", "status": "acknowledged"}}
                    ).encode(),
                    headers={
                        "Authorization": "Token token=sandbox-token",
                        "Accept": "application/vnd.pagerduty+json;version=2",
                        "Content-Type": "application/json",
                        "From": "oncall@example.com",
                    },
                )
                t0 = time.perf_counter()
                urllib.request.urlopen(request, timeout=10).close()
                while True:
                    with engine.connect() as conn:
                        status = conn.execute(
                            sa.text("SELECT status FROM im_incidents WHERE id = :i"), {"i": ref}
                        ).scalar()
                    if status == "mitigated":
                        break
                    time.sleep(0.002)
                took.append((time.perf_counter() - t0) * 1000)
        finally:
            engine.dispose()
            up.send_signal(signal.SIGINT)
            up.wait()
    took.sort()
    print(
        f"PagerDuty ack → local mitigated, {runs} runs: median {statistics.median(took):.0f} ms, "
        f"p90 {took[int(len(took) * 0.9) - 1]:.0f} ms, max {took[-1]:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="what", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--runs", type=int, default=20)
    bur = sub.add_parser("burst")
    bur.add_argument("--count", type=int, default=1000)
    bur.add_argument("--kill-after", type=int, default=300)
    inb = sub.add_parser("inbound")
    inb.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if args.what == "latency":
        latency(args.runs)
    elif args.what == "inbound":
        inbound(args.runs)
    else:
        burst(args.count, args.kill_after)


if __name__ == "__main__":
    main()
