"""The connectors' inbound side: webhook subscriptions, received webhook events, logs, state.

Revision ID: 0007_connector_inbound
Revises: 0006_connectors
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_connector_inbound"
down_revision = "0006_connectors"
branch_labels = None
depends_on = None


def _connector_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connector_id"],
        ["connectors.id"],
        name=f"fk_{table}_connector_id_connectors",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "connector_subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("pd_subscription_id", sa.String(64), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(64), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("first_verified_at", sa.Double(), nullable=True),
        sa.Column("last_received_at", sa.Double(), nullable=True),
        _connector_fk("connector_subscriptions"),
        sa.PrimaryKeyConstraint("id", name="pk_connector_subscriptions"),
        sa.UniqueConstraint("pd_subscription_id", name="uq_connector_subscriptions_pd"),
    )
    op.create_table(
        "connector_webhook_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(128), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("pd_incident_id", sa.String(64), nullable=True),
        sa.Column("occurred_at", sa.String(40), nullable=True),
        sa.Column("received_at", sa.Double(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("applied_at", sa.Double(), nullable=True),
        _connector_fk("connector_webhook_events"),
        sa.PrimaryKeyConstraint("id", name="pk_connector_webhook_events"),
        sa.UniqueConstraint("connector_id", "event_id", name="uq_connector_webhook_events_event"),
    )
    op.create_index(
        "ix_connector_webhook_events_state", "connector_webhook_events", ["state", "id"]
    )
    op.create_table(
        "connector_logs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("connector", sa.String(100), nullable=True),
        sa.Column("component", sa.String(32), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_connector_logs"),
    )
    op.create_index("ix_connector_logs_at", "connector_logs", ["at"])
    op.create_table(
        "connector_state",
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        _connector_fk("connector_state"),
        sa.PrimaryKeyConstraint("connector_id", "name", name="pk_connector_state"),
    )


def downgrade() -> None:
    for table in (
        "connector_state",
        "connector_logs",
        "connector_webhook_events",
        "connector_subscriptions",
    ):
        op.drop_table(table)
