"""``im logs``: the connectors' structured log records, kept in the database.

``im logs --component webhook --filter pagerduty`` (the reference's troubleshooting command)
shows what the hubs on this database did: webhook deliveries refused (forged, unsigned, not
allowed, over the rate limit), events applied, ignored or failed, syncs to PagerDuty and their
failures, reconcile reports. ``--since 1h``, ``--follow`` (new records as they come, until
Ctrl-C), ``--json`` (a ``logs`` list; with ``--follow``, one JSON object per line). The records
are in :mod:`pagerbridge.connectors.logstore`; only Typer loads with this module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import fail
from pagerbridge.cli.im_connector_common import database, emit
from pagerbridge.cli.im_options import DbOpt, JsonOpt

if TYPE_CHECKING:
    import sqlalchemy as sa

    from pagerbridge.connectors.logstore import LogRecord, Query

#: How often ``--follow`` looks for new records.
FOLLOW_SECONDS = 0.5


def _since(value: str | None) -> float | None:
    """``--since``: a duration back from now (``30m``, ``1h``, ``2d``) or an ISO 8601 time."""
    if value is None:
        return None
    import time
    from datetime import UTC, datetime

    from pagerbridge.connectors.settings import parse_interval_any

    try:
        return time.time() - parse_interval_any(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        fail(
            f"--since {value!r} is neither a duration nor a time",
            exits.USAGE,
            "give a duration like 30m, 1h or 2d, or a time like 2026-05-01T10:00:00Z",
        )
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _choice(value: str | None, allowed: tuple[str, ...], option: str) -> str | None:
    if value is None:
        return None
    if value.lower() not in allowed:
        fail(f"{option} {value!r} is not one of {', '.join(allowed)}", exits.USAGE)
    return value.lower()


def logs(
    component: Annotated[
        str | None,
        typer.Option("--component", metavar="NAME", help="webhook, sync, reconcile, api or sla."),
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option(
            "--filter",
            metavar="TEXT",
            help="Only records whose connector name or type, message or data contain TEXT.",
        ),
    ] = None,
    connector: Annotated[
        str | None, typer.Option("--connector", metavar="NAME", help="One connector only.")
    ] = None,
    level: Annotated[
        str | None,
        typer.Option("--level", metavar="LEVEL", help="At least: debug, info, warning, error."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="WHEN", help="30m, 1h, 2d, or an ISO 8601 time."),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=100_000, help="At most this many (newest).")
    ] = 100,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new records (Ctrl-C stops).")
    ] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the connectors' log: webhook deliveries and events, syncs, reconciles."""
    from pagerbridge.connectors import logstore

    query = logstore.Query(
        component=_choice(component, logstore.COMPONENTS, "--component"),
        connector=connector,
        text=filter_ or None,
        min_level=_choice(level, logstore.LEVELS, "--level"),
        since=_since(since),
        limit=limit,
    )
    with database(db) as dbx:
        with dbx.engine.connect() as conn:
            found = logstore.read(conn, query)
            last = logstore.latest_id(conn) if follow else 0
        if not follow:
            emit(
                as_json,
                {"logs": [r.as_json() for r in found]},
                lambda: [r.line for r in found] or ["no log records match"],
            )
            return
        _follow(dbx.engine, query, found, max(last, max((r.id for r in found), default=0)), as_json)


def _follow(
    engine: sa.Engine, query: Query, first: list[LogRecord], last: int, as_json: bool
) -> None:
    """Print ``first``, then every newer matching record every :data:`FOLLOW_SECONDS`."""
    import dataclasses
    import json
    import time

    from pagerbridge.connectors import logstore

    def show(records: list[LogRecord]) -> None:
        for r in records:
            print(json.dumps(r.as_json(), ensure_ascii=False) if as_json else r.line, flush=True)

    show(first)
    try:
        while True:
            time.sleep(FOLLOW_SECONDS)
            with engine.connect() as conn:
                new = logstore.read(conn, dataclasses.replace(query, after_id=last, limit=1000))
            if new:
                show(new)
                last = new[-1].id
    except KeyboardInterrupt:
        return


def register(app: typer.Typer) -> None:
    app.command("logs")(logs)
