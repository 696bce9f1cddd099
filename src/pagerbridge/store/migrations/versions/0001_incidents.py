"""The incident domain: incidents, services, timeline, SLA policies, API tokens, counters.

Revision ID: 0001_incidents
Revises: 0000_base
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_incidents"
down_revision = "0000_base"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "im_counters",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_im_counters"),
    )
    op.create_table(
        "im_services",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner_team", sa.String(200), nullable=True),
        sa.Column("default_severity", sa.String(8), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_im_services"),
        sa.UniqueConstraint("name", name="uq_im_services_name"),
    )
    op.create_table(
        "im_incidents",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("title", sa.String(1024), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(255), nullable=True),
        sa.Column("correlation_id", sa.String(36), nullable=True),
        sa.Column("custom_fields", sa.JSON(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("mitigated_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.Column("reopened_at", TS, nullable=True),
        sa.Column("sla_started_at", TS, nullable=False),
        sa.Column("ack_breached_at", TS, nullable=True),
        sa.Column("resolve_breached_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_im_incidents"),
    )
    op.create_index("ix_im_incidents_status_id", "im_incidents", ["status", "id"])
    op.create_index("ix_im_incidents_severity_id", "im_incidents", ["severity", "id"])
    op.create_table(
        "im_incident_services",
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("service_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["im_incidents.id"],
            name="fk_im_incident_services_incident_id_im_incidents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["service_id"],
            ["im_services.id"],
            name="fk_im_incident_services_service_id_im_services",
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("incident_id", "service_id", name="pk_im_incident_services"),
    )
    op.create_index(
        "ix_im_incident_services_service", "im_incident_services", ["service_id", "incident_id"]
    )
    op.create_table(
        "im_timeline",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["im_incidents.id"],
            name="fk_im_timeline_incident_id_im_incidents",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_im_timeline"),
    )
    op.create_index("ix_im_timeline_incident_id", "im_timeline", ["incident_id", "id"])
    op.create_table(
        "im_sla_policies",
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("ack_seconds", sa.Integer(), nullable=False),
        sa.Column("resolve_seconds", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("severity", name="pk_im_sla_policies"),
    )
    op.create_table(
        "im_api_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_im_api_tokens"),
        sa.UniqueConstraint("name", name="uq_im_api_tokens_name"),
        sa.UniqueConstraint("token_hash", name="uq_im_api_tokens_token_hash"),
    )


def downgrade() -> None:
    op.drop_table("im_api_tokens")
    op.drop_table("im_sla_policies")
    op.drop_index("ix_im_timeline_incident_id", table_name="im_timeline")
    op.drop_table("im_timeline")
    op.drop_index("ix_im_incident_services_service", table_name="im_incident_services")
    op.drop_table("im_incident_services")
    op.drop_index("ix_im_incidents_severity_id", table_name="im_incidents")
    op.drop_index("ix_im_incidents_status_id", table_name="im_incidents")
    op.drop_table("im_incidents")
    op.drop_table("im_services")
    op.drop_table("im_counters")
