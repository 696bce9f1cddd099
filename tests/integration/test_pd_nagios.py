"""``pd-nagios`` driven by Debian's real Nagios 4: one host and one service whose check script the
test controls, a contact whose pager is the routing key and whose notification command is
``pagerduty_nagios.cfg``'s, with only the path changed. PROBLEM, ACKNOWLEDGEMENT and RECOVERY
reach the sandbox through a real agent delivering from the database pd-nagios writes."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pagerbridge.agent.testing import AgentHandle, running_agent
from pagerbridge.outbox import open_outbox
from pagerbridge.sandbox.testing import SandboxHandle, running_sandbox
from servers.waiting import wait_for

NAGIOS = shutil.which("nagios4") or "/usr/sbin/nagios4"
BIN = Path(sys.executable).parent
KEY = "deadbeefdeadbeefdeadbeefdeadbeef"  # the sandbox's demo routing key
UNLIMITED = {"listen": "127.0.0.1:0", "delivery": {"rate_limit_per_minute": 0}}
SERVICE_KEY = "event_source=service;host_name=web-1;service_desc=Disk"

#: pagerduty_nagios.cfg's command lines (pdagent-integrations), only the path changed.
SERVICE_COMMAND = (
    '{bin}/pd-nagios -n service -k $CONTACTPAGER$ -t "$NOTIFICATIONTYPE$" '
    '-f SERVICEDESC="$SERVICEDESC$" -f SERVICESTATE="$SERVICESTATE$" -f HOSTNAME="$HOSTNAME$" '
    '-f HOSTDISPLAYNAME="$HOSTDISPLAYNAME$" -f SERVICEDISPLAYNAME="$SERVICEDISPLAYNAME$" '
    '-f SERVICEPROBLEMID="$SERVICEPROBLEMID$" -f SERVICEOUTPUT="$SERVICEOUTPUT$"'
)
HOST_COMMAND = (
    "{bin}/pd-nagios -n host -k $CONTACTPAGER$ -t \"$NOTIFICATIONTYPE$\" "
    "-f HOSTNAME=\"$HOSTNAME$\" -f HOSTSTATE=\"$HOSTSTATE$\" "
    "-f HOSTDISPLAYNAME=\"$HOSTDISPLAYNAME$\" -f HOSTPROBLEMID=\"$HOSTPROBLEMID$\""
)  # fmt: skip

OBJECTS = """
define timeperiod {{
  timeperiod_name 24x7
  alias 24x7
  sunday 00:00-24:00
  monday 00:00-24:00
  tuesday 00:00-24:00
  wednesday 00:00-24:00
  thursday 00:00-24:00
  friday 00:00-24:00
  saturday 00:00-24:00
}}
define command {{
  command_name check_state
  command_line {dir}/check.sh
}}
define command {{
  command_name check_up
  command_line /bin/true
}}
define command {{
  command_name notify-service-by-pagerduty
  command_line {service_command}
}}
define command {{
  command_name notify-host-by-pagerduty
  command_line {host_command}
}}
define contact {{
  contact_name pagerduty
  alias PagerDuty Pseudo-Contact
  service_notification_period 24x7
  host_notification_period 24x7
  service_notification_options w,u,c,r
  host_notification_options d,r
  service_notification_commands notify-service-by-pagerduty
  host_notification_commands notify-host-by-pagerduty
  pager {key}
}}
define host {{
  host_name web-1
  alias web-1
  address 127.0.0.1
  check_command check_up
  max_check_attempts 1
  check_interval 300
  check_period 24x7
  contacts pagerduty
  notification_interval 0
  notification_period 24x7
}}
define service {{
  host_name web-1
  service_description Disk
  check_command check_state
  max_check_attempts 1
  check_interval 1
  retry_interval 1
  check_period 24x7
  contacts pagerduty
  notification_interval 0
  notification_period 24x7
}}
"""

MAIN = """
log_file={dir}/nagios.log
cfg_file={dir}/objects.cfg
object_cache_file={dir}/objects.cache
precached_object_file={dir}/objects.precache
status_file={dir}/status.dat
status_update_interval=1
nagios_user={user}
nagios_group={group}
check_external_commands=1
command_file={dir}/nagios.cmd
lock_file={dir}/nagios.lock
temp_file={dir}/nagios.tmp
temp_path={dir}
check_result_path={dir}/checkresults
retain_state_information=0
state_retention_file={dir}/retention.dat
interval_length=1
check_result_reaper_frequency=1
check_workers=1
enable_notifications=1
enable_flap_detection=0
log_archive_path={dir}
use_syslog=0
query_socket={dir}/nagios.qh
illegal_macro_output_chars=`~$&|'"<>
"""


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[AgentHandle, SandboxHandle, str]]:
    """The sandbox, and an agent delivering from the database pd-nagios writes."""
    db = f"sqlite:///{tmp_path_factory.mktemp('nagios-db') / 'pagerbridge.db'}"
    with (
        running_sandbox(rate_limits=False) as sandbox,
        running_agent(database_url=db, events_url=sandbox.url, config=UNLIMITED) as agent,
    ):
        yield agent, sandbox, db


def incident(sandbox: SandboxHandle, key: str) -> dict[str, Any] | None:
    status, body = sandbox.rest(
        "GET", "/incidents?statuses[]=triggered&statuses[]=acknowledged&statuses[]=resolved"
    )
    assert status == 200, body
    found = [i for i in body["incidents"] if i["incident_key"] == key]
    return found[0] if found else None


def status_of(sandbox: SandboxHandle, key: str) -> str | None:
    found = incident(sandbox, key)
    return found["status"] if found else None


def nagios_config(where: Path) -> Path:
    import grp
    import pwd

    (where / "checkresults").mkdir()
    check = where / "check.sh"
    check.write_text(f'#!/bin/sh\ncat "{where}/output"\nexit "$(cat "{where}/code")"\n')
    check.chmod(0o755)
    commands = {"service_command": SERVICE_COMMAND, "host_command": HOST_COMMAND}
    (where / "objects.cfg").write_text(
        OBJECTS.format(dir=where, key=KEY, **{k: v.format(bin=BIN) for k, v in commands.items()})
    )
    main = where / "nagios.cfg"
    main.write_text(
        MAIN.format(
            dir=where,
            user=pwd.getpwuid(os.getuid()).pw_name,
            group=grp.getgrgid(os.getgid()).gr_name,
        )
    )
    return main


def set_check(where: Path, code: int, output: str) -> None:
    (where / "output").write_text(output + "\n")
    (where / "code").write_text(f"{code}\n")


def external(where: Path, command: str) -> None:
    """Nagios's external command file (a FIFO it reads), as its CGIs and scripts write it."""
    import time

    with open(where / "nagios.cmd", "w") as fifo:
        fifo.write(f"[{int(time.time())}] {command}\n")


def test_real_nagios_problem_acknowledgement_recovery(
    live: tuple[AgentHandle, SandboxHandle, str], tmp_path: Path
) -> None:
    _, sandbox, db = live
    config = nagios_config(tmp_path)
    set_check(tmp_path, 2, "DISK CRITICAL - free space: / 3% (inode=80%)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    env["PAGERBRIDGE_DATABASE_URL"] = db  # what pd-nagios reads: the command line stays pdagent's
    nagios = subprocess.Popen(
        [NAGIOS, str(config)], cwd=tmp_path, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log = tmp_path / "nagios.log"
    try:
        wait_for(lambda: status_of(sandbox, SERVICE_KEY) == "triggered", "PROBLEM → trigger")
        external(tmp_path, "ACKNOWLEDGE_SVC_PROBLEM;web-1;Disk;1;1;0;alice;on it")
        wait_for(lambda: status_of(sandbox, SERVICE_KEY) == "acknowledged", "ACK → acknowledge")
        set_check(tmp_path, 0, "DISK OK - free space: / 40%")
        wait_for(lambda: status_of(sandbox, SERVICE_KEY) == "resolved", "RECOVERY → resolve")
    finally:
        nagios.terminate()
        nagios.wait(timeout=10)
    notes = [line for line in log.read_text().splitlines() if "SERVICE NOTIFICATION" in line]
    assert len(notes) == 3, notes  # what Nagios ran: exactly these three notifications
    arrivals = [a for a in sandbox.arrivals() if a["dedup_key"] == SERVICE_KEY]
    assert [a["event_action"] for a in arrivals] == ["trigger", "acknowledge", "resolve"]
    assert arrivals[0]["summary"] == "SERVICEDESC=Disk; SERVICESTATE=CRITICAL; HOSTNAME=web-1"
    found = incident(sandbox, SERVICE_KEY)
    assert found is not None
    _, alerts = sandbox.rest("GET", f"/incidents/{found['id']}/alerts")
    alert = alerts["alerts"][0]
    assert alert["severity"] == "critical"
    assert alert["body"]["cef_details"]["source_origin"] == "web-1"
    details = alert["body"]["details"]
    assert details["pd_nagios_object"] == "service"
    assert details["SERVICEOUTPUT"] == "DISK CRITICAL - free space: / 3% (inode=80%)"
    assert details["SERVICEPROBLEMID"] and details["HOSTDISPLAYNAME"] == "web-1"


def pd_nagios(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    base["PAGERBRIDGE_AGENT_URL"] = "http://127.0.0.1:9"  # nothing listens: no silent fallback
    return subprocess.run(
        [str(BIN / "pd-nagios"), *args],
        capture_output=True, text=True, env={**base, **env}, timeout=30,
    )  # fmt: skip


def host_line(kind: str, state: str) -> list[str]:
    """The host command line as Nagios runs it (macros substituted, then split by its shell)."""
    line = HOST_COMMAND.format(bin=BIN)
    for macro, value in (
        ("CONTACTPAGER", KEY), ("NOTIFICATIONTYPE", kind), ("HOSTNAME", "db-1"),
        ("HOSTSTATE", state), ("HOSTDISPLAYNAME", "db-1"), ("HOSTPROBLEMID", "7"),
    ):  # fmt: skip
        line = line.replace(f"${macro}$", value)
    return ["sh", "-c", line]


def test_host_notifications_and_nagios_other_types(
    live: tuple[AgentHandle, SandboxHandle, str],
) -> None:
    _, sandbox, db = live
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGERBRIDGE_")}
    env["PAGERBRIDGE_DATABASE_URL"] = db
    in_db = {"PAGERBRIDGE_DATABASE_URL": db}
    problem = subprocess.run(host_line("PROBLEM", "DOWN"), capture_output=True, text=True, env=env)
    assert problem.returncode == 0, problem.stderr
    assert problem.stdout == "Event processed. Incident Key: event_source=host;host_name=db-1\n"
    host_key = "event_source=host;host_name=db-1"
    host = ("-n", "host", "-k", KEY, "-f", "HOSTNAME=db-1")
    downtime = pd_nagios(*host, "-t", "DOWNTIMESTART", "-f", "HOSTSTATE=DOWN", **in_db)
    assert downtime.returncode == 0 and downtime.stdout.startswith("Event not sent: ")
    flap = pd_nagios(*host, "-t", "FLAPPINGSTOP", "-f", "HOSTSTATE=UP", **in_db)
    assert flap.returncode == 0, flap.stderr
    wait_for(lambda: status_of(sandbox, host_key) == "resolved", "FLAPPINGSTOP while UP → resolve")
    actions = [a["event_action"] for a in sandbox.arrivals() if a["dedup_key"] == host_key]
    assert actions == ["trigger", "resolve"]  # PROBLEM, then FLAPPINGSTOP; DOWNTIMESTART: nothing


def test_pdagent_rules_for_fields_keys_and_types(tmp_path: Path) -> None:
    db = str(tmp_path / "pb.db")
    missing = pd_nagios("--db", db, "-n", "service", "-k", KEY, "-t", "PROBLEM",
                        "-f", "HOSTNAME=web-1", "-f", "SERVICEDESC=Disk")  # fmt: skip
    assert missing.returncode == 2
    assert missing.stderr.startswith("error: missing fields for type 'service': SERVICESTATE")
    bad_type = pd_nagios("--db", db, "-n", "service", "-k", KEY, "-t", "problem")
    assert bad_type.returncode == 2 and "invalid choice: 'problem'" in bad_type.stderr
    short = pd_nagios("--db", db, "-n", "host", "-k", "abc", "-t", "PROBLEM",
                      "-f", "HOSTNAME=h", "-f", "HOSTSTATE=DOWN")  # fmt: skip
    assert short.returncode == 2
    assert "'service_key' is invalid (must be 32 characters, got 3)" in short.stderr
    given = pd_nagios("--db", db, "-n", "service", "-k", KEY, "-t", "FLAPPINGSTART", "-i", "my/key",
                      "-f", "HOSTNAME=h", "-f", "SERVICEDESC=s", "-f", "SERVICESTATE=WARNING",
                      "-f", "SERVICEOUTPUT=a=b")  # fmt: skip
    assert given.stdout == "Event processed. Incident Key: my/key\n", given.stderr
    # pagerduty-icinga2.conf's service command: -c NodeName -u https://NodeName/icingaweb2.
    icinga = pd_nagios("--db", db, "-n", "service", "-k", KEY, "-t", "PROBLEM", "-c", "node1",
                       "-u", "https://node1/icingaweb2", "-f", "SERVICEDESC=ping",
                       "-f", "HOSTNAME=h", "-f", "SERVICESTATE=Critical")  # fmt: skip
    assert icinga.returncode == 0, icinga.stderr
    outbox = open_outbox(f"sqlite:///{db}")
    try:
        row, icinga_row = outbox.list_rows()
    finally:
        outbox.close()
    import json

    from_icinga = json.loads(icinga_row.payload)
    assert (from_icinga["client"], from_icinga["client_url"]) == (
        "node1",
        "https://node1/icingaweb2",
    )
    assert from_icinga["payload"]["severity"] == "critical"
    event = json.loads(row.payload)
    assert event["event_action"] == "trigger" and event["dedup_key"] == "my/key"
    assert event["payload"]["severity"] == "warning"
    assert event["payload"]["custom_details"] == {
        "HOSTNAME": "h", "SERVICEDESC": "s", "SERVICESTATE": "WARNING", "SERVICEOUTPUT": "a=b",
        "pd_nagios_object": "service", "NOTIFICATIONTYPE": "FLAPPINGSTART",
    }  # fmt: skip


def test_an_unwritable_database_hands_the_event_to_the_agent(
    live: tuple[AgentHandle, SandboxHandle, str], tmp_path: Path
) -> None:
    agent, sandbox, _ = live
    (tmp_path / "afile").write_text("not a directory")
    proc = pd_nagios("--db", str(tmp_path / "afile" / "pb.db"), "-n", "host", "-k", KEY,
                     "-t", "PROBLEM", "-f", "HOSTNAME=edge-9", "-f", "HOSTSTATE=DOWN",
                     PAGERBRIDGE_AGENT_URL=agent.url)  # fmt: skip
    assert proc.stdout == "Event processed. Incident Key: event_source=host;host_name=edge-9\n"
    wait_for(lambda: status_of(sandbox, "event_source=host;host_name=edge-9"), "the handed event")
