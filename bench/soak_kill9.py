"""Soak: many rounds of kill -9 while the agent delivers over 50 routing keys to a faulty sandbox.

The same harness as ``tests/e2e/test_kill9.py`` (``pagerbridge.agent.chaos``), longer: by default
20 rounds x 2,000 events. The sandbox injects 5xx (500/502/503), 429 bursts, dropped connections
and, at the start of each round, latency beyond the agent's timeout (timeouts).

    .venv/bin/python bench/soak_kill9.py                    # 20 rounds x 2,000 events
    .venv/bin/python bench/soak_kill9.py --rounds 5 --per-round 1000 --seed 7

Exit status 0 when every accepted event arrived, in order per key, no duplicate changed its dedup
key and nothing was dead-lettered.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def main() -> None:
    from pagerbridge.agent.chaos import run_kill9
    from pagerbridge.sandbox.testing import running_sandbox

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--per-round", type=int, default=2000)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--db", default=None, help="database URL (default: SQLite in a temp dir)")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="soak-kill9-") as tmp,
        running_sandbox(any_routing_key=True, rate_limits=False) as sandbox,
    ):
        report = run_kill9(
            Path(tmp),
            sandbox,
            rounds=args.rounds,
            per_round=args.per_round,
            keys=args.keys,
            seed=args.seed,
            database_url=args.db,
            settle_timeout=300,
            say=lambda line: print(line, flush=True),
        )
    summary = asdict(report)
    for name in ("missing", "order_violations", "dedup_mismatches"):
        summary[name] = len(summary[name])
    print(
        f"{report.rounds} rounds, {report.kills} x SIGKILL, {report.accepted:,} accepted, "
        f"{report.arrivals:,} arrivals ({report.duplicates:,} duplicates, same dedup key), "
        f"missing {len(report.missing)}, order violations {len(report.order_violations)}, "
        f"dedup-key mismatches {len(report.dedup_mismatches)}, dead {report.dead}, "
        f"late duplicates {report.late_duplicates}; {report.seconds:.0f} s"
    )
    print(json.dumps(summary))
    raise SystemExit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
