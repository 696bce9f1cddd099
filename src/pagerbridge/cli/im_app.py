"""``im``'s Typer app: every command, its help and its usage errors (declare, ack, resolve, close,
reopen, note, list, ...). The entry point is :func:`pagerbridge.cli.im.run`, which tries the lean
parser of :mod:`im_fast` first for the hottest commands. Those (declare, the transitions, list,
show, timeline) are declared once, in :mod:`im_spec`, and registered here from that table.

Every command works on the local database (``--db`` / $PAGERBRIDGE_DATABASE_URL / the default
SQLite file; the schema must be current, ``pagerbridge db upgrade`` makes it so) or on a hub
(``--server`` / $PAGERBRIDGE_SERVER, token via ``--token`` / $PAGERBRIDGE_TOKEN). Each command
imports what it needs. Exit codes: the shared table of :mod:`pagerbridge.cli.exits`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pagerbridge.cli import im_admin
from pagerbridge.cli._common import LogFormatOpt, LogLevelOpt
from pagerbridge.cli.im_common import EXIT_USAGE, fail, pick_ref, run_call
from pagerbridge.cli.im_options import (
    DbOpt,
    JsonOpt,
    NoteOpt,
    RefArg,
    RefOpt,
    ServerOpt,
    TokenOpt,
    add_hot_command,
)
from pagerbridge.cli.im_spec import HOT, TRANSITIONS

app = typer.Typer(
    name="im",
    help="Incident management: declare, acknowledge, resolve and follow incidents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(im_admin.service_app, name="service")
app.add_typer(im_admin.sla_app, name="sla")
app.add_typer(im_admin.token_app, name="token")
# im connector (issue 13): Typer only at import; its commands import what they use when run.
from pagerbridge.cli.im_connector import connector_app  # noqa: E402

app.add_typer(connector_app, name="connector")
# im oncall (issue 14 item 6): Typer only at import, like im connector.
from pagerbridge.cli.im_oncall import register as _register_oncall  # noqa: E402

_register_oncall(app)
# im sla status (issue 14 item 7): elapsed time and breaches of the active incidents.
from pagerbridge.cli.im_sla_status import register as _register_sla_status  # noqa: E402

_register_sla_status(im_admin.sla_app)


add_hot_command(app, HOT["declare"])
for _action in TRANSITIONS:
    add_hot_command(app, HOT[_action])


@app.command()
def note(
    ref: RefArg = None,
    text: Annotated[str | None, typer.Argument(metavar="TEXT", show_default=False)] = None,
    incident: RefOpt = None,
    note_opt: Annotated[str | None, typer.Option("--note", "-n", help="The note's text.")] = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a note to an incident's timeline: im note INC-1 "text" (or --incident/--note)."""
    if incident and ref and not text:  # im note --incident INC-1 "text"
        ref, text = None, ref
    name = pick_ref(ref, incident)
    body = note_opt if note_opt is not None else text
    if not body:
        fail("what does the note say? give it as TEXT or --note", EXIT_USAGE)
    run_call(
        db,
        server,
        token,
        as_json,
        lambda c: c.note(name, body),
        lambda entry: print(f"note added to {entry['incident']}"),
    )


@app.command()
def assign(
    ref: RefArg = None,
    incident: RefOpt = None,
    to: Annotated[
        str | None, typer.Option("--to", "--assignee", help="Who is responsible ('' clears).")
    ] = None,
    note: NoteOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Assign an incident: im assign INC-1 --to alice."""
    name = pick_ref(ref, incident)
    if to is None:
        fail("assign to whom? give --to NAME (or --to '' to unassign)", EXIT_USAGE)
    run_call(
        db,
        server,
        token,
        as_json,
        lambda c: c.assign(name, to or None, note=note),
        lambda r: print(
            f"{r['incident']['id']} assigned to {r['incident']['assignee']}"
            if r["incident"]["assignee"]
            else f"{r['incident']['id']} unassigned"
        ),
    )


for _name in ("list", "show", "timeline"):
    add_hot_command(app, HOT[_name])


@app.command()
def serve(
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8080,
    db: DbOpt = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    sla_interval: Annotated[
        float, typer.Option("--sla-interval", help="Seconds between SLA checks (0: off).")
    ] = 30.0,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (default: errors only).")
    ] = False,
    log_level: str | None = LogLevelOpt,
    log_format: str | None = LogFormatOpt,
) -> None:
    """Run the hub's API server (migrates the database on start)."""
    from pagerbridge.cli.im_serve import serve as run_server

    run_server(  # turns errors into the shared one-line answers itself (run_guarded)
        host=host,
        port=port,
        db=db,
        workers=workers,
        sla_interval=sla_interval,
        access_log=access_log,
        log_level=log_level,
        log_format=log_format,
    )


# im logs and im metrics (issue 14 item 8): Typer only at import, like im connector.
from pagerbridge.cli import im_logs, im_metrics  # noqa: E402

im_logs.register(app)
im_metrics.register(app)
