"""``pd-send``: queue one PagerDuty event durably, with pdagent's flags and Events API v2's fields.

Launched once per event by monitoring systems, so start-up is the product: only the standard
library is imported on this path (SQLite through ``sqlite3``; a PostgreSQL URL loads psycopg).
The event is validated, stored in the outbox (fsynced) and its dedup key printed; the agent, when
it runs, delivers it. When this user cannot write the database, the event is handed to the local
agent over HTTP instead.

Exit codes: pdagent's, a documented exception to the shared table of :mod:`pagerbridge.cli.exits`
(0 stored, 2 invalid event or usage, 3 queue full, 4 cannot store), plus the table's 70 for a bug
and 130 for Ctrl-C. Errors are the shared style: ``error: …`` on one line, then ``hint: …``.
"""

from __future__ import annotations

import os
import sys
import time

from pagerbridge import __version__
from pagerbridge.cli import exits, pd_send_fast
from pagerbridge.cli.pd_send_fast import MAX_QUEUE_ENV, Args

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (~3 ms of start-up)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any, NoReturn

EXIT_OK = exits.OK
EXIT_INVALID = exits.USAGE
EXIT_QUEUE_FULL = 3  # pdagent's; the shared table's 3 is "not found"
EXIT_CANNOT_STORE = 4  # pdagent's; covers a database that is misconfigured, too

AGENT_TOKEN_ENV = "PAGERBRIDGE_AGENT_TOKEN"
AGENT_TIMEOUT = 10.0


def build_parser() -> argparse.ArgumentParser:
    """pd-send's full parser, for ``--help`` and usage errors, made from the option table of
    :mod:`pd_send_fast` (``OPTIONS``) that the lean parser reads too. argparse is imported here,
    off the path of the usual command lines."""
    import argparse

    class _Formatter(argparse.HelpFormatter):
        """argparse's formatter asks shutil for the terminal width (shutil pulls in zlib, bz2
        and lzma: ~2 ms); ``os.get_terminal_size`` answers the same question."""

        def __init__(self, prog: str) -> None:
            try:
                width = os.get_terminal_size(sys.stderr.fileno()).columns
            except (OSError, ValueError):
                width = int(os.environ.get("COLUMNS", "") or 80)
            super().__init__(prog, width=max(40, width - 2))

        def _fill_text(self, text: str, width: int, indent: str) -> str:
            return "".join(indent + line for line in text.splitlines(keepends=True))

    class _Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            _fail(EXIT_INVALID, message, hint="'pd-send --help' lists the options")

    p = _Parser(
        prog="pd-send",
        formatter_class=_Formatter,
        description="Queue a PagerDuty event (Events API v2) durably; the agent delivers it.",
        epilog=exits.epilog("pd-send"),
    )
    p.add_argument(
        "--version", action="version", version=f"pd-send {__version__}", help="print the version"
    )
    pd_send_fast.add_options(p)
    return p


def _fail(code: int, message: str, *details: str, hint: str | None = None) -> NoReturn:
    """The shared error style: ``error: message: detail; detail`` and an optional ``hint:``."""
    text = message.rstrip(":") + (": " + "; ".join(details) if details else "")
    print(f"error: {text}", file=sys.stderr)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    raise SystemExit(code)


def _pairs(values: Sequence[str], flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _fail(EXIT_INVALID, f"{flag} {item!r}: expected KEY=VALUE")
        out[key] = value
    return out


def _split(value: str, names: Sequence[str]) -> dict[str, str]:
    parts = value.split(",", len(names) - 1)
    return {name: part for name, part in zip(names, parts, strict=False) if part}


def _load_json(source: str) -> dict[str, Any]:
    import json  # here, not at the top: json imports re (with enum), ~5 ms of every run

    try:
        text = sys.stdin.read() if source == "-" else open(source, encoding="utf-8").read()  # noqa: SIM115
    except OSError as exc:
        _fail(EXIT_INVALID, f"cannot read --json {source}: {exc.strerror}")
    try:
        data = json.loads(text)
    except ValueError as exc:
        _fail(EXIT_INVALID, f"--json {source}: not valid JSON ({exc})")
    if not isinstance(data, dict):
        _fail(EXIT_INVALID, f"--json {source}: the event must be a JSON object")
    return data


def build_event(args: Args) -> dict[str, Any]:
    """The Events API v2 event (or change event) the flags describe."""
    event: dict[str, Any] = _load_json(args.json_file) if args.json_file else {}
    payload: dict[str, Any] = dict(event.get("payload") or {})
    if args.routing_key:
        event["routing_key"] = args.routing_key
    elif not args.json_file:
        _fail(EXIT_INVALID, "-k/--routing-key is required (the integration's 32-character key)")
    if not args.change:
        if args.action:
            event["event_action"] = args.action
        elif not args.json_file:
            _fail(EXIT_INVALID, "-t/--event-type is required (trigger, acknowledge or resolve)")
        if args.dedup_key:
            event["dedup_key"] = args.dedup_key
        if args.client:
            event["client"] = args.client
        if args.client_url:
            event["client_url"] = args.client_url
    elif args.action or args.dedup_key or args.client or args.client_url:
        _fail(EXIT_INVALID, "--change events take no -t, -i, -c or -u")
    if args.summary:
        payload["summary"] = args.summary
    is_trigger = args.change or event.get("event_action") == "trigger"
    if is_trigger:
        payload.setdefault("source", args.source or os.uname().nodename)
        if args.source:
            payload["source"] = args.source
        if not args.change:
            payload.setdefault("severity", "error")
            for flag, key in (
                ("severity", "severity"),
                ("component", "component"),
                ("group", "group"),
                ("class_", "class"),
            ):
                if getattr(args, flag):
                    payload[key] = getattr(args, flag)
        fields = _pairs(args.field, "-f")
        if fields:
            details = payload.get("custom_details")
            payload["custom_details"] = {**(details if isinstance(details, dict) else {}), **fields}
        event["payload"] = payload
    elif args.field or args.summary:
        _fail(EXIT_INVALID, "-d and -f only apply to trigger and change events")
    if args.link:
        event["links"] = [
            *event.get("links", []),
            *(_split(v, ["href", "text"]) for v in args.link),
        ]
    if args.image:
        event["images"] = [
            *event.get("images", []),
            *(_split(v, ["src", "href", "alt"]) for v in args.image),
        ]
    return event


def _max_queue(flag: int | None) -> int | None:
    if flag is not None:
        return int(flag)
    raw = os.environ.get(MAX_QUEUE_ENV)
    if raw:
        try:
            return int(raw)
        except ValueError:
            _fail(EXIT_INVALID, f"${MAX_QUEUE_ENV} must be a whole number, got {raw!r}")
    return None


def _to_agent(agent_url: str, event: dict[str, Any], change: bool) -> tuple[int, dict[str, Any]]:
    """POST the event to the local agent's Events-API-compatible endpoint (urllib, stdlib)."""
    import json
    import urllib.error
    import urllib.request

    base = agent_url.rstrip("/")
    for suffix in ("/v2/enqueue", "/v2/change/enqueue"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    url = base + ("/v2/change/enqueue" if change else "/v2/enqueue")
    if not url.startswith(("http://", "https://")):
        raise OSError(f"the agent URL must start with http:// or https://, got {agent_url!r}")
    headers = {"Content-Type": "application/json", "User-Agent": "pd-send (pagerbridge)"}
    token = os.environ.get(AGENT_TOKEN_ENV)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, data=json.dumps(event).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=AGENT_TIMEOUT) as response:  # noqa: S310
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        parsed = {}
    return status, parsed if isinstance(parsed, dict) else {}


def _fallback(agent_url: str, change: bool, event: dict[str, Any], why: str) -> str | None:
    """The database is not writable for us: hand the event to the agent, or exit 4."""
    try:
        status, body = _to_agent(agent_url, event, change)
    except OSError as exc:
        reason = getattr(exc, "reason", None) or exc
        _fail(
            EXIT_CANNOT_STORE,
            f"cannot store the event: {why}",
            hint=f"the local agent at {agent_url} is not reachable either ({reason}); "
            "start it (pagerbridge agent), or let this user write the database",
        )
    message = str(body.get("message") or "")
    if 200 <= status < 300:
        key = body.get("dedup_key")
        return key if isinstance(key, str) else event.get("dedup_key")
    if status == 400:
        errors = body.get("errors")
        _fail(
            EXIT_INVALID,
            f"the agent refused the event: {message}",
            *(errors if isinstance(errors, list) else []),
        )
    if status == 503:
        _fail(EXIT_QUEUE_FULL, f"the agent's queue is full: {message or 'HTTP 503'}")
    _fail(
        EXIT_CANNOT_STORE,
        f"cannot store the event: {why}",
        hint=f"the agent at {agent_url} did not take it either: "
        + f"HTTP {status} {message}".rstrip(),
    )


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    args = pd_send_fast.parse(argv) or build_parser().parse_args(argv, namespace=Args())
    event = build_event(args)
    dedup_key = store(
        event, change=args.change, db=args.db, agent_url=args.agent_url, max_queue=args.max_queue
    )
    if not args.quiet and dedup_key:
        print(dedup_key)
    return EXIT_OK


def store(
    event: dict[str, Any],
    *,
    change: bool,
    db: str | None,
    agent_url: str,
    max_queue: int | None = None,
    explain: Callable[[list[str]], list[str]] | None = None,
) -> str | None:
    """Validate ``event`` and store it durably in the outbox of ``db`` (else
    ``$PAGERBRIDGE_DATABASE_URL``, else the default database), or hand it to the agent at
    ``agent_url`` when that database cannot be written; its dedup key. Exits 2, 3 or 4 on
    failure (``explain`` rewords the validation errors). pd-send's one storage path, also taken
    by pd-nagios, pd-zabbix and pd-sensu."""
    from pagerbridge.errors import (
        ConfigError,
        EventValidationError,
        QueueFullError,
        StorageError,
    )
    from pagerbridge.outbox.core import prepare_event
    from pagerbridge.paths import resolve_database_url

    now = time.time()
    try:
        row = prepare_event(event, change=change, now=now)
    except EventValidationError as exc:
        _fail(EXIT_INVALID, "invalid event:", *(explain(exc.errors) if explain else exc.errors))
    dedup_key: str | None = row.dedup_key
    try:
        url = resolve_database_url(db)
        from pagerbridge.outbox import Outbox, open_storage

        storage = open_storage(url)
        outbox = Outbox(storage, max_queue=_max_queue(max_queue), clock=lambda: now)
        # Meant for the PagerDuty the agent on this database delivers to (as it recorded at
        # start); with none recorded, for whichever worker claims it first.
        row = row._replace(destination=storage.recorded_destination())
        # Not closed on purpose: the commit is already fsynced, and closing the last connection
        # would checkpoint the WAL into the database (more fsyncs) on every single event.
        (result,) = outbox.enqueue_batch([row], now=now)
        if isinstance(result, QueueFullError):
            _fail(EXIT_QUEUE_FULL, f"not queued: {result}")
    except (StorageError, ConfigError) as exc:
        import json

        dedup_key = _fallback(agent_url, change, json.loads(row.payload), str(exc))
    return dedup_key


def run() -> None:
    """Console entry point; leaves without interpreter teardown (start-up time is the product)."""
    run_main(main)


def run_main(entry: Callable[[], int]) -> NoReturn:
    """Run ``entry`` and leave with its code, without interpreter teardown; a bug is one line,
    never a traceback (``PAGERBRIDGE_DEBUG=1`` shows it). Shared by pdagent's drop-ins."""
    try:
        code = entry()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if exc.code is not None and not isinstance(exc.code, int):
            print(f"error: {exc.code}", file=sys.stderr)
    except KeyboardInterrupt:
        code = exits.INTERRUPTED
    except Exception as exc:  # a bug: one line, never a traceback (PAGERBRIDGE_DEBUG=1 shows it)
        if os.environ.get("PAGERBRIDGE_DEBUG"):
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        print("hint: this is a bug in pagerbridge: please report it", file=sys.stderr)
        code = exits.INTERNAL
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
