"""Alembic environment: runs migrations on the engine handed over by pagerbridge.store.migrate."""

from __future__ import annotations

from alembic import context

from pagerbridge.store.metadata import metadata

config = context.config
engine = config.attributes.get("engine")


def run_migrations_online() -> None:
    if engine is None:
        raise RuntimeError("pagerbridge migrations run through pagerbridge.store.migrate.upgrade()")
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # One migrator at a time when several replicas start together.
            connection.exec_driver_sql("SELECT pg_advisory_lock(7261736)")
        context.configure(
            connection=connection,
            target_metadata=metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
        if connection.dialect.name == "postgresql":
            connection.exec_driver_sql("SELECT pg_advisory_unlock(7261736)")
            connection.commit()


if context.is_offline_mode():
    raise RuntimeError("offline migrations are not supported")
run_migrations_online()
