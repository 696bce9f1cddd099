"""The migrations build exactly the schema the models describe, on SQLite and on PostgreSQL."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from pagerbridge.store import migrate
from pagerbridge.store.engine import make_engine
from pagerbridge.store.metadata import metadata

#: Every module that defines tables on the shared metadata; optional ones may not have landed yet.
TABLE_MODULES = ["pagerbridge.incidents.models", "pagerbridge.connectors.models"]
OPTIONAL_TABLE_MODULES = ["pagerbridge.outbox", "pagerbridge.outbox.tables"]


def _load_models() -> None:
    for name in TABLE_MODULES:
        importlib.import_module(name)
    for name in OPTIONAL_TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise


def test_migrations_match_models(database_url: str) -> None:
    _load_models()
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff: list[Any] = compare_metadata(ctx, metadata)
        assert diff == [], f"migrations and models differ: {diff}"
        assert migrate.current_revisions(engine) == set(migrate.HEADS)
        migrate.check_current(engine)  # does not raise
    finally:
        engine.dispose()


def test_incident_tables_are_created(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    from sqlalchemy import inspect

    names = set(inspect(engine).get_table_names())
    assert {"im_incidents", "im_timeline", "im_services", "im_api_tokens"} <= names
    engine.dispose()


@pytest.mark.parametrize("heads", [migrate.HEADS])
def test_heads_constant_matches_alembic(heads: frozenset[str]) -> None:
    assert set(heads) == migrate.alembic_heads()
