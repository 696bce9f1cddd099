"""Benchmark: the hub's webhook intake — verified, persisted events per second, answer latency.

    .venv/bin/python bench/bench_webhook_intake.py [--events 5000] [--concurrency 32] [--db URL]
        [--rate 500] [--linked] [--profile FILE]

Starts ``im serve`` on a fresh SQLite database (or ``--db``) with a connector and a subscription
whose secret is known, then sends ``--events`` distinct signed v3 webhook deliveries over
``--concurrency`` connections and reports: events/s, answer latency p50/p99/max, and how many
rows were stored (every one must be). Targets: ≥ 500 events/s on SQLite, p99 ≤ 100 ms.
The hub's applier runs meanwhile. By default the events are about 200 PagerDuty incidents linked
to nothing here (settled as ``ignored``, as most of an account-wide subscription's are); with
``--linked`` those 200 are linked to local incidents and the events alternate acknowledged /
unacknowledged, so every one is a real transition on the local timeline.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import aiohttp
import sqlalchemy as sa
from sqlalchemy.orm import Session

from pagerbridge.connectors.links import ensure_link, record_pd_incident
from pagerbridge.connectors.models import (
    connector_subscriptions_table,
    connector_webhook_events_table,
)
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.incidents.service import declare
from pagerbridge.pagerduty.webhooks import build_envelope, sign
from pagerbridge.store.engine import make_engine

BIN = Path(sys.executable).parent
SECRET = "bench-webhook-secret"
INCIDENTS = 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare(url: str, env: dict[str, str], *, linked: bool) -> None:
    subprocess.run([str(BIN / "pagerbridge"), "db", "upgrade"], env=env, check=True)
    config = {
        "base_url": "http://127.0.0.1:9",
        "api_key": "bench",
        "sync_direction": "bidirectional",
        "custom": {"service_id": "PBENCH1", "from_email": "ops@example.com"},
        "webhook": {"rate_limit_per_s": 100000},
    }
    subprocess.run(
        [str(BIN / "im"), "connector", "add", "pagerduty", "bench", "--config", json.dumps(config)],
        env=env,
        check=True,
        capture_output=True,
    )
    os.environ.update({k: v for k, v in env.items() if k.startswith("PAGERBRIDGE_")})
    engine = make_engine(url)
    box = SecretBox.for_engine(engine)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(connector_subscriptions_table).values(
                connector_id=1,
                pd_subscription_id="PBENCHSUB",
                secret=box.encrypt_text(SECRET),
                key_fingerprint=box.fingerprint,
                url="http://bench/connectors/bench/webhook",
                state="active",
                created_at=time.time(),
            )
        )
    if linked:
        link_incidents(engine)
    engine.dispose()


def link_incidents(engine: sa.Engine) -> None:
    """200 local incidents, each linked to PINC<n> of the bench connector."""
    with engine.begin() as conn:
        session = Session(bind=conn, join_transaction_mode="rollback_only")
        for n in range(INCIDENTS):
            declared = declare(session=session, title=f"bench {n}", severity="SEV-2", actor="bench")
            session.flush()
            link, _ = ensure_link(
                conn,
                connector_id=1,
                incident_id=declared.incident.id,
                pd_service_id="PBENCH1",
                key=f"bench/{n}",
                correlation_id=str(uuid.uuid4()),
            )
            record_pd_incident(
                conn,
                link_id=link.id,
                pd_incident_id=f"PINC{n}",
                number=n + 1,
                html_url=None,
                status="triggered",
            )


async def fire(url: str, count: int, concurrency: int, rate: float | None = None) -> list[float]:
    """Send ``count`` deliveries: closed loop over ``concurrency`` connections, or open loop at
    ``rate`` per second (each delivery starts on schedule, whatever the earlier ones do)."""
    bodies = []
    for i in range(count):
        # Per incident: acknowledged, unacknowledged, acknowledged … (each one a transition).
        kind = "incident.acknowledged" if (i // INCIDENTS) % 2 == 0 else "incident.unacknowledged"
        data = {"id": f"PINC{i % INCIDENTS}", "type": "incident"}
        envelope = build_envelope(kind, data, event_id=str(uuid.uuid4()))
        body = json.dumps(envelope).encode()
        bodies.append((body, sign(body, SECRET)))
    latencies: list[float] = []
    queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()
    for item in bodies:
        queue.put_nowait(item)
    connector = aiohttp.TCPConnector(limit=concurrency if rate is None else 256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            while not queue.empty():
                await one(*queue.get_nowait())

        async def one(body: bytes, signature: str) -> None:
            t0 = time.perf_counter()
            async with session.post(
                url,
                data=body,
                headers={
                    "Content-Type": "application/json",
                    "X-PagerDuty-Signature": signature,
                },
            ) as answer:
                await answer.read()
                if answer.status != 202:
                    raise SystemExit(f"answer {answer.status}")
            latencies.append(time.perf_counter() - t0)

        if rate is None:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return latencies
        start = time.perf_counter()
        tasks = []
        for i, (body, signature) in enumerate(bodies):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(body, signature)))
        await asyncio.gather(*tasks)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, help="open loop: deliveries per second")
    parser.add_argument("--db")
    parser.add_argument(
        "--linked", action="store_true", help="events about linked incidents: every one applied"
    )
    parser.add_argument(
        "--profile", help="py-spy profile of the hub: an SVG flame graph, or stacks (.txt)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        env = {
            **os.environ,
            "PAGERBRIDGE_DATABASE_URL": url,
            "PAGERBRIDGE_DATA_DIR": tmp,
            "PAGERBRIDGE_SERVER": "",
        }
        prepare(url, env, linked=args.linked)
        port = free_port()
        hub = subprocess.Popen(
            [str(BIN / "im"), "serve", "--port", str(port), "--sla-interval", "0"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("hub did not start") from None
                    time.sleep(0.05)
            target = f"http://127.0.0.1:{port}/connectors/bench/webhook"
            asyncio.run(fire(target, 200, args.concurrency))  # warm up
            spy = None
            if args.profile:
                spy = subprocess.Popen(
                    [
                        str(BIN / "py-spy"),
                        "record",
                        "-p",
                        str(hub.pid),
                        "-o",
                        args.profile,
                        "--threads",
                        "--nonblocking",
                        "--format",
                        "raw" if args.profile.endswith(".txt") else "flamegraph",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1)
            # The load generator's own garbage collections (50-100 ms each, thousands of bodies
            # and tasks alive) would be counted as the hub's latency: none while it measures.
            gc.collect()
            gc.disable()
            t0 = time.perf_counter()
            latencies = asyncio.run(fire(target, args.events, args.concurrency, args.rate))
            elapsed = time.perf_counter() - t0
            gc.enable()
            if spy is not None:
                spy.send_signal(2)
                spy.wait()
            engine = make_engine(url)
            at_end = settled(engine)
            drained = drain(engine)
        finally:
            hub.terminate()
            hub.wait()
        stored = sum(settled(engine).values())
        engine.dispose()
    latencies.sort()
    ms = [x * 1000 for x in latencies]
    print(
        f"{args.events} webhook deliveries in {elapsed:.2f} s = {args.events / elapsed:.0f}/s "
        f"({f'offered {args.rate:.0f}/s' if args.rate else f'concurrency {args.concurrency}'}); "
        f"answer p50 {statistics.median(ms):.1f} ms, "
        f"p99 {ms[int(len(ms) * 0.99) - 1]:.1f} ms, max {ms[-1]:.1f} ms; "
        f"stored {stored} of {args.events + 200}"
    )
    print(f"when the load ended: {at_end}; the applier then settled the rest in {drained}")


def settled(engine: sa.Engine) -> dict[str, int]:
    t = connector_webhook_events_table
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(t.c.state, sa.func.count()).group_by(t.c.state)).all())


def drain(engine: sa.Engine, timeout: float = 300.0) -> str:
    """How long the applier took to settle what was still pending when the load ended."""
    pending = settled(engine).get("pending", 0)
    started = time.monotonic()
    while (left := settled(engine).get("pending", 0)) and time.monotonic() - started < timeout:
        time.sleep(0.1)
    took = time.monotonic() - started
    rate = f", {pending / took:.0f} events/s" if pending and took > 0.2 else ""
    return f"{took:.1f} s ({pending - left} events{rate})"


if __name__ == "__main__":
    main()
