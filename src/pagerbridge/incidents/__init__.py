"""The incident domain: incidents, services, the timeline and SLA policies.

Per-domain modules in the Netflix Dispatch style: ``models`` (tables), ``service`` (state changes),
``catalog`` (services), ``timeline``, ``sla``, ``tokens`` (API tokens), ``serialize`` (plain dicts
for the CLI and the API), ``schemas`` (API request models) and ``views`` (the REST routers).
Service functions take the SQLAlchemy session as the keyword ``session`` and never commit: the
caller owns the transaction, so a later connector can enqueue outbox rows in the same one.

This package's ``__init__`` imports nothing heavy: ``im`` loads only what a command needs.
"""
