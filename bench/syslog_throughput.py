"""Syslog into the agent, durably: TCP messages/s with rules applied, and UDP's figure and loss.

A real ``pagerbridge agent`` process (uvloop, SQLite WAL with synchronous=FULL, group commit)
with the syslog source and three rules (bench/syslog_common.py); its delivery worker points at a
closed port, so the figures are intake. A message counts once /metrics says it is durable
(``stored`` + ``folded``). Senders run in their own processes.

    .venv/bin/python bench/syslog_throughput.py                 # TCP: 100k lines, 2,000 faults
    .venv/bin/python bench/syslog_throughput.py --faults 100000  # every line its own alert
    .venv/bin/python bench/syslog_throughput.py --udp-rate 5000  # UDP paced, then flat out
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from syslog_common import black_hole, counters, durable, send, start


def wait_durable(agent, target: float, timeout: float = 120) -> float:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if durable(agent) >= target:
            return time.perf_counter()
        time.sleep(0.02)
    raise SystemExit(f"only {durable(agent)} of {target} durable in {timeout} s")


def settle(agent) -> dict[str, float]:  # type: ignore[no-untyped-def]
    last, same = -1.0, 0
    while same < 10:
        time.sleep(0.1)
        now = counters(agent).get("received", 0)
        same = same + 1 if now == last else 0
        last = now
    return counters(agent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--faults", type=int, default=2_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--udp-count", type=int, default=100_000)
    parser.add_argument("--udp-rate", type=float, default=5_000)
    args = parser.parse_args()
    results: dict[str, object] = {}
    hole, nowhere = black_hole()
    with hole, tempfile.TemporaryDirectory() as tmp:
        agent, tcp, udp = start(Path(tmp), nowhere)
        try:
            before = durable(agent)
            t0 = time.perf_counter()
            sender = send("tcp", tcp, args.count, faults=args.faults, conns=args.connections)
            t1 = wait_durable(agent, before + args.count)
            sender.wait()
            c = counters(agent)
            results["tcp_msgs_per_s"] = round(args.count / (t1 - t0))
            results["tcp_folded"] = c.get("folded", 0)
            print(
                f"TCP: {args.count} lines ({args.faults} faults, {args.connections} connections) "
                f"durable in {t1 - t0:.2f} s = {args.count / (t1 - t0):,.0f} msg/s "
                f"(stored {c.get('stored', 0):.0f}, folded {c.get('folded', 0):.0f})"
            )
            for label, rate in (("paced", args.udp_rate), ("flat out", 0.0)):
                before_c = counters(agent)
                t0 = time.perf_counter()
                send("udp", udp, args.udp_count, faults=args.faults, rate=rate).wait()
                sent_s = time.perf_counter() - t0
                after = settle(agent)
                got = after.get("received", 0) - before_c.get("received", 0)
                lost = 1 - got / args.udp_count
                print(
                    f"UDP {label}: sent {args.udp_count} at {args.udp_count / sent_s:,.0f}/s, "
                    f"received {got:.0f}, lost {lost:.1%} "
                    f"(overload drops counted: {after.get('errors:overload', 0):.0f})"
                )
                results[f"udp_{label.replace(' ', '_')}"] = {
                    "send_rate": round(args.udp_count / sent_s),
                    "loss": round(lost, 4),
                }
        finally:
            agent.terminate()
    print(json.dumps(results))


if __name__ == "__main__":
    main()
