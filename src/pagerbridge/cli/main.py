"""``pagerbridge``: the hub's command (up, agent, sandbox, db).

Subcommands live in their own modules and import their heavy dependencies only when run, so
``pagerbridge --help`` and ``--version`` stay fast. Help, ``--version``, errors and exit codes
follow the shared style of :mod:`pagerbridge.cli._common`.
"""

from __future__ import annotations

import typer

from pagerbridge.cli import db_cmd, maintenance_cmd, rules_cmd, sandbox_cmd, up_cmd
from pagerbridge.cli._common import run_app

app = typer.Typer(
    name="pagerbridge",
    help="pagerbridge: a self-hosted PagerDuty integration hub.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

up_cmd.register(app)
sandbox_cmd.register(app)
app.add_typer(db_cmd.app, name="db")
app.add_typer(maintenance_cmd.app, name="maintenance")
app.add_typer(rules_cmd.app, name="rules")


def run() -> None:
    run_app(app, "pagerbridge")
