"""Benchmark: ``pd-send`` as a whole process, the way a monitoring system runs it.

    .venv/bin/python bench/bench_pd_send.py --runs 50

Bytecode is cached (in a temporary PYTHONPYCACHEPREFIX) as it is for an installed package.
Reports the median (and p90) wall time of one ``pd-send`` run that validates, stores durably
(SQLite WAL, synchronous=FULL: one fsync) and prints the dedup key, next to a bare
``python -c pass`` and ``python -c 'import sqlite3'`` for scale. Target: median <= 30 ms.
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

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
BIN = Path(sys.executable).parent


def timed(cmd: list[str], runs: int, env: dict[str, str], expect: int = 0) -> list[float]:
    out = []
    for i in range(runs):
        start = time.perf_counter()
        proc = subprocess.run([c.replace("{i}", str(i)) for c in cmd], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        out.append((time.perf_counter() - start) * 1000)
        if proc.returncode != expect:
            raise SystemExit(f"{cmd[0]} failed: {proc.stderr.decode()}")
    return out


def report(name: str, ms: list[float]) -> None:
    q = statistics.quantiles(ms, n=10)
    print(f"{name:32s} median {statistics.median(ms):6.1f} ms   p90 {q[-1]:6.1f} ms   "
          f"min {min(ms):6.1f} ms   (n={len(ms)})")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or str(Path(tmp) / "pagerbridge.db")
        env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
        # An installed package has its bytecode compiled (pip does it at install time); this
        # environment may set PYTHONDONTWRITEBYTECODE, which would make every run recompile
        # pagerbridge from source. Cache bytecode in the temp dir, as an install would.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        py = str(BIN / "python")
        pd_send = [str(BIN / "pd-send"), "--db", db, "-k", RK, "-t", "trigger",
                   "-d", "CPU above 95% on web-{i}", "-f", "host=web-{i}"]  # fmt: skip
        timed(pd_send, 3, env)  # warm the page cache and create the schema
        report("python -c pass", timed([py, "-c", "pass"], args.runs, env))
        report("python -c 'import sqlite3'", timed([py, "-c", "import sqlite3"], args.runs, env))
        report("pd-send (trigger, fsynced)", timed(pd_send, args.runs, env))
        # the same process without the database write: start-up + imports + validation only
        invalid = [str(BIN / "pd-send"), "--db", db, "-k", RK[:-1], "-t", "trigger", "-d", "x"]
        report("pd-send (invalid: no write)", timed(invalid, args.runs, env, expect=2))
        resolve = [
            str(BIN / "pd-send"),
            "--db",
            db,
            "-k",
            RK,
            "-t",
            "resolve",
            "-i",
            "web-{i}",
            "-q",
        ]
        report("pd-send -t resolve -q", timed(resolve, args.runs, env))


if __name__ == "__main__":
    main()
