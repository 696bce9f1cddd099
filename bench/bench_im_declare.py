"""Benchmark: `im declare` as a whole process on a current SQLite database (median ≤ 500 ms).

    .venv/bin/python bench/bench_im_declare.py [--runs 30] [--db URL]

Each run is a fresh ``im`` process (the console script in this venv), exactly as a user or a
monitoring hook would start it. Prints min / median / p90 / max, and the slowest imports of one
run measured with ``python -X importtime``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IM = Path(sys.executable).parent / "im"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        env = {**os.environ, "PAGERBRIDGE_DATABASE_URL": url, "PAGERBRIDGE_SERVER": ""}
        subprocess.run(
            [str(IM.parent / "pagerbridge"), "db", "upgrade"],
            env=env,
            check=True,
            capture_output=True,
        )
        cmd = [str(IM), "declare", "--sev", "SEV-2", "--title", "bench", "--service", "db,api"]
        subprocess.run(cmd, env=env, check=True, capture_output=True)  # warm the page cache
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            times.append((time.perf_counter() - start) * 1000)
        times.sort()
        p90 = times[int(len(times) * 0.9) - 1]
        print(
            f"im declare x{args.runs}: min {times[0]:.0f} ms, median "
            f"{statistics.median(times):.0f} ms, p90 {p90:.0f} ms, max {times[-1]:.0f} ms"
        )
        imp = subprocess.run(
            [
                sys.executable,
                "-X",
                "importtime",
                "-c",
                "import sys; from pagerbridge.cli.im import run; sys.argv[1:] = "
                + repr(cmd[1:])
                + "; run()",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        top = []
        for line in imp.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[1].strip().isdigit() and not parts[2].startswith("   "):
                top.append((int(parts[1]), parts[2].strip()))
        print(
            "top-level imports (cumulative ms):",
            ", ".join(f"{n} {us / 1000:.0f}" for us, n in sorted(top, reverse=True)[:8]),
        )
        print(
            "alembic imported:",
            "alembic" in imp.stderr,
            "| fastapi imported:",
            "fastapi" in imp.stderr,
        )


if __name__ == "__main__":
    main()
