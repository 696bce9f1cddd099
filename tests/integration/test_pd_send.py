"""``pd-send`` as a real process: exit codes, stored rows, fresh machine, fallback, disk full."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from pagerbridge.outbox import open_outbox

RK = "deadbeefdeadbeefdeadbeefdeadbeef"
PD_SEND = [sys.executable, "-c", "from pagerbridge.cli.pd_send import run; run()"]


def pd_send(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    base["PAGERBRIDGE_AGENT_URL"] = "http://127.0.0.1:9"  # nothing listens: no silent fallback
    return subprocess.run(
        [*PD_SEND, *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        input=stdin,
        timeout=30,
        **kw,
    )


def rows(db: Path) -> list[dict[str, Any]]:
    outbox = open_outbox(f"sqlite:///{db}")
    try:
        return [r.as_dict() for r in outbox.list_rows()]
    finally:
        outbox.close()


def test_trigger_is_stored_with_every_field_and_the_dedup_key_printed(tmp_path: Path) -> None:
    db = tmp_path / "pb.db"
    proc = pd_send(
        "--db", str(db), "-k", RK, "-t", "trigger", "-d", "High latency on web-1",
        "-c", "Nagios", "-u", "https://nagios.example.com", "-f", "host=web-1", "-f", "ms=950",
        "--severity", "critical", "--source", "web-1", "--component", "nginx", "--group", "web",
        "--class", "latency", "--link", "https://grafana.example.com,Dashboard",
        "--image", "https://img.example.com/g.png,https://grafana.example.com,graph",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    key = proc.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", key)  # generated, like pdagent
    (row,) = rows(db)
    ev = row["payload"]
    assert row["state"] == "pending" and row["dedup_key"] == key and row["kind"] == "event"
    assert ev["event_action"] == "trigger" and ev["dedup_key"] == key
    assert ev["client"] == "Nagios" and ev["client_url"] == "https://nagios.example.com"
    p = ev["payload"]
    assert p["summary"] == "High latency on web-1" and p["severity"] == "critical"
    assert (p["source"], p["component"], p["group"], p["class"]) == (
        "web-1",
        "nginx",
        "web",
        "latency",
    )
    assert p["custom_details"] == {"host": "web-1", "ms": "950"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|\+00:00)", p["timestamp"])
    assert ev["links"] == [{"href": "https://grafana.example.com", "text": "Dashboard"}]
    assert ev["images"] == [
        {
            "src": "https://img.example.com/g.png",
            "href": "https://grafana.example.com",
            "alt": "graph",
        }
    ]
    assert oct(db.stat().st_mode & 0o777) == "0o600"


def test_given_dedup_key_resolve_and_quiet(tmp_path: Path) -> None:
    db = str(tmp_path / "pb.db")
    assert (
        pd_send("--db", db, "-k", RK, "-t", "trigger", "-d", "x", "-i", "db-1").stdout == "db-1\n"
    )
    resolved = pd_send(
        "--db", db, "--routing-key", RK, "-t", "resolve", "--dedup-key", "db-1", "-q"
    )
    assert resolved.returncode == 0 and resolved.stdout == ""
    events = [r["payload"] for r in rows(Path(db))]
    assert [e["event_action"] for e in events] == ["trigger", "resolve"]
    assert "payload" not in events[1]


def test_invalid_event_exits_2_and_stores_nothing(tmp_path: Path) -> None:
    db = tmp_path / "pb.db"
    proc = pd_send("--db", str(db), "-k", "short", "-t", "trigger")
    assert proc.returncode == 2
    assert "routing_key" in proc.stderr and "payload.summary" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not db.exists() or rows(db) == []
    usage = pd_send("--db", str(db), "-k", RK, "-d", "no action")
    assert usage.returncode == 2 and "-t/--event-type is required" in usage.stderr
    bad_choice = pd_send("--db", str(db), "-k", RK, "-t", "explode")
    assert bad_choice.returncode == 2 and "invalid choice" in bad_choice.stderr
    bad_field = pd_send("--db", str(db), "-k", RK, "-t", "trigger", "-d", "x", "-f", "novalue")
    assert bad_field.returncode == 2 and "KEY=VALUE" in bad_field.stderr


def test_json_event_from_stdin_and_change_event(tmp_path: Path) -> None:
    db = str(tmp_path / "pb.db")
    event = {
        "routing_key": RK,
        "event_action": "trigger",
        "payload": {"summary": "from json", "source": "s", "severity": "info"},
    }
    proc = pd_send("--db", db, "--json", "-", "-i", "j-1", stdin=json.dumps(event))
    assert proc.returncode == 0 and proc.stdout.strip() == "j-1"
    change = pd_send("--db", db, "--change", "-k", RK, "-d", "deployed v2", "--link", "https://ci")
    assert change.returncode == 0, change.stderr
    first, second = rows(Path(db))
    assert first["payload"]["payload"]["summary"] == "from json"
    assert second["kind"] == "change_event"
    assert second["payload"]["payload"]["summary"] == "deployed v2"
    broken = pd_send("--db", db, "--json", "-", stdin="{not json")
    assert broken.returncode == 2 and "not valid JSON" in broken.stderr


def test_fresh_machine_creates_database_and_schema(tmp_path: Path) -> None:
    data = tmp_path / "no" / "such" / "dir"
    proc = pd_send(
        "-k", RK, "-t", "trigger", "-d", "first ever", env={"PAGERBRIDGE_DATA_DIR": str(data)}
    )
    assert proc.returncode == 0, proc.stderr
    db = data / "pagerbridge.db"
    assert db.exists() and oct(db.stat().st_mode & 0o777) == "0o600"
    assert [r["payload"]["payload"]["summary"] for r in rows(db)] == ["first ever"]
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other = tmp_path / "env.db"
    by_env = pd_send(
        "-k",
        RK,
        "-t",
        "trigger",
        "-d",
        "env",
        env={"PAGERBRIDGE_DATABASE_URL": f"sqlite:///{other}"},
    )
    assert by_env.returncode == 0 and len(rows(other)) == 1


def test_queue_full_exits_3(tmp_path: Path) -> None:
    db = str(tmp_path / "pb.db")
    assert (
        pd_send("--db", db, "-k", RK, "-t", "trigger", "-d", "1", "--max-queue", "1").returncode
        == 0
    )
    full = pd_send(
        "--db", db, "-k", RK, "-t", "trigger", "-d", "2", env={"PAGERBRIDGE_MAX_QUEUE": "1"}
    )
    assert full.returncode == 3 and "maximum of 1" in full.stderr
    assert len(rows(Path(db))) == 1


def _without_file_permission_override() -> list[str]:
    """Run as root but without CAP_DAC_OVERRIDE: file modes apply, as for another user."""
    return ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--"]


def _read_only_db(tmp_path: Path) -> Path:
    db = tmp_path / "ro" / "pb.db"
    assert pd_send("--db", str(db), "-k", RK, "-t", "trigger", "-d", "mine", "-q").returncode == 0
    for f in db.parent.iterdir():
        f.chmod(0o400)
    db.parent.chmod(0o500)
    return db


def test_unwritable_database_hands_the_event_to_the_agent(tmp_path: Path, sqlite_url: str) -> None:
    from pagerbridge.agent.testing import NOWHERE, running_agent

    db = _read_only_db(tmp_path)
    try:
        with running_agent(database_url=sqlite_url, events_url=NOWHERE) as agent:
            proc = subprocess.run(
                [*_without_file_permission_override(), *PD_SEND, "--db", str(db), "-k", RK,
                 "-t", "trigger", "-d", "via agent", "-i", "fb-1", "--agent-url", agent.url],
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert proc.returncode == 0, proc.stderr
            assert proc.stdout.strip() == "fb-1"
            stored = agent.call(lambda: agent.agent.outbox.list_rows())
        assert [r.dedup_key for r in stored] == ["fb-1"]
        assert stored[0].payload_json()["payload"]["summary"] == "via agent"
    finally:
        db.parent.chmod(0o700)
    assert [r["dedup_key"] for r in rows(db)] != ["fb-1"]  # it did not go into the read-only db


def test_unwritable_database_and_no_agent_exits_4(tmp_path: Path) -> None:
    db = _read_only_db(tmp_path)
    try:
        proc = subprocess.run(
            [*_without_file_permission_override(), *PD_SEND, "--db", str(db), "-k", RK,
             "-t", "trigger", "-d", "lost?", "--agent-url", "http://127.0.0.1:9"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
    finally:
        db.parent.chmod(0o700)
    assert proc.returncode == 4
    assert "cannot store the event" in proc.stderr and "not reachable" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_disk_full_exits_4_and_loses_nothing_already_stored(tmp_path: Path) -> None:
    db = tmp_path / "pb.db"
    big = "x" * 2000
    for i in range(3):
        assert (
            pd_send("--db", str(db), "-k", RK, "-t", "trigger", "-d", f"kept {i}", "-q").returncode
            == 0
        )
    limit = db.stat().st_size  # no file may grow past the database's current size

    def tiny_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of being killed
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    failures = 0
    for i in range(8):  # the WAL grows with each event until it hits the limit
        pad = f"pad={big}{i}"
        proc = pd_send("--db", str(db), "-k", RK, "-t", "trigger", "-d", "big", "-f", pad,
                       preexec_fn=tiny_disk)  # fmt: skip
        assert proc.returncode in (0, 4), proc.stderr
        if proc.returncode == 4:
            failures += 1
            assert "cannot store the event" in proc.stderr and "Traceback" not in proc.stderr
    assert failures > 0
    summaries = [r["payload"]["payload"]["summary"] for r in rows(db)]
    assert summaries[:3] == ["kept 0", "kept 1", "kept 2"]


def test_postgresql_url(postgres_url: str) -> None:
    proc = pd_send("--db", postgres_url, "-k", RK, "-t", "trigger", "-d", "pg", "-i", "pg-1")
    assert proc.returncode == 0, proc.stderr
    outbox = open_outbox(postgres_url)
    try:
        assert [r.dedup_key for r in outbox.list_rows()] == ["pg-1"]
    finally:
        outbox.close()


def test_only_the_standard_library_is_imported(tmp_path: Path) -> None:
    """Nothing heavy, and not even pathlib or urllib: they cost ~4 ms of a ~27 ms budget; nor
    argparse (with gettext and locale, ~9 ms): the usual command lines take the lean parser; nor
    typing (~3 ms) or json, re and enum (~5 ms)."""
    code = (
        "import sys; from pagerbridge.cli.pd_send import main; "
        f"main(['--db', {str(tmp_path / 'pb.db')!r}, '-k', {RK!r}, '-t', 'trigger', '-d', 'x']); "
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'sqlalchemy', 'aiohttp', 'yaml', 'typer', 'rich', 'psycopg', 'asyncio', "
        "'pathlib', 'urllib', 'argparse', 'gettext', 'locale', 'typing', 'json', 're', 'enum'}); "
        "print(','.join(heavy))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    dedup_key, heavy = proc.stdout.split("\n", 1)
    assert len(dedup_key) == 32 and heavy.strip() == ""
