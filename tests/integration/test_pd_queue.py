"""``pd-queue`` as a real process, read through ``--json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.outbox import DEAD, DELIVERED, Completion, open_outbox

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
RK2 = "0123456789abcdef0123456789abcdef"


def pd_queue(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    return subprocess.run(
        [sys.executable, "-c", "from pagerbridge.cli.pd_queue import run; run()", *args],
        capture_output=True, text=True, env=env, input=stdin, timeout=30,
    )  # fmt: skip


def js(*args: str) -> Any:
    proc = pd_queue(*args, "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def ev(summary: str, rk: str = RK, dedup: str | None = None) -> dict[str, Any]:
    e: dict[str, Any] = {
        "routing_key": rk,
        "event_action": "trigger",
        "payload": {"summary": summary, "source": "test", "severity": "info"},
    }
    if dedup:
        e["dedup_key"] = dedup
    return e


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Five rows: a delivered, a dead (HTTP 400) and three pending, over two routing keys."""
    url = f"sqlite:///{tmp_path / 'pb.db'}"
    outbox = open_outbox(url)
    ids = [outbox.enqueue_event(ev(f"e{i}", dedup=f"d{i}")).id for i in range(3)]
    outbox.enqueue_event(ev("other", rk=RK2, dedup="o1"))
    outbox.enqueue_event(ev("e3", dedup="d3"))
    outbox.storage.claim(now=outbox.clock(), limit=2, lease_seconds=60, worker="t")
    outbox.storage.complete(
        [Completion(ids[0], DELIVERED), Completion(ids[1], DEAD, last_error="HTTP 400: invalid")],
        now=outbox.clock(),
    )
    outbox.close()
    return url


def test_status_counts_and_shortened_keys(db: str) -> None:
    st = js("status", "--db", db)
    assert st["by_state"] == {
        "pending": 3,
        "in_flight": 0,
        "delivered": 1,
        "dead": 1,
        "suppressed": 0,
    }
    assert st["by_routing_key"] == {
        "…beef": {"pending": 2, "delivered": 1, "dead": 1},
        "…cdef": {"pending": 1},
    }
    assert st["oldest_pending_age_seconds"] >= 0
    full = js("status", "--db", db, "--show-keys")
    assert set(full["by_routing_key"]) == {RK, RK2}
    table = pd_queue("status", "--db", db)
    assert table.returncode == 0 and "…beef" in table.stdout and RK not in table.stdout


def test_list_filters_and_pages(db: str) -> None:
    assert [r["dedup_key"] for r in js("list", "--db", db, "--state", "dead")["rows"]] == ["d1"]
    dead = js("list", "--db", db, "--state", "dead")["rows"][0]
    assert dead["last_error"] == "HTTP 400: invalid" and dead["routing_key"] == "…beef"
    assert dead["payload"]["routing_key"] == "…beef"  # not leaked through the payload either
    assert [r["dedup_key"] for r in js("list", "--db", db, "--routing-key", RK2)["rows"]] == ["o1"]
    assert [r["dedup_key"] for r in js("list", "--db", db, "--dedup-key", "d2")["rows"]] == ["d2"]
    assert len(js("list", "--db", db, "--since", "1h")["rows"]) == 5
    assert js("list", "--db", db, "--since", "2999-01-01T00:00:00Z")["rows"] == []
    page1 = js("list", "--db", db, "--limit", "2")
    assert len(page1["rows"]) == 2 and page1["next_after"] == page1["rows"][-1]["id"]
    page3 = js("list", "--db", db, "--limit", "2", "--after", str(page1["next_after"] + 2))
    assert len(page3["rows"]) == 1 and page3["next_after"] is None
    bad = pd_queue("list", "--db", db, "--state", "lost")
    assert bad.returncode == 2 and "is not one of" in bad.stderr
    bad_since = pd_queue("list", "--db", db, "--since", "yesterday")
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr


def test_show(db: str) -> None:
    row = js("show", "2", "--db", db)
    assert row["state"] == "dead" and row["payload"]["payload"]["summary"] == "e1"
    assert js("show", "2", "--db", db, "--show-keys")["routing_key"] == RK
    missing = pd_queue("show", "999", "--db", db)
    assert missing.returncode == 3 and "no outbox row with id 999" in missing.stderr  # not found


def test_retry_by_id_dead_and_routing_key(db: str) -> None:
    assert js("retry", "2", "--db", db) == {"retried": 1}
    assert js("show", "2", "--db", db)["state"] == "pending"
    assert js("retry", "--dead", "--db", db) == {"retried": 0}
    assert pd_queue("retry", "--db", db).returncode == 2
    assert pd_queue("retry", "999", "--db", db).returncode == 3


def test_purge_asks_unless_yes(db: str) -> None:
    refused = pd_queue("purge", "--dead", "--db", db, stdin="n\n")
    assert refused.returncode == 1
    assert js("status", "--db", db)["by_state"]["dead"] == 1
    assert js("purge", "--dead", "--delivered", "--yes", "--db", db) == {"purged": 2}
    st = js("status", "--db", db)["by_state"]
    assert (st["dead"], st["delivered"], st["pending"]) == (0, 0, 3)
    assert pd_queue("purge", "--db", db, "--yes").returncode == 2  # say what to purge


def test_pause_and_resume(db: str) -> None:
    assert js("pause", RK2, "--db", db) == {"paused": "…cdef"}
    assert js("status", "--db", db)["paused"] == ["…cdef"]
    outbox = open_outbox(db)
    try:
        claimed = outbox.storage.claim(now=outbox.clock(), limit=10, lease_seconds=60, worker="t")
        assert RK2 not in {r.routing_key for r in claimed}
    finally:
        outbox.close()
    assert js("resume", RK2, "--db", db) == {"resumed": True}
    assert js("resume", RK2, "--db", db) == {"resumed": False}


def test_keys_can_be_given_as_shown(db: str) -> None:
    assert [r["dedup_key"] for r in js("list", "--db", db, "--routing-key", "…cdef")["rows"]] == [
        "o1"
    ]
    assert js("pause", "…cdef", "--db", db) == {"paused": "…cdef"}
    assert js("status", "--db", db, "--show-keys")["paused"] == [RK2]
    assert js("retry", "--routing-key", "…beef", "--db", db) == {"retried": 1}
    unknown = pd_queue("list", "--db", db, "--routing-key", "…zzzz")
    assert (
        unknown.returncode == 3
        and "no routing key in the outbox ends with 'zzzz'" in unknown.stderr
    )


def test_storage_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("not a directory")
    proc = pd_queue("status", "--db", str(tmp_path / "afile" / "pb.db"))
    assert proc.returncode == 74 and proc.stderr.startswith("error: ")
    assert "Traceback" not in proc.stderr


def test_db_may_come_before_the_command(db: str, tmp_path: Path) -> None:
    """``pd-queue --db URL status`` as well as ``pd-queue status --db URL``; the command's wins."""
    before = pd_queue("--db", db, "status", "--json")
    assert before.returncode == 0, before.stderr
    assert json.loads(before.stdout)["by_state"]["pending"] == 3
    empty = f"sqlite:///{tmp_path / 'other.db'}"
    both = pd_queue("--db", empty, "status", "--db", db, "--json")
    assert json.loads(both.stdout)["by_state"]["pending"] == 3


def test_connector_rows_and_folds_are_shown_truthfully(db: str) -> None:
    """A connector's REST row is listed with its kind and said to be the hub's (never held);
    triggers folded by an event source are counted."""
    import sqlalchemy as sa

    from pagerbridge.outbox import REST_KIND, enqueue_in_transaction

    engine = sa.create_engine(db)
    with engine.begin() as conn:
        rest_id = enqueue_in_transaction(
            conn, REST_KIND, {"action": "create"}, "connector:1/incident:1",
            routing_key="rest:1", destination="connector:1",
        )  # fmt: skip
    engine.dispose()
    outbox = open_outbox(db)
    try:
        for n in range(3):  # an event source repeating one alert: one row, two folds
            outbox.enqueue_event(ev(f"flap {n}", dedup="flap"), fold=True)
    finally:
        outbox.close()
    st = js("status", "--db", db)
    assert st["connector_rows"] == {"pending": 1} and st["folds"] == 2
    assert st["by_kind"]["pd_rest"] == {"pending": 1} and st["held"] == []
    assert st["by_state"]["pending"] == 5  # 3 earlier events, the folded alert, the REST row
    assert st["by_routing_key"]["rest:1"] == {"pending": 1}  # a budget's name, not a secret
    text = pd_queue("status", "--db", db).stdout
    assert "connector rows: 1 pending (sent by the hub" in text and "folds: 2" in text
    row = js("show", str(rest_id), "--db", db)
    assert (row["kind"], row["sent_by"], row["held"]) == (REST_KIND, "hub", None)
    (flap,) = js("list", "--db", db, "--dedup-key", "flap")["rows"]
    assert flap["folds"] == 2 and flap["payload"]["payload"]["summary"] == "flap 2"
    listing = pd_queue("list", "--db", db).stdout
    assert "pd_rest: create" in listing and "sent by the hub" in listing
