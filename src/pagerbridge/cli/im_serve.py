"""``im serve``: run the hub (FastAPI on uvicorn). Loaded only by this command."""

from __future__ import annotations

import os
import socket
from typing import Final

from fastapi import FastAPI

from pagerbridge.errors import PagerbridgeError

#: Handed from ``im serve`` to worker processes, which build the app through :func:`factory`.
_URL_ENV: Final = "PAGERBRIDGE_SERVE_DATABASE_URL"
_SLA_ENV: Final = "PAGERBRIDGE_SERVE_SLA_INTERVAL"


def factory() -> FastAPI:
    """App factory for uvicorn's worker processes (the parent already migrated)."""
    from pagerbridge.server.app import create_app

    interval = float(os.environ[_SLA_ENV])
    return create_app(
        database_url=os.environ[_URL_ENV], migrate=False, sla_interval=interval or None
    )


def check_port_free(host: str, port: int) -> None:
    """Fail with one clear line (not uvicorn's exit 3) when the address cannot be listened on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise PagerbridgeError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def serve(
    *, host: str, port: int, db: str | None, workers: int, sla_interval: float, access_log: bool
) -> None:
    import uvicorn

    from pagerbridge.paths import resolve_database_url
    from pagerbridge.server.app import create_app
    from pagerbridge.store.engine import make_engine, redact_url
    from pagerbridge.store.migrate import upgrade

    check_port_free(host, port)
    url = resolve_database_url(db)
    print(f"hub: database {redact_url(url)}; API on http://{host}:{port}/api/v1 (docs: /docs)")
    # Migrate here, not in the app's start-up, so a database problem is one clear line.
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    if workers == 1:
        app = create_app(database_url=url, migrate=False, sla_interval=sla_interval or None)
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log)
        return
    os.environ[_URL_ENV] = url
    os.environ[_SLA_ENV] = str(sla_interval)
    uvicorn.run(
        "pagerbridge.cli.im_serve:factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=access_log,
    )
