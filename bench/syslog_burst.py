"""A burst of 100,000 syslog lines for 50 faults: 50 alerts, within the rate limit, memory flat.

A real ``pagerbridge agent`` process delivers to a real ``pagerbridge sandbox`` process (PagerDuty's
rate limits on) with the default 120 events/min per routing key. The lines repeat 50 link-down
faults over TCP; folding (on by default for sources) keeps one pending trigger per fault, so the
queue stays at about 50 rows whatever the burst. Reports: durable intake time, the alerts the
sandbox opened, the events it received and its busiest minute, any 429, and the agent's RSS
before, at peak and after.

    .venv/bin/python bench/syslog_burst.py
    .venv/bin/python bench/syslog_burst.py --count 300000 --faults 50
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

from pagerbridge.sandbox.testing import sandbox_process
from syslog_common import counters, durable, rss_mib, send, start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--faults", type=int, default=50)
    parser.add_argument("--deliver-timeout", type=float, default=120.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, sandbox_process("--log-level", "error") as sandbox:
        key = sandbox.routing_key
        agent, tcp, _ = start(Path(tmp), sandbox.events_url, key=key)
        peak = [0.0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], rss_mib(agent.proc.pid))
                time.sleep(0.05)

        try:
            rss_before = rss_mib(agent.proc.pid)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            t0 = time.perf_counter()
            send("tcp", tcp, args.count, faults=args.faults, conns=1).wait()
            while durable(agent) < args.count:
                time.sleep(0.02)
            intake = time.perf_counter() - t0

            def alerts() -> set[str]:
                return {
                    a["dedup_key"]
                    for a in sandbox.arrivals(key)
                    if a["event_action"] == "trigger" and a["outcome"] == "created"
                }

            deadline = time.monotonic() + args.deliver_timeout
            while len(alerts()) < args.faults and time.monotonic() < deadline:
                time.sleep(0.2)
            delivered = time.perf_counter() - t0
            time.sleep(2)  # let the last folded repeats go out, then measure the tail
            done.set()
            sampler.join()
            rss_after = rss_mib(agent.proc.pid)
            arrivals = sandbox.arrivals(key)
            c = counters(agent)
        finally:
            agent.terminate()
    per_minute: dict[int, int] = {}
    for a in arrivals:
        minute = int(datetime.fromisoformat(a["time"]).timestamp() // 60)
        per_minute[minute] = per_minute.get(minute, 0) + 1
    statuses = sorted({a["outcome"] for a in arrivals})
    result = {
        "lines": args.count,
        "faults": args.faults,
        "durable_s": round(intake, 2),
        "durable_per_s": round(args.count / intake),
        "alerts_opened": len(alerts_of(arrivals)),
        "all_alerts_open_s": round(delivered, 2),
        "events_received_by_sandbox": len(arrivals),
        "busiest_minute_events": max(per_minute.values(), default=0),
        "sandbox_outcomes": statuses,
        "stored": c.get("stored", 0),
        "folded": c.get("folded", 0),
        "rss_mib": {
            "before": round(rss_before, 1),
            "peak": round(peak[0], 1),
            "after": round(rss_after, 1),
        },
    }
    print(json.dumps(result, indent=2))


def alerts_of(arrivals: list[dict[str, object]]) -> set[object]:
    return {a["dedup_key"] for a in arrivals if a["outcome"] == "created"}


if __name__ == "__main__":
    main()
