"""``pd-zabbix`` and ``pd-sensu`` as real processes, with pdagent-integrations' command lines:
the rows they store (as ``pd-send`` does), pdagent's printed line, and their usage errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from pagerbridge.outbox import open_outbox

BIN = Path(sys.executable).parent
KEY = "0123456789abcdef0123456789abcdef"
#: The message of pdagent-integrations' Zabbix media type, with Zabbix's macros substituted.
ZABBIX_BODY = """name:Free disk space is less than 5% on volume /
id:13502
status:PROBLEM
hostname:db-1
ip:10.0.0.5
value:1
event_id:4711
severity:Disaster
url:https://zabbix.example.com/tr_events.php?triggerid=13502
"""
SENSU_RESULT = {
    "id": "ef6b87d2-1f89-439f-8bea-33881436ab90",
    "action": "create",
    "occurrences": 1,
    "client": {"name": "i-424242", "address": "8.8.8.8"},
    "check": {"name": "frontend_http_check", "output": "HTTP CRITICAL: 500", "status": 2},
}


def run(tool: str, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    env["PAGERBRIDGE_AGENT_URL"] = "http://127.0.0.1:9"  # nothing listens: no silent fallback
    return subprocess.run(
        [str(BIN / tool), *args], capture_output=True, text=True, env=env, input=stdin, timeout=30
    )


def events(db: Path) -> list[dict[str, Any]]:
    outbox = open_outbox(f"sqlite:///{db}")
    try:
        return [json.loads(row.payload) for row in outbox.list_rows()]
    finally:
        outbox.close()


def test_zabbix_trigger_resolve_and_escalation_cancelled(tmp_path: Path) -> None:
    db = tmp_path / "pb.db"
    trigger = run("pd-zabbix", "--db", str(db), KEY, "trigger", ZABBIX_BODY)
    assert (trigger.returncode, trigger.stdout) == (
        0,
        "Event processed. Incident Key: 13502-db-1\n",
    ), trigger.stderr
    resolve = run("pd-zabbix", "--db", str(db), KEY, "resolve",
                  ZABBIX_BODY.replace("PROBLEM", "OK"))  # fmt: skip
    assert resolve.returncode == 0, resolve.stderr
    cancelled = ZABBIX_BODY.replace("id:13502", "id:99") + (
        "NOTE: Escalation cancelled: Action 'Page ops' disabled.\nsecond line of the note"
    )
    assert run("pd-zabbix", "--db", str(db), KEY, "trigger", cancelled).returncode == 0
    first, second, third = events(db)
    assert first["event_action"] == "trigger" and first["dedup_key"] == "13502-db-1"
    payload = first["payload"]
    assert payload["summary"] == "Free disk space is less than 5% on volume / : PROBLEM for db-1"
    assert (payload["source"], payload["severity"]) == ("db-1", "critical")
    assert payload["custom_details"]["event_id"] == "4711"
    assert first["client"] == "Zabbix"
    assert first["client_url"] == "https://zabbix.example.com/tr_events.php?triggerid=13502"
    assert (second["event_action"], second["dedup_key"]) == ("resolve", "13502-db-1")
    assert (third["event_action"], third["dedup_key"]) == ("resolve", "99-db-1")


def test_zabbix_usage_errors_name_what_is_missing(tmp_path: Path) -> None:
    db = str(tmp_path / "pb.db")
    none = run("pd-zabbix", "--db", db)
    assert none.returncode == 2 and none.stderr.startswith(
        "error: the following arguments are required: KEY, SUBJECT, MESSAGE"
    )
    lacking = run("pd-zabbix", "--db", db, KEY, "trigger", "name:x\nstatus:PROBLEM")
    assert lacking.returncode == 2 and "lacks hostname, id" in lacking.stderr
    keyed = run("pd-zabbix", "--db", db, KEY, "trigger",
                "name:x\nstatus:PROBLEM\nhostname:h\nincident_key:mine")  # fmt: skip
    assert keyed.stdout == "Event processed. Incident Key: mine\n", keyed.stderr


def test_sensu_create_resolve_and_refusals(tmp_path: Path) -> None:
    db = tmp_path / "pb.db"
    create = run("pd-sensu", "--db", str(db), "-k", KEY, stdin=json.dumps(SENSU_RESULT))
    assert create.stdout == "Event processed. Incident Key: i-424242/frontend_http_check\n"
    resolved = {**SENSU_RESULT, "action": "resolve"}
    assert run("pd-sensu", "--db", str(db), "-k", KEY, stdin=json.dumps(resolved)).returncode == 0
    bare = {"id": "abc", "action": "create", "check": {"output": "boom"}}
    given = run("pd-sensu", "--db", str(db), "-k", KEY, stdin=json.dumps(bare))
    assert given.stdout == "Event processed. Incident Key: abc\n", given.stderr
    flapping = run("pd-sensu", "--db", str(db), "-k", KEY,
                   stdin=json.dumps({**SENSU_RESULT, "action": "flapping"}))  # fmt: skip
    assert flapping.returncode == 2 and "'flapping'" in flapping.stderr
    garbage = run("pd-sensu", "--db", str(db), "-k", KEY, stdin="{oops")
    assert garbage.returncode == 2 and "not valid JSON" in garbage.stderr
    trigger, resolve, by_id = events(db)
    assert trigger["payload"]["summary"] == "i-424242/frontend_http_check : HTTP CRITICAL: 500"
    assert trigger["payload"]["custom_details"] == SENSU_RESULT
    assert (trigger["payload"]["source"], trigger["payload"]["severity"]) == (
        "i-424242",
        "critical",
    )
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", trigger["dedup_key"])
    assert by_id["payload"]["summary"] == "abc : boom"
