"""``pd-nagios``: pdagent-integrations' Nagios/Icinga notification command, as a drop-in.

Takes exactly the command lines of ``pagerduty_nagios.cfg`` (``-n host|service -k KEY -t TYPE
-f KEY=VALUE … [-i KEY]``) and of ``pagerduty-icinga2.conf`` (which adds ``-c NODE -u URL``),
builds the event pdagent built (incident key, description, details with ``pd_nagios_object``)
and stores it as ``pd-send`` does; prints ``Event processed. Incident Key: …``. See
docs/sources/nagios.md.

Notification types: PROBLEM → trigger, ACKNOWLEDGEMENT → acknowledge, RECOVERY → resolve, as
pdagent did. The ones pdagent refused: FLAPPINGSTART and CUSTOM → trigger (the same alert: a
flapping check or an operator's custom notification should page); FLAPPINGSTOP,
FLAPPINGDISABLED (and Icinga 2's FLAPPINGEND) → resolve when the state is OK/UP, else trigger
(the problem remains); DOWNTIMESTART, DOWNTIMEEND and DOWNTIMECANCELLED → nothing is queued, a
line says so, exit 0 (downtime is not an incident; PagerDuty's maintenance windows are for it).
"""

from __future__ import annotations

from pagerbridge.cli import pd_integrations
from pagerbridge.cli.pd_send import run_main

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence

PROG = "pd-nagios"
HOST, SERVICE = "host", "service"
#: pdagent's three types and their event types.
EVENT_TYPES = {"PROBLEM": "trigger", "ACKNOWLEDGEMENT": "acknowledge", "RECOVERY": "resolve"}
#: Nagios's other notification types, and what pd-nagios does with them (module docstring).
PAGING = ("FLAPPINGSTART", "CUSTOM")
SETTLING = ("FLAPPINGSTOP", "FLAPPINGDISABLED", "FLAPPINGEND")  # FLAPPINGEND: Icinga 2
DOWNTIME = ("DOWNTIMESTART", "DOWNTIMEEND", "DOWNTIMECANCELLED")
REQUIRED = {
    HOST: ("HOSTNAME", "HOSTSTATE"),
    SERVICE: ("HOSTNAME", "SERVICEDESC", "SERVICESTATE"),
}
#: Nagios states → Events API v2 severities (a trigger's).
SEVERITY = {
    "CRITICAL": "critical",
    "DOWN": "critical",
    "WARNING": "warning",
    "UNKNOWN": "error",
    "UNREACHABLE": "error",
}
CLEAR_STATES = ("OK", "UP")


def build_parser() -> argparse.ArgumentParser:
    parser = pd_integrations.build_parser(
        PROG,
        "Queue a PagerDuty event from a Nagios or Icinga notification (pdagent-integrations' "
        "pd-nagios command line).",
    )
    parser.add_argument(
        "-k",
        "--service-key",
        dest="service_key",
        required=True,
        metavar="KEY",
        help="the integration's key (Nagios: $CONTACTPAGER$)",
    )
    parser.add_argument(
        "-t",
        "--event-type",
        dest="event_type",
        required=True,
        metavar="TYPE",
        choices=[*EVENT_TYPES, *PAGING, *SETTLING, *DOWNTIME],
        help="$NOTIFICATIONTYPE$: PROBLEM, ACKNOWLEDGEMENT or RECOVERY; also FLAPPINGSTART, "
        "FLAPPINGSTOP, FLAPPINGDISABLED, CUSTOM (sent) and DOWNTIMESTART, DOWNTIMEEND, "
        "DOWNTIMECANCELLED (not sent, exit 0)",
    )
    parser.add_argument(
        "-n",
        "--notification-type",
        dest="notification_type",
        required=True,
        choices=[SERVICE, HOST],
        help="what the notification is about: host or service",
    )
    parser.add_argument(
        "-i",
        "--incident-key",
        dest="incident_key",
        metavar="KEY",
        help="incident (dedup) key; default from the host and service",
    )
    parser.add_argument(
        "-c", "--client", metavar="NAME", help="the monitoring client's name (Icinga 2: NodeName)"
    )
    parser.add_argument(
        "-u",
        "--client-url",
        dest="client_url",
        metavar="URL",
        help="the monitoring client's URL (Icinga 2: its icingaweb2)",
    )
    parser.add_argument(
        "-f",
        "--field",
        dest="fields",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a detail (repeatable); see the required ones",
    )
    return parser


def incident_key(kind: str, fields: dict[str, str]) -> str:
    """pdagent's default incident key: one alert per host, or per host and service."""
    if kind == SERVICE:
        host, service = fields["HOSTNAME"], fields["SERVICEDESC"]
        return f"event_source=service;host_name={host};service_desc={service}"
    return f"event_source=host;host_name={fields['HOSTNAME']}"


def description(kind: str, fields: dict[str, str]) -> str:
    """pdagent's description: ``SERVICEDESC=…; SERVICESTATE=…; HOSTNAME=…`` or
    ``HOSTNAME=…; HOSTSTATE=…``."""
    return "; ".join(f"{name}={fields[name]}" for name in _ordered(kind))


def _ordered(kind: str) -> tuple[str, ...]:
    return ("SERVICEDESC", "SERVICESTATE", "HOSTNAME") if kind == SERVICE else REQUIRED[HOST]


def event_type(notification: str, state: str) -> str:
    """The v1 event type of a Nagios notification type (one of the parser's choices)."""
    if notification in EVENT_TYPES:
        return EVENT_TYPES[notification]
    if notification in SETTLING and state.upper() in CLEAR_STATES:
        return "resolve"
    return "trigger"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = pd_integrations.parse(parser, argv)
    fields: dict[str, str] = {}
    for item in args.fields:
        key, sep, value = item.partition("=")
        if not sep or not key:
            pd_integrations.fail_usage(PROG, f"-f {item!r}: expected KEY=VALUE")
        fields[key] = value
    kind = args.notification_type
    missing = [name for name in REQUIRED[kind] if name not in fields]
    if missing:
        pd_integrations.fail_usage(
            PROG,
            f"missing fields for type '{kind}': {', '.join(missing)} "
            f"({', '.join(REQUIRED[kind])} required; give each with -f NAME=VALUE)",
        )
    key = args.incident_key or incident_key(kind, fields)
    if args.event_type in DOWNTIME:
        return pd_integrations.skip(
            f"Nagios {args.event_type} notifications do not page (use a PagerDuty maintenance "
            f"window for planned work). Incident Key: {key}"
        )
    state = fields["SERVICESTATE" if kind == SERVICE else "HOSTSTATE"]
    details = {**fields, "pd_nagios_object": kind}
    if args.event_type not in EVENT_TYPES:  # a type pdagent refused: say which it was
        details["NOTIFICATIONTYPE"] = args.event_type
    v1 = {
        "service_key": args.service_key,
        "event_type": event_type(args.event_type, state),
        "incident_key": key,
        "description": description(kind, fields),
        "details": details,
        "client": args.client,
        "client_url": args.client_url,
    }
    return pd_integrations.submit(v1, args, severity=SEVERITY.get(state.upper()))


def run() -> None:
    """Console entry point (``pd-nagios``)."""
    run_main(main)
