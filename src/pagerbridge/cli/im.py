"""``im``: the incident-management CLI (declare, ack, resolve, close, reopen, note, list, ...).

Every command works on the local database (``--db`` / $PAGERBRIDGE_DATABASE_URL / the default
SQLite file; the schema must be current, ``pagerbridge db upgrade`` makes it so) or on a hub
(``--server`` / $PAGERBRIDGE_SERVER, token via ``--token`` / $PAGERBRIDGE_TOKEN). Only Typer loads
at start-up; each command imports what it needs. Exit codes: see :mod:`pagerbridge.cli.im_common`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pagerbridge.cli import im_admin
from pagerbridge.cli.im_common import (
    EXIT_USAGE,
    DbOpt,
    JsonOpt,
    NoteOpt,
    RefArg,
    RefOpt,
    ServerOpt,
    TokenOpt,
    backend,
    fail,
    guard,
    notice,
    pick_ref,
)

EPILOG = (
    "Exit codes: 0 ok, 1 error, 2 usage/invalid input, 3 not found, 4 configuration, "
    "5 illegal transition/conflict, 6 authentication refused, 69 server unreachable, "
    "74 database unavailable or schema not current."
)

app = typer.Typer(
    name="im",
    help="Incident management: declare, acknowledge, resolve and follow incidents.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
app.add_typer(im_admin.service_app, name="service")
app.add_typer(im_admin.sla_app, name="sla")
app.add_typer(im_admin.token_app, name="token")


def _fields(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--field {pair!r} must look like key=value", EXIT_USAGE)
        out[key.strip()] = value
    return out


@app.command()
def declare(
    title: Annotated[str, typer.Option("--title", "-t", help="What is wrong, in one line.")],
    sev: Annotated[
        str | None,
        typer.Option("--sev", "--severity", "-s", help="SEV-1..SEV-4 (default: the service's)."),
    ] = None,
    service: Annotated[
        str | None, typer.Option("--service", help="Affected service(s), comma-separated.")
    ] = None,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    assignee: Annotated[str | None, typer.Option("--assignee", "-a")] = None,
    field: Annotated[
        list[str] | None,
        typer.Option("--field", "-f", metavar="KEY=VALUE", help="Custom field key=value (repeat)."),
    ] = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Declare a new incident (services named that do not exist yet are created)."""

    def go() -> None:
        from pagerbridge.incidents.lifecycle import parse_severity, split_services

        names = split_services(service)
        severity = parse_severity(sev) if sev else None
        result = backend(db, server, token).declare(
            title=title,
            severity=severity,
            services=names,
            description=description,
            assignee=assignee,
            custom_fields=_fields(field or []),
        )
        for name in result["created_services"]:
            notice(f"service {name!r} did not exist and was created (see `im service show {name}`)")
        if as_json:
            from pagerbridge.cli.im_output import emit_json

            emit_json(result)
        else:
            from pagerbridge.cli.im_output import incident_line

            print("declared " + incident_line(result["incident"]))

    guard(go)


def _transition_command(action: str, doc: str) -> None:
    def command(
        ref: RefArg = None,
        incident: RefOpt = None,
        note: NoteOpt = None,
        db: DbOpt = None,
        server: ServerOpt = None,
        token: TokenOpt = None,
        as_json: JsonOpt = False,
    ) -> None:
        name = pick_ref(ref, incident)

        def go() -> None:
            inc = backend(db, server, token).transition(name, action, note=note)
            if as_json:
                from pagerbridge.cli.im_output import emit_json

                emit_json(inc)
            else:
                print(f"{inc['id']} is now {inc['status']}")

        guard(go)

    command.__doc__ = doc
    app.command(name=action)(command)


_transition_command("ack", "Acknowledge an open incident (open → mitigated).")
_transition_command("resolve", "Resolve an incident (open/mitigated → resolved).")
_transition_command("close", "Close a resolved incident (resolved → closed).")
_transition_command("reopen", "Reopen a resolved or closed incident (→ open).")


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

    def go() -> None:
        entry = backend(db, server, token).note(name, body)
        if as_json:
            from pagerbridge.cli.im_output import emit_json

            emit_json(entry)
        else:
            print(f"note added to {entry['incident']}")

    guard(go)


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

    def go() -> None:
        inc = backend(db, server, token).assign(name, to or None, note=note)
        if as_json:
            from pagerbridge.cli.im_output import emit_json

            emit_json(inc)
        else:
            print(
                f"{inc['id']} assigned to {inc['assignee']}"
                if inc["assignee"]
                else f"{inc['id']} unassigned"
            )

    guard(go)


@app.command(name="list")
def list_(
    status: Annotated[str | None, typer.Option("--status", help="open, mitigated, ...")] = None,
    service: Annotated[str | None, typer.Option("--service")] = None,
    sev: Annotated[str | None, typer.Option("--sev", "--severity")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 25,
    offset: Annotated[int, typer.Option("--offset", min=0)] = 0,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List incidents, newest first, a page at a time."""

    def go() -> None:
        page = backend(db, server, token).list_incidents(
            status=status, service_name=service, severity=sev, limit=limit, offset=offset
        )
        from pagerbridge.cli import im_output

        im_output.emit_json(page) if as_json else im_output.incidents(page)

    guard(go)


@app.command()
def show(
    ref: RefArg = None,
    incident: RefOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one incident, with its SLA deadlines."""
    name = pick_ref(ref, incident)

    def go() -> None:
        inc = backend(db, server, token).show(name)
        from pagerbridge.cli import im_output

        im_output.emit_json(inc) if as_json else im_output.incident(inc)

    guard(go)


@app.command()
def timeline(
    ref: RefArg = None,
    incident: RefOpt = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show an incident's timeline, oldest first."""
    name = pick_ref(ref, incident)

    def go() -> None:
        entries = backend(db, server, token).timeline(name)
        from pagerbridge.cli import im_output

        im_output.emit_json(entries) if as_json else im_output.timeline(entries)

    guard(go)


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
) -> None:
    """Run the hub's API server (migrates the database on start)."""
    from pagerbridge.cli.im_serve import serve as run_server

    guard(
        lambda: run_server(
            host=host,
            port=port,
            db=db,
            workers=workers,
            sla_interval=sla_interval,
            access_log=access_log,
        )
    )


def run() -> None:
    app()
