"""``pagerbridge``: the hub's command (up, agent, sandbox, db).

Subcommands live in their own modules and import their heavy dependencies only when run, so
``pagerbridge --help`` and ``--version`` stay fast.
"""

from __future__ import annotations

import typer

from pagerbridge import __version__
from pagerbridge.cli import db_cmd, sandbox_cmd, up_cmd

app = typer.Typer(
    name="pagerbridge",
    help="pagerbridge: a self-hosted PagerDuty integration hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pagerbridge {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """pagerbridge: never lose a page; keep incidents in sync; page on pending updates."""


up_cmd.register(app)
sandbox_cmd.register(app)
app.add_typer(db_cmd.app, name="db")


def run() -> None:
    app()
