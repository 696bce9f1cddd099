"""Repeated triggers fold into their alert's pending trigger: ``outbox.folds``.

``folds`` counts the later triggers folded into a row; NULL marks a row that takes no folds,
which every existing row is. Adds the column where it is missing (``pd-send`` and the agent add it
on open too), then re-runs the idempotent outbox script.

Revision ID: 0005_outbox_folds
Revises: 0003_outbox_destination
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pagerbridge.outbox.queries import schema_statements

revision = "0005_outbox_folds"
down_revision = "0003_outbox_destination"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    dialect = "postgresql" if bind.dialect.name == "postgresql" else "sqlite"
    columns = {c["name"] for c in sa.inspect(bind).get_columns("outbox")}
    if "folds" not in columns:
        op.add_column("outbox", sa.Column("folds", sa.Integer(), nullable=True))
    for statement in schema_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    op.drop_column("outbox", "folds")
