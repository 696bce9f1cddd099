"""Upgrade the schema (Alembic), or check cheaply that it is current (no Alembic import).

Servers call :func:`upgrade` on start; ``pagerbridge db upgrade`` does it explicitly. CLI commands
call :func:`check_current`, which reads ``alembic_version`` with one query and compares it with
:data:`HEADS` (a test keeps that constant equal to Alembic's own heads).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from pagerbridge.errors import SchemaOutdatedError, StorageError

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

#: The head revision(s) of ``store/migrations/versions``. Update when adding a migration;
#: ``tests/unit/test_migrations.py`` fails until you do.
HEADS: frozenset[str] = frozenset({"0005_outbox_folds", "0007_connector_inbound"})

UPGRADE_HINT = "run `pagerbridge db upgrade` (servers do it on start)"


def _alembic_config(engine: Engine):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


@contextmanager
def _database_errors(engine: Engine) -> Iterator[None]:
    """The one boundary where a database failure becomes a StorageError naming the database."""
    try:
        yield
    except DBAPIError as exc:
        # str(engine.url) hides the password.
        raise StorageError(f"cannot open database {engine.url}: {exc.orig}") from exc


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (all heads); replicas may run it concurrently."""
    from alembic import command

    with _database_errors(engine):
        command.upgrade(_alembic_config(engine), "heads")


def alembic_heads() -> set[str]:
    """The heads according to Alembic itself (for tests and ``db status``)."""
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(_alembic_config(None)).get_heads())  # type: ignore[arg-type]


def current_revisions(engine: Engine) -> set[str]:
    """The revisions recorded in the database; empty for a new database."""
    with _database_errors(engine), engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return set()
        return {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}


def known_revisions() -> set[str]:
    """Every revision this pagerbridge ships (one file per revision, named after it): a
    database at any of them is behind or current, never newer. No Alembic import."""
    return {p.stem for p in (MIGRATIONS_DIR / "versions").glob("[0-9]*.py")}


def check_or_create(engine: Engine) -> bool:
    """For ``im`` and other tools on the embedded default: an SQLite database with no
    pagerbridge schema yet gets it now (True); anything else is only checked, so an older or
    a PostgreSQL schema still says what to run instead of being changed behind a user's back."""
    if engine.dialect.name == "sqlite" and not current_revisions(engine):
        upgrade(engine)
        return True
    check_current(engine)
    return False


def check_current(engine: Engine) -> None:
    """Raise SchemaOutdatedError, saying what to run, unless the schema is at :data:`HEADS`."""
    current = current_revisions(engine)
    if current == set(HEADS):
        return
    if not current:
        raise SchemaOutdatedError(f"the database has no pagerbridge schema yet: {UPGRADE_HINT}")
    if current - known_revisions():
        raise SchemaOutdatedError(
            f"the database schema ({', '.join(sorted(current))}) is newer than this pagerbridge; "
            "upgrade pagerbridge"
        )
    raise SchemaOutdatedError(
        f"the database schema ({', '.join(sorted(current))}) is behind this pagerbridge: "
        + UPGRADE_HINT
    )
