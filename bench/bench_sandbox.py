"""Sandbox figures: start-up time of ``pagerbridge sandbox`` and ``--sink`` throughput.

    .venv/bin/python bench/bench_sandbox.py [--events 20000] [--concurrency 32] [--starts 5]

Start-up: spawn the command, poll until ``/_sandbox/faults`` answers (best and median of
``--starts`` runs). Sink: a separate ``pagerbridge sandbox --sink --no-rate-limits`` process and
an aiohttp client posting valid events with ``--concurrency`` requests in flight.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time

import aiohttp

from pagerbridge.sandbox.testing import RUN_CLI, SandboxHandle, free_port, wait_until_ready

ROUTING_KEY = "deadbeefdeadbeefdeadbeefdeadbeef"


def start(*args: str) -> tuple[subprocess.Popen[bytes], SandboxHandle]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_CLI, "sandbox", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    return process, SandboxHandle(url=f"http://127.0.0.1:{port}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(timeout=10)


def startup(runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.monotonic()
        process, handle = start()
        try:
            wait_until_ready(handle, process)
            times.append(time.monotonic() - began)
        finally:
            stop(process)
    return times


def event_body(i: int) -> bytes:
    return json.dumps(
        {
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": f"bench-{i}",
            "payload": {"summary": "bench", "source": "bench", "severity": "info"},
        }
    ).encode()


async def blast(url: str, total: int, concurrency: int) -> tuple[float, int]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(total):
        queue.put_nowait(i)
    failures = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            async with session.post(
                url, data=event_body(i), headers={"Content-Type": "application/json"}
            ) as resp:
                await resp.read()
                if resp.status != 202:
                    failures += 1

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.monotonic()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return time.monotonic() - began, failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--full-events", type=int, default=5_000)
    args = parser.parse_args()

    times = startup(args.starts)
    print(
        f"start-up to first answer: best {min(times) * 1000:.0f} ms, "
        f"median {statistics.median(times) * 1000:.0f} ms over {len(times)} runs"
    )
    process, handle = start("--sink", "--no-rate-limits")
    try:
        wait_until_ready(handle, process)
        asyncio.run(blast(handle.events_url, 500, args.concurrency))  # warm-up
        elapsed, failures = asyncio.run(blast(handle.events_url, args.events, args.concurrency))
        counted = handle.sink_count()
    finally:
        stop(process)
    process, handle = start("--no-rate-limits")
    try:
        wait_until_ready(handle, process)
        elapsed_full, failures_full = asyncio.run(
            blast(handle.events_url, args.full_events, args.concurrency)
        )
    finally:
        stop(process)
    print(
        f"full mode: {args.full_events} triggers with distinct dedup keys (each opens an incident)"
        f" in {elapsed_full:.2f} s = {args.full_events / elapsed_full:,.0f} events/s; "
        f"non-202: {failures_full}"
    )
    print(
        f"--sink: {args.events} events in {elapsed:.2f} s = {args.events / elapsed:,.0f} events/s "
        f"at concurrency {args.concurrency}; non-202: {failures}; sandbox counted {counted}"
    )


if __name__ == "__main__":
    main()
