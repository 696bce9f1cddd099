"""``im serve``: run the hub (FastAPI on uvicorn). Loaded only by this command.

It serves like ``pagerbridge up`` (:mod:`pagerbridge.agent.serving`): the port is bound before
anything is printed, so a busy port is one line with a hint and exit 1, the same as every other
server; log lines take the shared format (:mod:`pagerbridge.logs`, ``--log-format json``).
"""

from __future__ import annotations

import os
from typing import Final

from fastapi import FastAPI

#: Handed from ``im serve`` to worker processes, which build the app through :func:`factory`.
_URL_ENV: Final = "PAGERBRIDGE_SERVE_DATABASE_URL"
_SLA_ENV: Final = "PAGERBRIDGE_SERVE_SLA_INTERVAL"


def factory() -> FastAPI:
    """App factory for uvicorn's worker processes (the parent already migrated); they log as
    the parent does, which exported its choice in $PAGERBRIDGE_LOG_LEVEL / _FORMAT."""
    from pagerbridge import logs
    from pagerbridge.agent.serving import freeze_heap
    from pagerbridge.server.app import create_app

    logs.setup()
    interval = float(os.environ[_SLA_ENV])
    app = create_app(
        database_url=os.environ[_URL_ENV], migrate=False, sla_interval=interval or None
    )
    freeze_heap()
    return app


def serve(
    *,
    host: str,
    port: int,
    db: str | None,
    workers: int,
    sla_interval: float,
    access_log: bool,
    log_level: str | None = None,
    log_format: str | None = None,
) -> None:
    """Run the hub until SIGINT/SIGTERM. ``log_level`` / ``log_format`` of None take
    $PAGERBRIDGE_LOG_LEVEL / $PAGERBRIDGE_LOG_FORMAT, else info / text."""
    from pagerbridge.cli._common import run_guarded, setup_logging

    setup_logging(log_level, log_format)
    run_guarded(
        lambda: _serve(
            host=host,
            port=port,
            db=db,
            workers=workers,
            sla_interval=sla_interval,
            access_log=access_log,
        )
    )


def _serve(
    *, host: str, port: int, db: str | None, workers: int, sla_interval: float, access_log: bool
) -> None:
    import asyncio

    import uvicorn

    from pagerbridge import logs
    from pagerbridge.agent.serving import Served, bind, run_loop, run_services
    from pagerbridge.paths import resolve_database_url
    from pagerbridge.server.app import create_app
    from pagerbridge.store.engine import make_engine, redact_url
    from pagerbridge.store.migrate import upgrade

    sock = bind(host, port, option="--host/--port")
    try:
        url = resolve_database_url(db)
        # Migrate here, not in the app's start-up, so a database problem is one clear line.
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
    except BaseException:
        sock.close()
        raise
    print(f"hub: database {redact_url(url)}; API on http://{host}:{port}/api/v1 (docs: /docs)")
    if workers == 1:
        app = create_app(database_url=url, migrate=False, sla_interval=sla_interval or None)
        served = Served("hub", app, sock, access_log=access_log)

        async def main() -> None:
            await run_services(asyncio.Event(), front=[served])

        run_loop(main)
        return
    sock.close()  # uvicorn's supervisor binds the address itself for its worker processes
    os.environ[_URL_ENV] = url
    os.environ[_SLA_ENV] = str(sla_interval)
    os.environ.update(logs.environment())
    uvicorn.run(
        "pagerbridge.cli.im_serve:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        log_level="info" if access_log else "warning",  # uvicorn logs requests at info
        access_log=access_log,
    )
