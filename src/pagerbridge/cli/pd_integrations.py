"""What ``pd-nagios``, ``pd-zabbix`` and ``pd-sensu`` share: pdagent-integrations' command lines
made into Events API v1 events, converted once (:mod:`pagerbridge.agent.events_v1`) and stored
by ``pd-send``'s own path (:func:`pagerbridge.cli.pd_send.store`).

Why: Nagios, Icinga, Zabbix and Sensu installations already call pdagent's scripts; changing
only the path in their configuration must keep them paging. Like ``pd-send``, the event is
fsynced into the outbox of ``--db`` / ``$PAGERBRIDGE_DATABASE_URL`` (no agent needs to run), or
handed to the local agent when this user cannot write that database; the exit codes are
pd-send's (pdagent's). Standard library only on the way (argparse included: these commands are
not pd-send's hot loop).
"""

from __future__ import annotations

import os
import sys

from pagerbridge import __version__
from pagerbridge.agent.events_v1 import to_v2, v1_errors
from pagerbridge.cli import exits, pd_send
from pagerbridge.cli.pd_send_fast import AGENT_URL_ENV, DEFAULT_AGENT_URL, MAX_QUEUE_ENV

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any, NoReturn

#: What pdagent-integrations printed after queueing; scripts and logs grep for it.
PROCESSED = "Event processed. Incident Key: {key}"


def fail_usage(prog: str, message: str) -> NoReturn:
    """A usage error in the shared style: ``error: …``, ``hint: …``, exit 2."""
    pd_send._fail(exits.USAGE, message, hint=f"'{prog} --help' lists the options")


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argparse parser in the shared style (errors, ``--version``, the exit-code table), with
    the storage options every drop-in takes besides pdagent's own."""
    import argparse

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            fail_usage(prog, message)

    parser = _Parser(
        prog=prog,
        description=description,
        epilog=exits.epilog(prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"{prog} {__version__}", help="print the version"
    )
    storage = parser.add_argument_group("where the event is stored (as pd-send does)")
    storage.add_argument(
        "--db",
        metavar="URL",
        help="database URL or SQLite path (default: $PAGERBRIDGE_DATABASE_URL, "
        "else pagerbridge's default database)",
    )
    storage.add_argument(
        "--agent-url",
        metavar="URL",
        default=os.environ.get(AGENT_URL_ENV, DEFAULT_AGENT_URL),
        help=f"local agent used when the database is not writable (${AGENT_URL_ENV}, "
        f"default {DEFAULT_AGENT_URL})",
    )
    storage.add_argument(
        "--max-queue",
        metavar="N",
        type=int,
        help=f"refuse when this many events are pending (${MAX_QUEUE_ENV})",
    )
    return parser


def submit(
    v1_event: dict[str, Any],
    args: argparse.Namespace,
    *,
    severity: str | None = None,
    source: str | None = None,
) -> int:
    """Convert the v1 event, store it as ``pd-send`` does and print pdagent's line."""
    event = to_v2(v1_event, default_source=source or os.uname().nodename, severity=severity)
    key = pd_send.store(
        event,
        change=False,
        db=args.db,
        agent_url=args.agent_url,
        max_queue=args.max_queue,
        explain=v1_errors,
    )
    print(PROCESSED.format(key=key or v1_event.get("incident_key") or ""))
    return exits.OK


def skip(message: str) -> int:
    """Exit 0 without queueing anything, saying why (a notification that does not page)."""
    print(f"Event not sent: {message}")
    return exits.OK


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """``parser.parse_args``, except that an unknown option is named before missing ones
    (argparse reports "the following arguments are required" first, which hides a typo)."""
    line = list(sys.argv[1:] if argv is None else argv)
    required = [action for action in parser._actions if action.required]
    for action in required:
        action.required = False
    try:
        _, extras = parser.parse_known_args(line)
    finally:
        for action in required:
            action.required = True
    if extras:
        parser.error(f"unrecognized arguments: {' '.join(extras)}")
    return parser.parse_args(line)
