"""The outbox: durable queue of outbound PagerDuty calls (outbox, outbox_paused, outbox_rate).

Runs the same idempotent ``CREATE ... IF NOT EXISTS`` script ``pd-send`` runs on first use, so a
database where ``pd-send`` already created the tables upgrades cleanly.

Revision ID: 0002_outbox
Revises: 0000_base
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

from pagerbridge.outbox.queries import schema_statements

revision = "0002_outbox"
down_revision = "0000_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = "postgresql" if op.get_bind().dialect.name == "postgresql" else "sqlite"
    for statement in schema_statements(dialect):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS outbox_rate")
    op.execute("DROP TABLE IF EXISTS outbox_paused")
    op.execute("DROP TABLE IF EXISTS outbox")
