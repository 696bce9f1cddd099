"""``pagerbridge db``: upgrade or check the database schema."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from pagerbridge.cli._common import run_guarded

app = typer.Typer(help="Manage pagerbridge's database schema.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL or SQLite file (default: $PAGERBRIDGE_DATABASE_URL, else the data dir).",
        show_default=False,
    ),
]


@app.command()
def upgrade(db: DbOption = None) -> None:
    """Create or upgrade the schema to this version of pagerbridge."""

    def go() -> None:
        from pagerbridge.paths import resolve_database_url
        from pagerbridge.store.engine import make_engine, redact_url
        from pagerbridge.store.migrate import current_revisions
        from pagerbridge.store.migrate import upgrade as do_upgrade

        url = resolve_database_url(db)
        engine = make_engine(url)
        before = current_revisions(engine)
        do_upgrade(engine)
        after = current_revisions(engine)
        where = redact_url(url)
        if not before:
            typer.echo(f"created the pagerbridge schema in {where} ({', '.join(sorted(after))})")
        elif before != after:
            typer.echo(
                f"upgraded {where}: {', '.join(sorted(before))} -> {', '.join(sorted(after))}"
            )
        else:
            typer.echo(f"database {where} was already up to date")

    run_guarded(go)


@app.command()
def check(db: DbOption = None) -> None:
    """Check that the schema is current (exit 74 and say what to run if not)."""

    def go() -> None:
        from pagerbridge.errors import SchemaOutdatedError
        from pagerbridge.paths import resolve_database_url, sqlite_file
        from pagerbridge.store.engine import make_engine, redact_url
        from pagerbridge.store.migrate import UPGRADE_HINT, check_current

        url = resolve_database_url(db)
        file = sqlite_file(url)
        if file is not None and not os.path.exists(file):  # a check creates nothing
            raise SchemaOutdatedError(f"there is no database at {file} yet: {UPGRADE_HINT}")
        check_current(make_engine(url))
        typer.echo(f"database {redact_url(url)} is current")

    run_guarded(go)
