"""Benchmark: delivery from the outbox to the sandbox in ``--sink`` mode (no rate limits).

    .venv/bin/python bench/bench_delivery.py --events 100000 --routing-keys 100 --backend sqlite
    .venv/bin/python bench/bench_delivery.py --events 100000 --routing-keys 100 --backend postgresql

Fills the outbox with a backlog (``--routing-keys`` keys x ``--dedup-keys`` alerts each, so
``routing_keys * dedup_keys`` ordering lanes), then times a DeliveryWorker draining it over real
HTTP to ``pagerbridge sandbox --sink --no-rate-limits`` in its own process. Prints enqueue rate,
drain time and delivered events/s. Targets: >= 2,000 events/s; 100,000-event backlog <= 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from pagerbridge.outbox import DeliveryWorker, open_outbox, prepare_event
from pagerbridge.outbox.policy import OFF

PG_ADMIN = os.environ.get("PAGERBRIDGE_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sink() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "pagerbridge"), "sandbox", "--sink", "--no-rate-limits",
         "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/_sandbox/state", timeout=1).read()
            return proc, url
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sandbox did not start")


def sink_count(url: str) -> int:
    import json

    with urllib.request.urlopen(url + "/_sandbox/events", timeout=10) as r:
        return int(json.loads(r.read())["sink_count"])


async def run(url: str, events_url: str, args: argparse.Namespace) -> None:
    outbox = open_outbox(url, max_queue=args.events * 2)
    keys = [uuid.uuid4().hex for _ in range(args.routing_keys)]
    now = time.time()
    start = time.perf_counter()
    batch = []
    for i in range(args.events):
        rk = keys[i % len(keys)]
        ev = {
            "routing_key": rk,
            "event_action": "trigger",
            "dedup_key": f"alert-{(i // len(keys)) % args.dedup_keys}",
            "payload": {"summary": f"event {i}", "source": "bench", "severity": "info"},
        }
        batch.append(prepare_event(ev, now=now))
        if len(batch) == 5000:
            outbox.enqueue_batch(batch, now=now)
            batch = []
    if batch:
        outbox.enqueue_batch(batch, now=now)
    fill = time.perf_counter() - start
    print(f"  backlog of {args.events} enqueued in {fill:.1f} s ({args.events / fill:,.0f}/s, "
          "5,000 per transaction)")  # fmt: skip
    before = sink_count(events_url)
    worker = DeliveryWorker(
        outbox, events_url=events_url, rate_limit=OFF, concurrency=args.concurrency
    )
    start = time.perf_counter()
    result = await worker.drain(timeout=args.timeout)
    took = time.perf_counter() - start
    arrived = sink_count(events_url) - before
    print(f"  drained: delivered={result.delivered} dead={result.dead} remaining={result.remaining}"
          f" sink received={arrived}")  # fmt: skip
    print(f"  drain time {took:.1f} s  ->  {result.delivered / took:,.0f} events/s "
          f"(concurrency {args.concurrency}, {args.routing_keys} routing keys, "
          f"{args.routing_keys * args.dedup_keys} ordering lanes)")  # fmt: skip
    await outbox.aclose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--routing-keys", type=int, default=100)
    p.add_argument("--dedup-keys", type=int, default=10, help="alerts per routing key")
    p.add_argument("--concurrency", type=int, default=256)
    p.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()
    sink, events_url = start_sink()
    try:
        print(f"{args.backend}:")
        if args.backend == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                asyncio.run(run(f"sqlite:///{Path(tmp) / 'bench.db'}", events_url, args))
        else:
            import psycopg

            name = f"pbbench_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                asyncio.run(run(PG_ADMIN.rsplit("/", 1)[0] + "/" + name, events_url, args))
            finally:
                with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        sink.terminate()
        sink.wait(10)


if __name__ == "__main__":
    main()
