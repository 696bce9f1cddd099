"""``pd-sensu``: pdagent-integrations' Sensu handler, as a drop-in.

Sensu pipes one check result (JSON) to ``pd-sensu -k KEY [-i KEY]``. Its ``action`` gives the
event type (``create`` → trigger, ``resolve`` → resolve; any other is refused, exit 2, rather
than paging on something unknown); the incident key is ``<client.name>/<check.name>`` when both
exist, else the result's ``id``; the description is pdagent's ``<incident key> : <check.output>``;
the whole result goes into the details. Stored as ``pd-send`` does. See docs/sources/sensu.md.
"""

from __future__ import annotations

import sys

from pagerbridge.cli import pd_integrations
from pagerbridge.cli.pd_send import run_main

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

PROG = "pd-sensu"
ACTIONS = {"create": "trigger", "resolve": "resolve"}
#: Sensu check statuses → Events API v2 severities (3 and above: unknown, the default).
SEVERITY = {2: "critical", 1: "warning"}


def build_parser() -> argparse.ArgumentParser:
    parser = pd_integrations.build_parser(
        PROG,
        "Queue a PagerDuty event from a Sensu check result read on standard input "
        "(pdagent-integrations' pd-sensu command line).",
    )
    parser.add_argument(
        "-k", "--integration-key", dest="integration_key", required=True, metavar="KEY",
        help="the integration's key",
    )  # fmt: skip
    parser.add_argument(
        "-i", "--incident-key", dest="incident_key", metavar="KEY",
        help="incident (dedup) key; default <client>/<check>, else the result's id",
    )  # fmt: skip
    return parser


def _name(result: dict[str, Any], part: str) -> str | None:
    section = result.get(part)
    name = section.get("name") if isinstance(section, dict) else None
    return name if isinstance(name, str) and name else None


def incident_key(result: dict[str, Any]) -> str | None:
    """pdagent's: ``<client.name>/<check.name>``, else the result's ``id``."""
    client, check = _name(result, "client"), _name(result, "check")
    if client and check:
        return f"{client}/{check}"
    found = result.get("id")
    return str(found) if isinstance(found, str | int) and str(found) else None


def main(argv: Sequence[str] | None = None) -> int:
    import json

    parser = build_parser()
    args = pd_integrations.parse(parser, argv)
    text = sys.stdin.read()
    try:
        result = json.loads(text)
    except (ValueError, RecursionError) as exc:
        parser.error(f"standard input is not a Sensu check result: not valid JSON ({exc})")
    if not isinstance(result, dict):
        parser.error("standard input is not a Sensu check result: not a JSON object")
    action = result.get("action")
    if action not in ACTIONS:
        parser.error(
            f"the check result's action is {action!r}: pd-sensu sends create (trigger) and "
            "resolve (resolve) only"
        )
    key = args.incident_key or incident_key(result)
    if not key:
        parser.error("the check result has neither client.name and check.name nor an id: give -i")
    check = result.get("check")
    output = check.get("output") if isinstance(check, dict) else None
    status = check.get("status") if isinstance(check, dict) else None
    v1 = {
        "service_key": args.integration_key,
        "event_type": ACTIONS[action],
        "incident_key": key,
        "description": f"{key} : {output}" if isinstance(output, str) else key,
        "details": result,
    }
    severity = SEVERITY.get(status) if isinstance(status, int) else None
    return pd_integrations.submit(v1, args, severity=severity, source=_name(result, "client"))


def run() -> None:
    """Console entry point (``pd-sensu``)."""
    run_main(main)
