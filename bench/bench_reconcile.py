"""Benchmark: reconcile of 10,000 PagerDuty incidents' changes, within the REST budget.

    .venv/bin/python bench/bench_reconcile.py [--incidents 10000] [--db URL] [--sample 300]

A sandbox (``pagerbridge sandbox --state FILE``, a subprocess so its memory is not ours) starts
with ``--incidents`` open incidents on the connector's service, half of them acknowledged, all
made after the connector (so their trigger, assignment and acknowledgement log entries are
changes it has to look at), written straight into the state file. Then:

1. **first run**: the backfill reads the open incidents (``/incidents``, 100 a page) and declares
   each locally (acknowledged ones mitigated), then the log walk reads every entry since the
   connector was made (more than 10,000: windows are halved until each fits classic
   pagination's cap);
2. every incident is resolved in PagerDuty (bulk ``PUT /incidents``, another token), no webhook;
3. **second run**: the walk reads the resolves and applies them (10,000 local resolves);
4. **idle run**: nothing changed;
5. the alternative, reading each linked incident's own log
   (``/incidents/{id}/log_entries``), timed on ``--sample`` incidents and extrapolated.

Printed per run: wall time, REST requests made with the connector's token, the busiest minute
(requests in any 60 s, from the sandbox's request log), 429 answers, and the process's resident
memory (sampled as the run progresses, and the peak).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

TOKEN = "sandbox-token"
MUTATOR = "sandbox-user-token"  # PagerDuty-side changes, on a budget of their own
SERVICE = "PDEMO01"


def rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_state(path: Path, incidents: int, port: int, start: float, spread: float) -> None:
    """The sandbox's state with ``incidents`` open incidents, half acknowledged, made one after
    the other from ``start`` over ``spread`` seconds (PagerDuty's log never holds 10,000
    changes of one second, which classic pagination could not read)."""
    from datetime import UTC, datetime, timedelta

    from pagerbridge.sandbox import incident_ops as ops
    from pagerbridge.sandbox.options import SandboxOptions
    from pagerbridge.sandbox.runtime import Runtime

    moment = [datetime.fromtimestamp(start, UTC)]
    step = timedelta(seconds=spread / max(1, incidents))
    runtime = Runtime(SandboxOptions(port=port), clock=lambda: moment[0])
    state = runtime.state
    user = state.ref("user", "PDEMOU1")
    for n in range(incidents):
        incident = ops.open_incident(
            state,
            service_id=SERVICE,
            title=f"bench incident {n}",
            incident_key=f"bench-{n}",
            agent=user,
            channel={"type": "api"},
            urgency="high" if n % 4 else "low",
        )
        if n % 2:
            ops.set_status(state, incident, "acknowledged", agent=user, channel={"type": "api"})
        moment[0] += step
    runtime.save(path)


def busiest_minute(times: list[float]) -> int:
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 60:
            start += 1
        best = max(best, end - start + 1)
    return best


class Meter:
    """Samples resident memory as a run progresses (every ~2 % of it)."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._next = 0

    def __call__(self, done: int, total: int) -> None:
        if done >= self._next:
            self.samples.append(rss_mb())
            self._next = done + max(1, total // 50)


def report(name: str, sb: Any, after: int, seconds: float, meter: Meter, result: Any) -> int:
    from datetime import datetime

    calls = [r for r in sb.requests(after=after, token=TOKEN) if r["api"] == "rest"]
    times = sorted(
        datetime.fromisoformat(r["at"].replace("Z", "+00:00")).timestamp() for r in calls
    )
    limited = sum(1 for r in calls if r["status"] == 429)
    paths: dict[str, int] = {}
    for r in calls:
        key = r["path"] if r["path"].count("/") == 1 else r["path"].rsplit("/", 1)[0] + "/{id}"
        key = key.replace(r["path"].split("/")[2] if r["path"].count("/") > 2 else "\0", "{id}")
        paths[key] = paths.get(key, 0) + 1
    samples = meter.samples or [rss_mb()]
    print(
        f"{name}: {seconds:.1f} s, {len(calls)} requests {paths}, busiest minute "
        f"{busiest_minute(times)} requests, {limited} answered 429; applied {result.applied}, "
        f"backfilled {result.backfilled}, log entries {result.entries}, windows "
        f"{result.windows}; RSS {min(samples):.0f} to {max(samples):.0f} MB during the run"
    )
    return len(calls)


async def per_incident_sample(engine: Any, record: Any, sample: int) -> tuple[int, float]:
    """The alternative walk over ``sample`` linked incidents: (requests, seconds)."""
    import sqlalchemy as sa

    from pagerbridge.connectors import credentials
    from pagerbridge.connectors.models import connector_links_table as t
    from pagerbridge.connectors.reconcile_pace import Pacer
    from pagerbridge.connectors.secrets import SecretBox

    with engine.connect() as conn:
        ids = list(
            conn.execute(sa.select(t.c.pd_incident_id).where(t.c.pd_incident_id.is_not(None)))
            .scalars()
            .fetchmany(sample)
        )
    client = credentials.rest_client(record, engine=engine, box=SecretBox.for_engine(engine))
    pacer = Pacer("bench-per-incident")
    started = time.monotonic()
    async with client:
        for pd_id in ids:
            await pacer()
            async for _entry in client.list_log_entries(pd_id):
                pass
    return pacer.requests, time.monotonic() - started


def resolve_all(sb: Any, engine: Any) -> None:
    """Resolve every linked incident in PagerDuty (bulk updates of 250, another token)."""
    import sqlalchemy as sa

    from pagerbridge.connectors.models import connector_links_table as t

    with engine.connect() as conn:
        ids = list(
            conn.execute(sa.select(t.c.pd_incident_id).where(t.c.pd_incident_id.is_not(None)))
            .scalars()
            .all()
        )
    headers = {
        "Authorization": f"Token token={MUTATOR}",
        "Accept": "application/vnd.pagerduty+json;version=2",
    }
    for start in range(0, len(ids), 250):
        chunk = [
            {"id": i, "type": "incident_reference", "status": "resolved"}
            for i in ids[start : start + 250]
        ]
        status, answer = sb.request("PUT", "/incidents", {"incidents": chunk}, headers)
        assert status == 200, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--db", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument(
        "--make-state", nargs=3, metavar=("FILE", "PORT", "START"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.make_state:  # in a process of its own, so its memory is not counted as ours
        path, port, start = args.make_state
        make_state(Path(path), args.incidents, int(port), float(start), 1800)
        return

    import sqlalchemy as sa

    from pagerbridge.connectors import service
    from pagerbridge.connectors.reconcile import reconcile_now
    from pagerbridge.connectors.records import load
    from pagerbridge.connectors.secrets import SecretBox, generate_key
    from pagerbridge.connectors.settings import parse_config
    from pagerbridge.sandbox.testing import free_port, sandbox_process
    from pagerbridge.store.engine import make_engine
    from pagerbridge.store.migrate import upgrade

    os.environ.setdefault("PAGERBRIDGE_SECRET_KEY", generate_key())
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        url = args.db or f"sqlite:///{tmp}/pb.db"
        engine = make_engine(url)
        upgrade(engine)
        state_file = Path(tmp) / "sandbox.json"
        # The connector first: the incidents are made after it, so all their entries count.
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings, secrets = parse_config(
            {
                "base_url": base,
                "api_key": TOKEN,
                "sync_direction": "bidirectional",
                "custom": {"service_id": SERVICE, "from_email": "oncall@example.com"},
            }
        )
        with engine.begin() as conn:
            service.add(
                conn=conn,
                name="bench",
                settings=settings,
                secrets=secrets,
                box=SecretBox.for_engine(engine),
            )
        # Made an hour ago; its incidents came over the next half hour.
        hour_ago = time.time() - 3600
        with engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE connectors SET created_at = :at, updated_at = :at"),
                {"at": hour_ago},
            )
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--incidents",
                str(args.incidents),
                "--make-state",
                str(state_file),
                str(port),
                repr(hour_ago + 60),
            ],
            check=True,
        )
        print(
            f"sandbox state: {args.incidents} incidents made in "
            f"{time.monotonic() - started:.1f} s; database {url.split(':')[0]}"
        )
        with sandbox_process("--state", str(state_file), port=port) as sb:
            resolved_at = 0.0
            for name in (
                "first run (backfill + walk)",
                None,
                f"second run ({args.incidents:,} resolves)",
                "",
                "next run (re-reads its 60 s overlap, applies nothing)",
                "idle run",
            ):
                if name == "":  # the next run starts over a minute after the resolves
                    time.sleep(max(0.0, 62 - (time.monotonic() - resolved_at)))
                    continue
                if name is None:
                    started = time.monotonic()
                    resolve_all(sb, engine)
                    resolved_at = time.monotonic()
                    print(f"resolved every incident in PagerDuty in {resolved_at - started:.1f} s")
                    continue
                meter = Meter()
                after = sb.clear_requests()
                started = time.monotonic()
                result = asyncio.run(
                    reconcile_now(engine, "bench", database_url=url, progress=meter)
                )
                seconds = time.monotonic() - started
                assert result.ok, result.as_dict()
                report(name, sb, after, seconds, meter, result)
            with engine.connect() as conn:
                record = load(conn, "bench")
            requests, seconds = asyncio.run(per_incident_sample(engine, record, args.sample))
            per = requests / max(1, args.sample)
            print(
                f"per-incident alternative: {requests} requests for {args.sample} incidents "
                f"({seconds:.1f} s) → about {per * args.incidents:,.0f} requests a run for "
                f"{args.incidents:,} linked incidents, whatever changed"
            )
        with engine.connect() as conn:
            counts = dict(
                conn.execute(
                    sa.text("SELECT status, count(*) FROM im_incidents GROUP BY status")
                ).all()
            )
        print(f"local incidents by status: {counts}; peak RSS of this process: {peak_mb():.0f} MB")
        engine.dispose()


if __name__ == "__main__":
    main()
