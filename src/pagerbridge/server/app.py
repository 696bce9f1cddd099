"""The hub: one FastAPI app composing the domain routers; `pagerbridge up` and `im serve` run it.

:func:`create_app` takes everything it needs as arguments (no global configuration). On start-up
it migrates the database (or only checks it, with ``migrate=False``) and starts the periodic SLA
check; ``/health`` answers without a token, ``/metrics`` with one (:mod:`probes`). Every request
passes the body guard (:mod:`guard`) and is counted (:mod:`metrics`). Each route is declared once,
FastAPI's or plain (:mod:`hot`); the OpenAPI document describes both (:mod:`openapi`), and
``/docs`` and ``/redoc`` load their scripts, styles and favicon from the hub itself (the
``fastapi-offline`` package ships them), so they work without the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, Final

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from pagerbridge import __version__
from pagerbridge.connectors.outbound import OutboundSync
from pagerbridge.connectors.webhook_intake import WebhookIntake
from pagerbridge.incidents import dberrors
from pagerbridge.incidents.views import build_router
from pagerbridge.server import (
    connector_oauth,
    connector_webhooks,
    errors,
    hot,
    openapi,
    pool,
    probes,
)
from pagerbridge.server.auth import TokenAuth, authenticate
from pagerbridge.server.guard import BodyGuard
from pagerbridge.server.metrics import HubMetrics, RequestMetrics, RouteTemplates
from pagerbridge.store.engine import is_postgresql, make_engine

log = logging.getLogger("pagerbridge.server")

SLA_INTERVAL: Final = 30.0
#: Database connections per hub process: FastAPI runs the (synchronous) handlers on anyio's
#: default 40 worker threads, so the pool can lend each of them one. The state-change routes
#: (pagerbridge.server.hot) run at most POOL_SIZE at once, so under load they reuse pooled
#: connections instead of opening and closing overflow ones (a PostgreSQL backend each).
POOL_SIZE: Final = 16
POOL_OVERFLOW: Final = 24
#: Seconds to wait for a PostgreSQL connection: a database that does not answer is a 503 soon,
#: not a request hanging for the operating system's TCP timeout.
CONNECT_TIMEOUT: Final = 10
API_PREFIX: Final = "/api/v1"
#: Where /docs and /redoc load their scripts, styles and favicon from (served by the hub).
DOCS_ASSETS: Final = "/docs-assets"
#: Swagger UI without its validator badge (an image from validator.swagger.io). The token given
#: to "Authorize" is not persisted (Swagger UI would keep it in the browser's localStorage).
SWAGGER_UI: Final = {"validatorUrl": None}


def _check_sla(sessions: sessionmaker[Any], clock: Callable[[], datetime] | None) -> int:
    from pagerbridge.incidents.sla import check_sla

    with sessions.begin() as session:
        now = clock() if clock else None  # breaches are told to PagerDuty (issue 14 item 7)
        return len(check_sla(session=session, now=now, listener=OutboundSync()))


async def _sla_loop(
    sessions: sessionmaker[Any], interval: float, clock: Callable[[], datetime] | None
) -> None:
    while True:
        try:
            found = await asyncio.to_thread(_check_sla, sessions, clock)
            if found:
                log.info("SLA check: %d breach(es) recorded", found)
        except Exception as exc:  # keep checking; the next round may succeed
            log.error("SLA check failed: %s", dberrors.describe(exc))
        await asyncio.sleep(interval)


def _hot_concurrency(engine: Engine) -> int:
    """The pool's size (PostgreSQL); SQLite opens a connection per use and has no pool size."""
    size = getattr(engine.pool, "size", None)
    return int(size()) if callable(size) else POOL_SIZE


def create_app(
    *,
    database_url: str,
    migrate: bool = True,
    require_auth: bool = True,
    sla_interval: float | None = SLA_INTERVAL,
    clock: Callable[[], datetime] | None = None,
    engine_options: dict[str, Any] | None = None,
    run_connectors: bool = True,
) -> FastAPI:
    """The hub application for ``database_url``.

    ``require_auth=False`` lets requests without a token act as ``anonymous`` (a token that is
    sent must still be valid). ``sla_interval=None`` disables the periodic SLA check; ``clock``
    supplies "now" to it (tests). ``run_connectors`` starts the sender of the connectors' rows
    (the outbound sync to PagerDuty); incident changes queue those rows either way.
    """
    options = dict(engine_options or {})
    if is_postgresql(database_url):
        options.setdefault("pool_size", POOL_SIZE)
        options.setdefault("max_overflow", POOL_OVERFLOW)
        options.setdefault("pool_pre_ping", False)
        options.setdefault("connect_args", {"connect_timeout": CONNECT_TIMEOUT})
    engine = make_engine(database_url, **options)
    if is_postgresql(database_url) and not options["pool_pre_ping"]:
        pool.ping_when_idle(engine)
    sessions = sessionmaker(engine, expire_on_commit=False)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from pagerbridge.store import migrate as store_migrate

        if migrate:
            await asyncio.to_thread(store_migrate.upgrade, engine)
        else:
            await asyncio.to_thread(store_migrate.check_current, engine)
        task = None
        if sla_interval:
            task = asyncio.create_task(_sla_loop(sessions, sla_interval, clock))
        stop_connectors = asyncio.Event()
        connectors_task = None
        if run_connectors:
            from pagerbridge.connectors.runtime import ConnectorRuntime

            runtime = ConnectorRuntime(database_url, engine, applied=intake.committed)
            connectors_task = asyncio.create_task(runtime.run(stop_connectors))
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if connectors_task is not None:
                stop_connectors.set()
                await connectors_task
            engine.dispose()

    app = FastAPIOffline(
        title="pagerbridge hub",
        version=__version__,
        description="Incidents, services, timeline and SLA of pagerbridge's incident platform. "
        "Every call but `GET /health` needs an API token (`im token create NAME`) as "
        "`Authorization: Bearer <token>`.",
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
        swagger_ui_parameters=SWAGGER_UI,
    )
    app.state.engine = engine
    app.state.sessions = sessions
    app.state.listener = OutboundSync()
    app.state.auth = TokenAuth(sessions, required=require_auth)
    errors.install(app)

    metrics = HubMetrics()
    app.state.metrics = metrics
    probe_router = probes.build_router(probes.DatabaseProbe(engine, sessions), metrics)
    api_router = build_router()
    app.include_router(probe_router)
    app.include_router(connector_oauth.build_router())  # PagerDuty's OAuth redirect, no token
    intake = WebhookIntake(engine)
    app.state.webhook_intake = intake
    app.include_router(connector_webhooks.build_router(intake))  # signed, no token
    app.include_router(api_router, prefix=API_PREFIX, dependencies=[Depends(authenticate)])
    # The hottest routes as plain Starlette endpoints, matched first: see pagerbridge.server.hot.
    hot_routes = hot.routes(API_PREFIX, concurrency=_hot_concurrency(engine))
    app.router.routes[:0] = hot_routes
    openapi.install(app)
    # Added last, so outermost: the counter sees the guard's 413 and 422 answers too.
    app.add_middleware(BodyGuard)
    templates = RouteTemplates(hot_routes, [(probe_router, ""), (api_router, API_PREFIX)])
    app.add_middleware(RequestMetrics, metrics=metrics, templates=templates)
    # PagerDuty's deliveries skip the generic stack (see WebhookFastPath).
    app.add_middleware(connector_webhooks.WebhookFastPath, intake=intake)
    return app
