"""Run several ASGI apps (agent, hub, sandbox) on uvicorn servers in ONE event loop.

uvicorn's ``Server.serve`` installs its own SIGINT/SIGTERM handlers, which cannot work for
several servers at once; :class:`QuietServer` leaves signals to the caller (one
``asyncio.Event`` for the whole process). Sockets are bound here, before serving, so "address in
use" is a clear error instead of uvicorn's ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from pagerbridge.errors import PagerbridgeError

#: Seconds an HTTP server waits for in-flight requests on shutdown before cancelling them.
GRACEFUL_HTTP_SECONDS = 10.0


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process supervisor."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _loop_choice() -> str:
    try:
        import uvloop  # noqa: F401
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        return "asyncio"
    return "uvloop"


def _http_choice() -> str:
    try:
        import httptools  # noqa: F401
    except ImportError:  # pragma: no cover
        return "h11"
    return "httptools"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket; a failure says which address could not be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        raise PagerbridgeError(f"cannot listen on {where}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


@dataclass
class Served:
    """One app on one address, ready to serve."""

    name: str
    app: Any
    sock: socket.socket
    server: QuietServer = field(init=False)

    def __post_init__(self) -> None:
        config = uvicorn.Config(
            self.app,
            loop=_loop_choice(),
            http=_http_choice(),
            lifespan="auto",
            access_log=False,
            log_level="warning",
            server_header=False,
            timeout_graceful_shutdown=int(GRACEFUL_HTTP_SECONDS),
        )
        self.server = QuietServer(config)

    @property
    def host(self) -> str:
        return str(self.sock.getsockname()[0])

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        host = self.host
        return f"http://[{host}]:{self.port}" if ":" in host else f"http://{host}:{self.port}"


def serve_app(name: str, app: Any, host: str, port: int) -> Served:
    return Served(name, app, bind(host, port))


async def start(served: Served) -> asyncio.Task[None]:
    """Start serving in a task and wait until the server accepts connections."""
    task = asyncio.create_task(served.server.serve(sockets=[served.sock]), name=served.name)
    while not served.server.started:
        if task.done():
            task.result()  # raises what made start-up fail
            raise PagerbridgeError(f"{served.name} stopped during start-up")
        await asyncio.sleep(0.01)
    return task


async def stop(served: Served, task: asyncio.Task[None]) -> None:
    """Stop accepting, let in-flight requests finish (bounded), wait for the server task."""
    served.server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError, SystemExit):
        await task


@contextlib.contextmanager
def stop_on_signals(
    stop_event: asyncio.Event, on_second: Callable[[], None] | None = None
) -> Iterator[None]:
    """SIGINT/SIGTERM set ``stop_event``; a second one calls ``on_second`` (force quit)."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def handler() -> None:
        if stop_event.is_set() and on_second is not None:
            on_second()
        stop_event.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, handler)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            pass
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
