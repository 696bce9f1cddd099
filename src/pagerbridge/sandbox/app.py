"""The sandbox as one Starlette app: Events API, REST API, OAuth, admin endpoints, a status page.

Starlette rather than FastAPI so ``pagerbridge sandbox`` is ready in well under a second.
Outgoing webhooks (``webhooks_out``) and OAuth (``oauth``) are helper modules wired in here.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from pagerbridge.sandbox import admin, events_api, page
from pagerbridge.sandbox.gate import Gate
from pagerbridge.sandbox.options import SandboxOptions
from pagerbridge.sandbox.rest_common import RestError, rest_error_handler
from pagerbridge.sandbox.runtime import Runtime
from pagerbridge.sandbox.state import Clock, utc_now

log = logging.getLogger("pagerbridge.sandbox")


def rest_routes() -> list[BaseRoute]:
    from pagerbridge.sandbox.rest_directory import routes as directory_routes
    from pagerbridge.sandbox.rest_incidents import routes as incident_routes
    from pagerbridge.sandbox.rest_misc import routes as misc_routes
    from pagerbridge.sandbox.rest_schedules import routes as schedule_routes

    return [*incident_routes(), *directory_routes(), *schedule_routes(), *misc_routes()]


def create_app(options: SandboxOptions | None = None, *, clock: Clock = utc_now) -> Starlette:
    """Build a sandbox app; ``app.state.runtime`` is its live state (see ``runtime.Runtime``)."""
    options = options or SandboxOptions()
    runtime = Runtime(options, clock=clock)
    routes: list[BaseRoute] = [
        Route("/v2/enqueue", events_api.enqueue, methods=["POST"]),
        Route("/v2/change/enqueue", events_api.change_enqueue, methods=["POST"]),
        *admin.admin_routes(),
        Route("/", page.index, methods=["GET"]),
    ]
    on_start: list[Callable[[], Any]] = []
    on_stop: list[Callable[[], Any]] = []
    webhooks = None
    if not options.sink:
        routes += _oauth(runtime)
        routes += rest_routes()
        webhooks = _webhooks(runtime, clock)
        if webhooks is not None:
            on_start.append(webhooks.start)
            on_stop.append(webhooks.stop)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        for start in on_start:
            await start()
        try:
            yield
        finally:
            for stop in on_stop:
                await stop()
            if options.state_file is not None:
                runtime.save(options.state_file)
                log.info("sandbox state saved to %s", options.state_file)

    app = SandboxApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={RestError: rest_error_handler},
    )
    app.state.runtime = runtime
    app.state.webhooks = webhooks
    app.gate = Gate(super(SandboxApp, app).__call__, runtime)
    return app


class SandboxApp(Starlette):
    """Starlette with the :class:`Gate` outermost, so it sees the server's own ``send``.

    (A dropped-connection fault needs the transport behind it; Starlette's middleware stack
    would wrap ``send`` first.)
    """

    gate: Gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.gate(scope, receive, send)


def _oauth(runtime: Runtime) -> list[BaseRoute]:
    """OAuth endpoints and Bearer validation (helper module ``sandbox.oauth``)."""
    from pagerbridge.sandbox.oauth import OAuthClient, TokenStore, oauth_routes

    clients = [
        OAuthClient(c["client_id"], c["client_secret"])
        for c in runtime.state.oauth_clients.values()
    ]
    store = TokenStore(clients, api_url=runtime.options.url)
    runtime.bearer_validators.append(store.validate_bearer)
    return list(oauth_routes(store))


def _webhooks(runtime: Runtime, clock: Clock) -> Any:
    """The outgoing v3 webhook dispatcher, reading subscriptions live from the state."""
    from pagerbridge.sandbox.webhooks_out import WebhookDispatcher

    dispatcher = WebhookDispatcher(
        lambda: list(runtime.state.webhook_subscriptions.values()), now=clock
    )
    runtime.publishers.append(dispatcher.publish)
    return dispatcher
