"""``im connector sync NAME [--incident INC-n]``: send what is pending now, from this process.

No hub needed: the connector's rows are claimed and sent here (the same sender as the hub's), each
waited for until delivered or failed (60 s at most). A Rich progress bar shows when there are
more rows than the terminal has lines; exit 1 when any failed or is still pending.

Then, for a connector that receives (and without ``--incident``), the inbound half: a reconcile
run (connectors/reconcile.py) applies the changes made in PagerDuty that webhooks missed and
prints what it repaired, with a progress bar once it has more to read than a screenful.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from pagerbridge.cli import exits
from pagerbridge.cli.im_connector_common import database, emit, load
from pagerbridge.cli.im_options import DbOpt, JsonOpt

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The connector's name.")]


def _incident_number(conn: Any, ref: str) -> int:
    """INC-n → n, after checking the incident exists (exit 3 otherwise)."""
    import sqlalchemy as sa

    from pagerbridge.errors import IncidentNotFoundError
    from pagerbridge.incidents.lifecycle import format_ref, parse_ref
    from pagerbridge.incidents.models import Incident

    number = parse_ref(ref)
    if conn.execute(sa.select(Incident.id).where(Incident.id == number)).first() is None:
        raise IncidentNotFoundError(f"no incident {format_ref(number)}")
    return number


def _progress(total: int, as_json: bool) -> AbstractContextManager[Callable[[int, int], None]]:
    """A Rich progress bar when there is more than a screenful to send (and a terminal)."""
    import shutil
    import sys
    from contextlib import contextmanager

    @contextmanager
    def bar() -> Iterator[Callable[[int, int], None]]:
        from rich.progress import Progress

        with Progress(transient=True) as progress:
            task = progress.add_task("sending to PagerDuty", total=total)
            yield lambda done, _total: progress.update(task, completed=done)

    @contextmanager
    def quiet() -> Iterator[Callable[[int, int], None]]:
        yield lambda done, _total: None

    screenful = shutil.get_terminal_size().lines
    if not as_json and sys.stderr.isatty() and total > screenful:
        return bar()
    return quiet()


def _growing_progress(as_json: bool) -> Iterator[Callable[[int, int], None]]:
    """Like :func:`_progress` for a total found on the way: the bar starts past a screenful."""
    import shutil
    import sys

    from rich.progress import Progress

    progress: Progress | None = None
    wanted = not as_json and sys.stderr.isatty()

    def update(done: int, total: int) -> None:
        nonlocal progress
        if progress is None and wanted and total > shutil.get_terminal_size().lines:
            progress = Progress(transient=True)
            progress.start()
            progress.add_task("reading PagerDuty's changes", total=total)
        if progress is not None:
            progress.update(progress.task_ids[0], completed=done, total=total)

    try:
        yield update
    finally:
        if progress is not None:
            progress.stop()


def _reconcile(dbx: Any, record: Any, as_json: bool) -> Any:
    """The inbound half (None when the connector does not receive)."""
    import asyncio
    from contextlib import contextmanager

    from pagerbridge.connectors.reconcile import receives, reconcile_now

    if not receives(record):
        return None
    with contextmanager(_growing_progress)(as_json) as progress:
        return asyncio.run(
            reconcile_now(dbx.engine, record.name, database_url=dbx.url, progress=progress)
        )


def _reconcile_lines(result: Any) -> list[str]:
    from pagerbridge.connectors.reconcile_log import summary

    if result is None:
        return []
    if not result.ran:
        return [f"{result.connector}: not reconciled: {result.reason}"]
    out = [f"{result.connector}: " + summary(result).removeprefix("reconcile: ")]
    out += [f"  {line}" for line in result.fixed]
    out += [f"  error: {line}" for line in result.errors]
    return out


def sync(
    name: NameArg,
    incident: Annotated[
        str | None, typer.Option("--incident", "-i", metavar="INC-N", help="Only this incident.")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send the connector's pending changes to PagerDuty now (no hub needed)."""
    import asyncio

    from pagerbridge.connectors.runtime import pending_rows, sync_now

    with database(db) as dbx:
        record = load(dbx, name)
        number = None
        if incident is not None:
            with dbx.engine.connect() as conn:
                number = _incident_number(conn, incident)
        total = len(pending_rows(dbx.engine, record.id, number))
        with _progress(total, as_json) as progress:
            result = asyncio.run(
                sync_now(dbx.url, dbx.engine, name, incident_id=number, progress=progress)
            )
        inbound = None if incident is not None else _reconcile(dbx, record, as_json)
    data = {
        "connector": result.connector,
        "incident": incident.upper() if incident else None,
        "delivered": result.delivered,
        "failed": result.failed,
        "remaining": result.remaining,
        "errors": result.errors,
        "ok": result.ok and (inbound is None or inbound.ok),
        "reconcile": None if inbound is None else inbound.as_dict(),
    }

    def lines() -> list[str]:
        if not total:
            return [f"{name}: nothing pending", *_reconcile_lines(inbound)]
        out = [f"{name}: {result.delivered} change(s) sent to PagerDuty"]
        if result.failed:
            out.append(f"{result.failed} failed (see im connector status {name}):")
            out += [f"  {e}" for e in result.errors]
        if result.remaining:
            out.append(f"{result.remaining} still pending after 60 s (retried later by the hub)")
        return out + _reconcile_lines(inbound)

    emit(as_json, data, lines)
    if not data["ok"]:
        raise typer.Exit(exits.ERROR)
