"""The hub's ASGI application: composes the domain routers (incidents today; webhooks, agent,
metrics and UI as they land). Entry point: :func:`pagerbridge.server.app.create_app`."""
