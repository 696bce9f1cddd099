"""Outbox rows know where they go: ``outbox.destination``, ``outbox_settings``, ``ix_outbox_held``.

Existing rows keep no destination: they belong to the first worker that claims them, as before.
Re-runs the idempotent outbox script (which now creates the new objects) after adding the column
where it is missing, the same steps ``pd-send`` takes on an older database.

Revision ID: 0003_outbox_destination
Revises: 0002_outbox
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pagerbridge.outbox.queries import schema_statements

revision = "0003_outbox_destination"
down_revision = "0002_outbox"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    dialect = "postgresql" if bind.dialect.name == "postgresql" else "sqlite"
    columns = {c["name"] for c in sa.inspect(bind).get_columns("outbox")}
    if "destination" not in columns:
        op.add_column("outbox", sa.Column("destination", sa.Text(), nullable=True))
    for statement in schema_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_outbox_held")
    op.execute("DROP TABLE IF EXISTS outbox_settings")
    op.drop_column("outbox", "destination")
