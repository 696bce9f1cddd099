"""``im service``, ``im sla`` and ``im token``: the catalogue, SLA policies and API tokens."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated, Any

import typer

from pagerbridge.cli.im_common import EXIT_USAGE, fail, printer, run_call
from pagerbridge.cli.im_options import DbOpt, JsonOpt, ServerOpt, TokenOpt

service_app = typer.Typer(help="Services incidents affect.", no_args_is_help=True)
sla_app = typer.Typer(help="SLA targets per severity.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for the hub's REST API.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME")]


def _answered(remove: Callable[[str], None], name: str, verb: str) -> dict[str, str]:
    """Run a removal that returns nothing; ``--json`` prints ``{verb: name}`` for it."""
    remove(name)
    return {verb: name}


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
    run_call(
        db,
        server,
        token,
        as_json,
        lambda c: c.service_add(
            name, description=description, owner_team=owner_team, default_severity=default_sev
        ),
        lambda svc: print(f"service {svc['name']} added"),
    )


@service_app.command("list")
def service_list(
    db: DbOpt = None, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List services."""
    run_call(db, server, token, as_json, lambda c: c.service_list(), printer("services"))


@service_app.command("show")
def service_show(
    name: NameArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one service."""
    run_call(db, server, token, as_json, lambda c: c.service_show(name), printer("service"))


@service_app.command("remove")
def service_remove(
    name: NameArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a service that no incident refers to."""
    run_call(
        db,
        server,
        token,
        as_json,
        lambda c: _answered(c.service_remove, name, "removed"),
        lambda _: print(f"service {name} removed"),
    )


@sla_app.command("show")
def sla_show(
    db: DbOpt = None, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Show the SLA targets per severity."""
    run_call(db, server, token, as_json, lambda c: c.sla_show(), printer("sla"))


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
    run_call(
        db,
        server,
        token,
        as_json,
        lambda c: c.sla_set(severity, ack=ack, resolve=resolve),
        lambda target: print(
            f"{target['severity']}: acknowledge within {target['ack']}, "
            f"resolve within {target['resolve']}"
        ),
    )


@sla_app.command("check")
def sla_check(
    db: DbOpt = None, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """Record SLA breaches now (the hub does this every 30 s; use this from cron without one)."""
    run_call(db, server, token, as_json, lambda c: c.sla_check(), _print_breaches)


def _print_breaches(breaches: list[dict[str, Any]]) -> None:
    if not breaches:
        print("no new SLA breaches")
    for b in breaches:
        print(f"{b['incident']}: time to {b['sla']} breached (due {b['due_at']})")


@token_app.command("create")
def token_create(
    name: NameArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API token; the secret is printed once."""
    run_call(db, server, token, as_json, lambda c: c.token_create(name), _print_secret)


def _print_secret(created: dict[str, Any]) -> None:
    """The secret alone on stdout (for ``$(im token create ...)``), the note on stderr."""
    print(created["token"])
    print(f"token {created['name']} created; it is shown only now", file=sys.stderr)


@token_app.command("list")
def token_list(
    db: DbOpt = None, server: ServerOpt = None, token: TokenOpt = None, as_json: JsonOpt = False
) -> None:
    """List API tokens (names and prefixes only)."""
    run_call(db, server, token, as_json, lambda c: c.token_list(), printer("tokens"))


@token_app.command("revoke")
def token_revoke(
    name: NameArg,
    db: DbOpt = None,
    server: ServerOpt = None,
    token: TokenOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke an API token."""
    run_call(
        db,
        server,
        token,
        as_json,
        lambda c: _answered(c.token_revoke, name, "revoked"),
        lambda _: print(f"token {name} revoked"),
    )
