"""Test helpers shipped with the package: run a real hub on a free loopback port.

with running_hub("sqlite:///tmp/x.db") as hub:
    token = hub.create_token("tests")
    urllib.request.urlopen(hub.url + "/health")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI

from pagerbridge.server.app import create_app

START_TIMEOUT = 30.0


@dataclass
class Hub:
    url: str
    app: FastAPI

    def create_token(self, name: str = "tests") -> str:
        """A new API token, made directly in the hub's database."""
        from pagerbridge.incidents.commands import Commands

        created = Commands(self.app.state.sessions, actor="tests", origin="local").token_create(
            name
        )
        return str(created["token"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_hub(database_url: str, **options: Any) -> Iterator[Hub]:
    """A uvicorn server running :func:`create_app` in a background thread, stopped on exit."""
    import uvicorn

    app = create_app(database_url=database_url, **options)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="pagerbridge-hub", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the hub did not start (see its log above)")
        time.sleep(0.02)
    try:
        yield Hub(f"http://127.0.0.1:{port}", app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
