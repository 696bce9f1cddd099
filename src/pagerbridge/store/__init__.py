"""pagerbridge's one database: engine, shared metadata and migrations.

Domains (outbox, incidents, connectors) define their tables on :data:`metadata` and their
migrations live in ``store/migrations/versions``. SQLite is the embedded default; PostgreSQL is
used through its URL.
"""
