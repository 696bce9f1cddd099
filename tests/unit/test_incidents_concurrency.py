"""Two processes changing one incident at the same moment never lose an update (both databases).

Real OS processes, each with its own engine, started together on a shared deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from sqlalchemy.orm import Session

from pagerbridge.incidents import service, timeline
from pagerbridge.store.engine import make_engine
from pagerbridge.store.migrate import upgrade

WORKER = r"""
import json, sys, time
from sqlalchemy.orm import Session
from pagerbridge.errors import IllegalTransitionError
from pagerbridge.incidents import service
from pagerbridge.incidents.commands import Commands
from pagerbridge.store.engine import make_engine
from sqlalchemy.orm import sessionmaker

url, mode, name = sys.argv[1], sys.argv[2], sys.argv[3]
count, start = int(sys.argv[4]), float(sys.argv[5])
engine = make_engine(url)
with engine.connect():
    pass
time.sleep(max(0.0, start - time.time()))
out = []
for i in range(count):
    try:
        with Session(engine) as s, s.begin():
            if mode == "notes":
                service.add_note(session=s, ref="INC-1", body=f"{name}-{i}", actor=name)
                service.assign(session=s, ref="INC-1", assignee=f"{name}-{i}", actor=name)
            elif mode == "declare":
                out.append(service.declare(session=s, title=f"{name}-{i}", severity="SEV-3",
                                           actor=name).incident.id)
            elif mode == "declare-new-service":
                cmds = Commands(sessionmaker(engine), actor=name, origin="local")
                declared = cmds.declare(title=name, severity="SEV-3",
                                        services=["shared", f"own-{name}-{i}"])
                out.append(declared["incident"]["number"])
            else:
                service.transition(session=s, ref="INC-1", action=mode, actor=name)
                out.append("ok")
    except IllegalTransitionError as exc:
        out.append(str(exc))
print(json.dumps(out))
"""


def run_together(url: str, mode: str, count: int, procs: int = 2) -> list[list[object]]:
    start = time.time() + 1.5
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, mode, f"p{n}", str(count), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(procs)
    ]
    results = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        results.append(json.loads(out))
    return results


@pytest.fixture
def migrated(database_url: str) -> str:
    engine = make_engine(database_url)
    upgrade(engine)
    engine.dispose()
    return database_url


def _declare_one(url: str) -> None:
    engine = make_engine(url)
    with Session(engine) as s, s.begin():
        service.declare(session=s, title="shared", severity="SEV-2", actor="setup")
    engine.dispose()


def test_concurrent_changes_to_one_incident_are_all_kept(migrated: str) -> None:
    _declare_one(migrated)
    count = 25
    run_together(migrated, "notes", count)
    engine = make_engine(migrated)
    with Session(engine) as s:
        inc = service.get_incident(session=s, ref="INC-1")
        entries = timeline.entries(session=s, incident_id=1)
        notes = {e.body for e in entries if e.kind == "note"}
        assert notes == {f"p{n}-{i}" for n in range(2) for i in range(count)}
        assert sum(e.kind == "assigned" for e in entries) == 2 * count
        # Every change bumped the version exactly once: nothing was overwritten.
        assert inc.version == 1 + 4 * count
    engine.dispose()


def test_racing_acknowledgements_only_one_wins(migrated: str) -> None:
    _declare_one(migrated)
    results = run_together(migrated, "ack", 1, procs=3)
    flat = [r[0] for r in results]
    assert flat.count("ok") == 1, flat
    assert all("already mitigated" in str(r) for r in flat if r != "ok")
    engine = make_engine(migrated)
    with Session(engine) as s:
        kinds = [e.kind for e in timeline.entries(session=s, incident_id=1)]
        assert kinds == ["declared", "status"]
    engine.dispose()


def test_concurrent_declarations_get_unique_consecutive_numbers(migrated: str) -> None:
    results = run_together(migrated, "declare", 20)
    numbers = sorted(n for r in results for n in r)  # type: ignore[type-var]
    assert numbers == list(range(1, 41))


def test_concurrent_declarations_creating_the_same_service(migrated: str) -> None:
    results = run_together(migrated, "declare-new-service", 5, procs=3)
    assert sorted(n for r in results for n in r) == list(range(1, 16))  # type: ignore[type-var]
    engine = make_engine(migrated)
    with Session(engine) as s:
        from pagerbridge.incidents import catalog

        names = [x.name for x in catalog.list_services(session=s)]
        assert names.count("shared") == 1 and len(names) == 16
        shared = catalog.get_service(session=s, name="shared")
        assert catalog.incident_count(session=s, service=shared) == 15
    engine.dispose()
