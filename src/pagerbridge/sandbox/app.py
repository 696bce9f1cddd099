"""The sandbox as one Starlette app: Events API, REST API, OAuth, admin endpoints, a status page.

Starlette rather than FastAPI so ``pagerbridge sandbox`` is ready in well under a second.
Outgoing webhooks (``webhooks_out``) and OAuth (``oauth``) are helper modules wired in here.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from pagerbridge.sandbox import admin, events_api, page
from pagerbridge.sandbox.gate import Gate
from pagerbridge.sandbox.options import SandboxOptions
from pagerbridge.sandbox.rest_common import (
    RestError,
    client_gone_handler,
    http_error_handler,
    internal_error_handler,
    rest_error_handler,
)
from pagerbridge.sandbox.runtime import Runtime
from pagerbridge.sandbox.state import Clock, utc_now
from pagerbridge.sandbox.timers import advance

log = logging.getLogger("pagerbridge.sandbox")


def rest_routes() -> list[BaseRoute]:
    from pagerbridge.sandbox.rest_audit import routes as audit_routes
    from pagerbridge.sandbox.rest_custom_fields import routes as custom_field_routes
    from pagerbridge.sandbox.rest_directory import routes as directory_routes
    from pagerbridge.sandbox.rest_incidents import routes as incident_routes
    from pagerbridge.sandbox.rest_misc import routes as misc_routes
    from pagerbridge.sandbox.rest_schedules import routes as schedule_routes

    return [
        *custom_field_routes(),  # before /incidents/{id}, which would take "custom_fields"
        *incident_routes(),
        *directory_routes(),
        *schedule_routes(),
        *misc_routes(),
        *audit_routes(),
    ]


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
    deferred = DeferredPublisher()
    if not options.sink:
        routes += _oauth(runtime)
        routes += rest_routes()
        runtime.publishers.append(deferred)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tasks: list[asyncio.Task[None]] = []
        if not options.sink:
            tasks.append(asyncio.create_task(_start_webhooks(app, runtime, clock, deferred)))
        if not options.sink:
            tasks.append(asyncio.create_task(_tick(runtime)))
        if options.state_file is not None:
            tasks.append(asyncio.create_task(_autosave(runtime, options.state_file)))
        for task in tasks:
            task.add_done_callback(_report_failure)
        try:
            yield
        finally:
            for task in tasks:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
            if app.state.webhooks is not None:
                await app.state.webhooks.stop()
            if options.state_file is not None:
                runtime.save(options.state_file)
                log.info("sandbox state saved to %s", options.state_file)

    app = SandboxApp(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            RestError: rest_error_handler,
            ClientDisconnect: client_gone_handler,
            Exception: internal_error_handler,
            404: http_error_handler,
            405: http_error_handler,
        },
    )
    app.state.runtime = runtime
    app.state.webhooks = None
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
    runtime.reset_hooks.append(store.revoke_all)
    return list(oauth_routes(store))


#: With ``--state``, changes are written at most this many seconds after they happen.
AUTOSAVE_INTERVAL = 1.0
#: How often escalations and timeouts are applied when no request arrives.
TICK_INTERVAL = 1.0


def _report_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("sandbox background task failed: %s", task.exception(), exc_info=task.exception())


async def _tick(runtime: Runtime) -> None:
    """Apply due escalations and timeouts even when no request comes in."""
    while True:
        await asyncio.sleep(TICK_INTERVAL)
        try:
            advance(runtime.state)
        except Exception:  # keep ticking: one bad deadline must not stop time
            log.exception("applying the sandbox's incident deadlines failed")


async def _autosave(runtime: Runtime, path: Path) -> None:
    """Save the state when a write request came in since the last save (and at shutdown).

    The snapshot is serialised on the event loop (where the state lives, so it is consistent);
    the write, fsync and rename run in a thread so requests are not held up by the disk.
    """
    saved = runtime.version
    while True:
        await asyncio.sleep(AUTOSAVE_INTERVAL)
        if runtime.version != saved:
            saved = runtime.version
            text = runtime.serialise()
            try:
                await asyncio.to_thread(runtime.write, path, text)
            except OSError as exc:
                log.error("cannot save the sandbox state to %s: %s", path, exc)


class DeferredPublisher:
    """Holds changes published before the webhook dispatcher is loaded, then forwards them.

    The dispatcher (aiohttp, the webhook models) is imported after the server is listening, so
    ``pagerbridge sandbox`` answers sooner; nothing published meanwhile is lost.
    """

    def __init__(self) -> None:
        self.target: Callable[..., Any] | None = None
        self.pending: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        if self.target is None:
            self.pending.append((args, kwargs))
        else:
            self.target(*args, **kwargs)

    def attach(self, target: Callable[..., Any]) -> None:
        self.target = target
        pending, self.pending = self.pending, []
        for args, kwargs in pending:
            target(*args, **kwargs)


async def _start_webhooks(
    app: Starlette, runtime: Runtime, clock: Clock, deferred: DeferredPublisher
) -> None:
    """Import, build and start the outgoing v3 webhook dispatcher; subscriptions read live."""
    module = await asyncio.to_thread(importlib.import_module, "pagerbridge.sandbox.webhooks_out")
    dispatcher = module.WebhookDispatcher(
        lambda: list(runtime.state.webhook_subscriptions.values()),
        now=clock,
        drop_on_purpose=runtime.faults.take_webhook_drop,
    )
    await dispatcher.start()
    app.state.webhooks = dispatcher
    deferred.attach(dispatcher.publish)
