"""Tables of the connectors domain (SQLAlchemy Core, on pagerbridge's one metadata).

- ``connectors``: one row per connector (``prod-pagerduty``, ``staging-pd``): its non-secret
  settings as JSON, its secrets as one encrypted blob, and the fingerprint of the key that
  encrypted them (a wrong key is a clear error, not garbage).
- ``connector_service_mappings``: local service name → PagerDuty service (and, optionally, the
  escalation policy incidents of that service use).
- ``connector_links``: a local incident ↔ its PagerDuty incident, one per mapped service. A link
  exists from the moment the create is queued (``incident_key`` is known then), so a retried
  create finds it and never makes a second PagerDuty incident.
- ``connector_tokens``: OAuth access/refresh tokens, encrypted, shared by every process.
- ``connector_activity``: what the connector did (synced, error, ...), for ``status`` and
  ``health``; pruned by age.
- ``connector_settings``: per-database values (the install id in every ``incident_key``).

Times are Unix epoch seconds (as in the outbox): comparable across SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from pagerbridge.store.metadata import metadata


def _connector_fk() -> sa.ForeignKey:
    return sa.ForeignKey("connectors.id", ondelete="CASCADE")


connectors_table = sa.Table(
    "connectors",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(100), nullable=False, unique=True),
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
)

connector_service_mappings_table = sa.Table(
    "connector_service_mappings",
    metadata,
    sa.Column("connector_id", sa.Integer(), _connector_fk(), primary_key=True),
    sa.Column("im_service", sa.String(100), primary_key=True),
    sa.Column("pd_service_id", sa.String(64), nullable=True),
    sa.Column("escalation_policy_id", sa.String(64), nullable=True),
)

connector_links_table = sa.Table(
    "connector_links",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("connector_id", sa.Integer(), _connector_fk(), nullable=False),
    sa.Column(
        "incident_id",
        sa.Integer(),
        sa.ForeignKey("im_incidents.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("pd_service_id", sa.String(64), nullable=False),
    sa.Column("incident_key", sa.String(255), nullable=False),
    sa.Column("correlation_id", sa.String(64), nullable=False),
    sa.Column("pd_incident_id", sa.String(64), nullable=True),
    sa.Column("pd_incident_number", sa.BigInteger(), nullable=True),
    sa.Column("pd_html_url", sa.Text(), nullable=True),
    sa.Column("pd_status", sa.String(16), nullable=True),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
    sa.UniqueConstraint(
        "connector_id", "incident_id", "pd_service_id", name="uq_connector_links_incident"
    ),
    sa.Index("ix_connector_links_pd_incident", "connector_id", "pd_incident_id"),
    sa.Index("ix_connector_links_incident_key", "incident_key"),
)

connector_tokens_table = sa.Table(
    "connector_tokens",
    metadata,
    sa.Column("connector_id", sa.Integer(), _connector_fk(), primary_key=True),
    sa.Column("access_token", sa.Text(), nullable=True),
    sa.Column("expires_at", sa.Double(), nullable=True),
    sa.Column("refresh_token", sa.Text(), nullable=True),
    sa.Column("scopes", sa.Text(), nullable=True),
    sa.Column("updated_at", sa.Double(), nullable=False),
)

connector_activity_table = sa.Table(
    "connector_activity",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("connector_id", sa.Integer(), _connector_fk(), nullable=False),
    sa.Column("at", sa.Double(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("incident_id", sa.Integer(), nullable=True),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Index("ix_connector_activity_connector_at", "connector_id", "at"),
)

connector_settings_table = sa.Table(
    "connector_settings",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
)

# -- part 2: PagerDuty's changes flowing back (webhooks, reconcile, logs) -------------------------

connector_subscriptions_table = sa.Table(
    "connector_subscriptions",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("connector_id", sa.Integer(), _connector_fk(), nullable=False),
    #: PagerDuty's id of the v3 webhook subscription.
    sa.Column("pd_subscription_id", sa.String(64), nullable=False),
    #: The subscription's signing secret, encrypted with the connector's SecretBox.
    sa.Column("secret", sa.Text(), nullable=False),
    sa.Column("key_fingerprint", sa.String(64), nullable=False),
    sa.Column("url", sa.Text(), nullable=False),
    #: ``active``, or ``retiring`` (rotation: deleted after the new one's first verified event).
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Double(), nullable=False),
    sa.Column("first_verified_at", sa.Double(), nullable=True),
    sa.Column("last_received_at", sa.Double(), nullable=True),
    sa.UniqueConstraint("pd_subscription_id", name="uq_connector_subscriptions_pd"),
)

connector_webhook_events_table = sa.Table(
    "connector_webhook_events",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("connector_id", sa.Integer(), _connector_fk(), nullable=False),
    #: PagerDuty's event id (``event.id``): retries of one event fold into one row.
    sa.Column("event_id", sa.String(128), nullable=False),
    sa.Column("event_type", sa.String(64), nullable=False),
    sa.Column("pd_incident_id", sa.String(64), nullable=True),
    sa.Column("occurred_at", sa.String(40), nullable=True),
    sa.Column("received_at", sa.Double(), nullable=False),
    #: The raw body, exactly as signed.
    sa.Column("payload", sa.Text(), nullable=False),
    #: ``pending``, ``applied``, ``ignored`` (nothing to do, e.g. our own echo), ``error``.
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("result", sa.Text(), nullable=True),
    sa.Column("applied_at", sa.Double(), nullable=True),
    sa.UniqueConstraint("connector_id", "event_id", name="uq_connector_webhook_events_event"),
    sa.Index("ix_connector_webhook_events_state", "state", "id"),
)

connector_logs_table = sa.Table(
    "connector_logs",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("at", sa.Double(), nullable=False),
    sa.Column("connector", sa.String(100), nullable=True),
    #: ``webhook``, ``sync``, ``reconcile``, ``api``, ``sla`` (``im logs --component``).
    sa.Column("component", sa.String(32), nullable=False),
    sa.Column("level", sa.String(8), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("data", sa.Text(), nullable=True),
    sa.Index("ix_connector_logs_at", "at"),
)

connector_state_table = sa.Table(
    "connector_state",
    metadata,
    sa.Column("connector_id", sa.Integer(), _connector_fk(), primary_key=True),
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=False),
    sa.Column("updated_at", sa.Double(), nullable=False),
)
