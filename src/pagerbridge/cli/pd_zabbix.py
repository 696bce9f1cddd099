"""``pd-zabbix``: pdagent-integrations' Zabbix alert script, as a drop-in.

Zabbix calls it with three arguments (its media type's ``{ALERT.SENDTO}``, ``{ALERT.SUBJECT}``,
``{ALERT.MESSAGE}``): the integration key, ``trigger`` or ``resolve``, and a body of
``key:value`` lines (a line without a colon continues the previous value). The event is the one
pdagent built — incident key ``<id>-<hostname>`` unless the body gives ``incident_key``,
description ``<name> : <status> for <hostname>``, every pair in the details, ``url`` as the
client URL — and is stored as ``pd-send`` does. A ``trigger`` whose ``NOTE`` says "Escalation
cancelled" (Zabbix disabled the host, trigger or action) resolves the alert instead: nothing will
clear it otherwise. See docs/sources/zabbix.md.
"""

from __future__ import annotations

from pagerbridge.cli import pd_integrations
from pagerbridge.cli.pd_send import run_main

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

PROG = "pd-zabbix"
SUBJECTS = ("trigger", "acknowledge", "resolve")
#: Needed for the description; ``id`` too unless the body names its ``incident_key``.
REQUIRED = ("name", "status", "hostname")
CANCELLED = "Escalation cancelled"
#: Zabbix trigger severities → Events API v2 severities.
SEVERITY = {
    "disaster": "critical",
    "high": "error",
    "average": "warning",
    "warning": "warning",
    "information": "info",
}


def build_parser() -> argparse.ArgumentParser:
    parser = pd_integrations.build_parser(
        PROG,
        "Queue a PagerDuty event from a Zabbix alert (pdagent-integrations' pd-zabbix command "
        "line: KEY SUBJECT MESSAGE).\n\nMESSAGE is key:value lines, for example:\n"
        "  name:{TRIGGER.NAME}\n  id:{TRIGGER.ID}\n  status:{TRIGGER.STATUS}\n"
        "  hostname:{HOSTNAME}\n  ip:{IPADDRESS}\n  value:{TRIGGER.VALUE}\n"
        "  event_id:{EVENT.ID}\n  severity:{TRIGGER.SEVERITY}\n"
        "  url:{TRIGGER.URL}          (optional: the alert's client URL)\n"
        "  incident_key:...           (optional: replaces <id>-<hostname>)",
    )
    # Optional to argparse, checked in main: an unknown option is then named before them.
    parser.add_argument("service_key", metavar="KEY", nargs="?", help="the integration's key")
    parser.add_argument("subject", metavar="SUBJECT", nargs="?", help="trigger or resolve")
    parser.add_argument("message", metavar="MESSAGE", nargs="?", help="the key:value body")
    return parser


def parse_body(body: str) -> dict[str, str]:
    """``key:value`` lines; a line without a colon (or a blank one) continues the previous value,
    so a multi-line ``NOTE`` or trigger description stays whole."""
    pairs: dict[str, str] = {}
    last: str | None = None
    for line in body.strip().splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            last = key.strip()
            pairs[last] = value.strip()
        elif last is not None:
            pairs[last] = (pairs[last] + "\n" + line.strip()).strip()
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = pd_integrations.parse(parser, argv)
    missing = [
        name for name, value in (("KEY", args.service_key), ("SUBJECT", args.subject)) if not value
    ]
    if args.message is None:
        missing.append("MESSAGE")
    if missing:
        parser.error(f"the following arguments are required: {', '.join(missing)}")
    subject = args.subject.strip().lower()
    if subject not in SUBJECTS:
        parser.error(f"SUBJECT {args.subject!r}: expected trigger or resolve")
    details = parse_body(args.message)
    needed = [*REQUIRED, *(() if details.get("incident_key") else ("id",))]
    absent = [name for name in needed if name not in details]
    if absent:
        parser.error(
            f"the message lacks {', '.join(absent)} (lines such as name:{{TRIGGER.NAME}}, "
            "id:{TRIGGER.ID}, status:{TRIGGER.STATUS}, hostname:{HOSTNAME})"
        )
    if subject == "trigger" and CANCELLED in details.get("NOTE", ""):
        subject = "resolve"
    v1: dict[str, Any] = {
        "service_key": args.service_key,
        "event_type": subject,
        "incident_key": details.get("incident_key") or f"{details['id']}-{details['hostname']}",
        "description": f"{details['name']} : {details['status']} for {details['hostname']}",
        "details": details,
    }
    if details.get("url"):
        v1["client"] = "Zabbix"
        v1["client_url"] = details["url"]
    severity = SEVERITY.get(details.get("severity", "").strip().lower())
    return pd_integrations.submit(v1, args, severity=severity)


def run() -> None:
    """Console entry point (``pd-zabbix``)."""
    run_main(main)
