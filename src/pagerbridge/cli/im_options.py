"""Typer option and argument types shared by the ``im`` commands (im_app, im_admin)."""

from __future__ import annotations

from typing import Annotated

import typer

from pagerbridge.cli.im_common import SERVER_ENV, TOKEN_ENV

DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL or SQLite file (default: $PAGERBRIDGE_DATABASE_URL, else the data dir).",
        show_default=False,
    ),
]
ServerOpt = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar=SERVER_ENV,
        help="Talk to a hub at this URL instead of the database (e.g. http://127.0.0.1:8080).",
        show_default=False,
    ),
]
TokenOpt = Annotated[
    str | None,
    typer.Option("--token", envvar=TOKEN_ENV, help="API token for --server.", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
RefArg = Annotated[
    str | None,
    typer.Argument(metavar="INCIDENT", help="INC-<n> (or give --incident).", show_default=False),
]
RefOpt = Annotated[
    str | None,
    typer.Option("--incident", "-i", help="INC-<n> (or give it positionally).", show_default=False),
]
NoteOpt = Annotated[
    str | None, typer.Option("--note", "-n", help="Add this note to the timeline entry.")
]
