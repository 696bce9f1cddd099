"""``im service``, ``im sla`` and ``im token``: the catalogue, SLA policies and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from pagerbridge.cli.im_common import EXIT_USAGE, backend, fail, guard
from pagerbridge.cli.im_options import DbOpt, JsonOpt, ServerOpt, TokenOpt

service_app = typer.Typer(help="Services incidents affect.", no_args_is_help=True)
sla_app = typer.Typer(help="SLA targets per severity.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for the hub's REST API.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME")]


@service_app.command("add")
def service_add(
    name: NameArg,
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    owner_team: Annotated[str | None, typer.Option("--owner-team", "--team")] = None,
    default_sev: Annotated[str, typer.Option("--default-sev", "--sev")] = "SEV-3",
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a service."""

    def go() -> None:
        svc = backend(db, server, token).service_add(
            name, description=description, owner_team=owner_team, default_severity=default_sev
        )
        from pagerbridge.cli import im_output

        im_output.emit_json(svc) if as_json else print(f"service {svc['name']} added")

    guard(go)


@service_app.command("list")
def service_list(
    db: DbOpt = None, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List services."""

    def go() -> None:
        items = backend(db, server, token).service_list()
        from pagerbridge.cli import im_output

        im_output.emit_json(items) if as_json else im_output.services(items)

    guard(go)


@service_app.command("show")
def service_show(
    name: NameArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one service."""

    def go() -> None:
        svc = backend(db, server, token).service_show(name)
        from pagerbridge.cli import im_output

        im_output.emit_json(svc) if as_json else im_output.service(svc)

    guard(go)


@service_app.command("remove")
def service_remove(
    name: NameArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a service that no incident refers to."""

    def go() -> None:
        backend(db, server, token).service_remove(name)
        from pagerbridge.cli import im_output

        im_output.emit_json({"removed": name}) if as_json else print(f"service {name} removed")

    guard(go)


@sla_app.command("show")
def sla_show(
    db: DbOpt = None, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Show the SLA targets per severity."""

    def go() -> None:
        policies = backend(db, server, token).sla_show()
        from pagerbridge.cli import im_output

        im_output.emit_json(policies) if as_json else im_output.sla(policies)

    guard(go)


@sla_app.command("set")
def sla_set(
    severity: Annotated[str, typer.Argument(metavar="SEVERITY", help="SEV-1..SEV-4")],
    ack: Annotated[str | None, typer.Option("--ack", help="Time to acknowledge, e.g. 15m.")] = None,
    resolve: Annotated[
        str | None, typer.Option("--resolve", help="Time to resolve, e.g. 4h.")
    ] = None,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a severity's SLA: im sla set SEV-2 --ack 20m --resolve 2h."""
    if ack is None and resolve is None:
        fail("give --ack and/or --resolve", EXIT_USAGE)

    def go() -> None:
        target = backend(db, server, token).sla_set(severity, ack=ack, resolve=resolve)
        from pagerbridge.cli import im_output

        if as_json:
            im_output.emit_json(target)
        else:
            print(
                f"{target['severity']}: acknowledge within {target['ack']}, "
                f"resolve within {target['resolve']}"
            )

    guard(go)


@sla_app.command("check")
def sla_check(
    db: DbOpt = None, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Record SLA breaches now (the hub does this every 30 s; use this from cron without one)."""

    def go() -> None:
        breaches = backend(db, server, token).sla_check()
        from pagerbridge.cli import im_output

        if as_json:
            im_output.emit_json(breaches)
        elif not breaches:
            print("no new SLA breaches")
        else:
            for b in breaches:
                print(f"{b['incident']}: time to {b['sla']} breached (due {b['due_at']})")

    guard(go)


@token_app.command("create")
def token_create(
    name: NameArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token; the secret is printed once."""

    def go() -> None:
        created = backend(db, server, token).token_create(name)
        from pagerbridge.cli import im_output

        if as_json:
            im_output.emit_json(created)
        else:
            print(created["token"])
            import sys

            print(f"token {created['name']} created; it is shown only now", file=sys.stderr)

    guard(go)


@token_app.command("list")
def token_list(
    db: DbOpt = None, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List API tokens (names and prefixes only)."""

    def go() -> None:
        items = backend(db, server, token).token_list()
        from pagerbridge.cli import im_output

        im_output.emit_json(items) if as_json else im_output.tokens(items)

    guard(go)


@token_app.command("revoke")
def token_revoke(
    name: NameArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API token."""

    def go() -> None:
        backend(db, server, token).token_revoke(name)
        from pagerbridge.cli import im_output

        im_output.emit_json({"revoked": name}) if as_json else print(f"token {name} revoked")

    guard(go)
