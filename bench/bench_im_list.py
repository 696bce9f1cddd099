"""Benchmark: `im list`, first page over 100,000 incidents (query ≤ 50 ms, whole process ≤ 600 ms).

    .venv/bin/python bench/bench_im_list.py [--incidents 100000] [--db URL] [--runs 20]

Seeds the incidents in bulk (a fresh SQLite file unless --db names an empty database), then times
(1) the first page in process, through the same ``Commands.list_incidents`` the CLI and API use,
unfiltered and with each filter, and (2) the whole ``im list`` process (table and --json).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlalchemy.orm import sessionmaker

from pagerbridge.incidents.commands import Commands
from pagerbridge.incidents.models import Counter, Incident, IncidentService, Service
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

IM = Path(sys.executable).parent / "im"
SERVICES = ["db", "api", "web", "queue", "auth", "search", "billing", "cdn"]
STATUSES = ["closed"] * 85 + ["resolved"] * 10 + ["mitigated"] * 3 + ["open"] * 2


def seed(url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(7)
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(Service),
            [
                {"name": n, "description": "", "default_severity": "SEV-3", "created_at": t0}
                for n in SERVICES
            ],
        )
        batch, links = [], []
        for n in range(1, count + 1):
            at = t0 + timedelta(minutes=7 * n)
            batch.append(
                {
                    "id": n,
                    "title": f"incident {n}",
                    "description": "",
                    "custom_fields": {},
                    "severity": f"SEV-{rng.randint(1, 4)}",
                    "status": rng.choice(STATUSES),
                    "origin": "local",
                    "created_by": "bench",
                    "version": 1,
                    "created_at": at,
                    "updated_at": at,
                    "sla_started_at": at,
                }
            )
            links.append({"incident_id": n, "service_id": rng.randint(1, len(SERVICES))})
            if len(batch) == 5000:
                conn.execute(insert(Incident), batch)
                conn.execute(insert(IncidentService), links)
                batch, links = [], []
        if batch:
            conn.execute(insert(Incident), batch)
            conn.execute(insert(IncidentService), links)
        conn.execute(insert(Counter), [{"name": "incident", "value": count}])
    if engine.dialect.name == "postgresql":
        # What autovacuum would do soon after a bulk load (autocommit: a rolled-back ANALYZE
        # keeps no statistics).
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def timed(func: object, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func()  # type: ignore[operator]
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--db")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        start = time.perf_counter()
        seed(url, args.incidents)
        took = time.perf_counter() - start
        print(f"seeded {args.incidents} incidents in {took:.1f} s ({url.split(':')[0]})")
        engine = make_engine(url)
        cmds = Commands(sessionmaker(engine, expire_on_commit=False), actor="bench", origin="local")
        cases = {
            "first page (25)": {},
            "--status open": {"status": "open"},
            "--sev SEV-1": {"severity": "SEV-1"},
            "--service db": {"service_name": "db"},
            "--status open --service db": {"status": "open", "service_name": "db"},
        }
        for label, kw in cases.items():
            page = cmds.list_incidents(**kw)
            assert page["incidents"], label
            median, worst = timed(lambda kw=kw: cmds.list_incidents(**kw), args.runs)
            print(f"in process  {label:<28} median {median:6.1f} ms  max {worst:6.1f} ms")
        engine.dispose()
        env = {**os.environ, "PAGERBRIDGE_DATABASE_URL": url, "PAGERBRIDGE_SERVER": ""}
        for extra in ([], ["--json"]):
            cmd = [str(IM), "list", *extra]
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            median, worst = timed(
                lambda cmd=cmd: subprocess.run(cmd, env=env, check=True, capture_output=True),
                args.runs,
            )
            label = "im list " + " ".join(extra)
            print(f"process     {label:<28} median {median:6.0f} ms  max {worst:6.0f} ms")


if __name__ == "__main__":
    main()
