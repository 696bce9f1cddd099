"""The connectors domain: connectors, service mappings, incident links, OAuth tokens, activity.

Revision ID: 0006_connectors
Revises: 0004_incidents_repair
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_connectors"
down_revision = "0004_incidents_repair"
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
        "connectors",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sync_direction", sa.String(16), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=True),
        sa.Column("key_fingerprint", sa.String(64), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("last_sync_at", sa.Double(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_connectors"),
        sa.UniqueConstraint("name", name="uq_connectors_name"),
    )
    op.create_table(
        "connector_service_mappings",
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("im_service", sa.String(100), nullable=False),
        sa.Column("pd_service_id", sa.String(64), nullable=True),
        sa.Column("escalation_policy_id", sa.String(64), nullable=True),
        _connector_fk("connector_service_mappings"),
        sa.PrimaryKeyConstraint("connector_id", "im_service", name="pk_connector_service_mappings"),
    )
    op.create_table(
        "connector_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("pd_service_id", sa.String(64), nullable=False),
        sa.Column("incident_key", sa.String(255), nullable=False),
        sa.Column("correlation_id", sa.String(64), nullable=False),
        sa.Column("pd_incident_id", sa.String(64), nullable=True),
        sa.Column("pd_incident_number", sa.BigInteger(), nullable=True),
        sa.Column("pd_html_url", sa.Text(), nullable=True),
        sa.Column("pd_status", sa.String(16), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        _connector_fk("connector_links"),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["im_incidents.id"],
            name="fk_connector_links_incident_id_im_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_connector_links"),
        sa.UniqueConstraint(
            "connector_id", "incident_id", "pd_service_id", name="uq_connector_links_incident"
        ),
    )
    op.create_index(
        "ix_connector_links_pd_incident", "connector_links", ["connector_id", "pd_incident_id"]
    )
    op.create_index("ix_connector_links_incident_key", "connector_links", ["incident_key"])
    op.create_table(
        "connector_tokens",
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.Double(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.Double(), nullable=False),
        _connector_fk("connector_tokens"),
        sa.PrimaryKeyConstraint("connector_id", name="pk_connector_tokens"),
    )
    op.create_table(
        "connector_activity",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connector_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        _connector_fk("connector_activity"),
        sa.PrimaryKeyConstraint("id", name="pk_connector_activity"),
    )
    op.create_index(
        "ix_connector_activity_connector_at", "connector_activity", ["connector_id", "at"]
    )
    op.create_table(
        "connector_settings",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_connector_settings"),
    )


def downgrade() -> None:
    for table in (
        "connector_settings",
        "connector_activity",
        "connector_tokens",
        "connector_links",
        "connector_service_mappings",
        "connectors",
    ):
        op.drop_table(table)
