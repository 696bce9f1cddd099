"""Run several ASGI apps (agent, hub, sandbox) on uvicorn servers in ONE event loop.

uvicorn's ``Server.serve`` installs its own SIGINT/SIGTERM handlers, which cannot work for
several servers at once; :class:`QuietServer` leaves signals to the caller (one
``asyncio.Event`` for the whole process). Sockets are bound here, before serving and before any
banner, so a busy port is one line (:class:`CannotListen`, with a hint) in every server
(``pagerbridge up/agent/sandbox``, ``im serve``) instead of uvicorn's ``[Errno 98]`` and exit 3.
uvicorn gets ``log_config=None``: its lines go through the process's one log format
(:mod:`pagerbridge.logs`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import gc
import logging
import signal
import socket
from collections.abc import Callable, Coroutine, Generator, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from pagerbridge.errors import PagerbridgeError

log = logging.getLogger(__name__)

#: Seconds an HTTP server waits for in-flight requests on shutdown before cancelling them.
GRACEFUL_HTTP_SECONDS = 10.0


class QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process supervisor."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def run_loop(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``main()`` to completion on uvloop when installed (as uvicorn would), else asyncio."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it
        asyncio.run(main())
        return
    uvloop.run(main())


def freeze_heap() -> None:
    """Put every object alive now (modules, the app, its caches) out of the garbage collector's
    reach. Why: each full collection walked them all, 45 to 120 ms with the event loop stopped —
    the whole p99 of the hub's webhook answers. Called once a server is up."""
    gc.collect()
    gc.freeze()


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


class CannotListen(PagerbridgeError):
    """An address cannot be listened on: says which, why, and (``hint``) what to do."""

    def __init__(self, where: str, reason: str, hint: str | None) -> None:
        self.hint = hint
        super().__init__(f"cannot listen on {where}: {reason}")


def _listen_hint(code: int | None, host: str, port: int, option: str) -> str | None:
    if code == errno.EADDRINUSE:
        return (
            f"another process listens there (`ss -ltnp 'sport = :{port}'` names it): "
            f"stop it, or choose another address with {option}"
        )
    if code == errno.EACCES:
        return f"ports below 1024 need root or CAP_NET_BIND_SERVICE; choose another with {option}"
    if code in (errno.EADDRNOTAVAIL, socket.EAI_NONAME):
        return f"{host} is not an address of this machine; choose another with {option}"
    return None


def bind(host: str, port: int, *, option: str = "--listen") -> socket.socket:
    """A listening TCP socket; a failure is :class:`CannotListen` naming the address and, in its
    hint, ``option`` (the flag that chooses another)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if family == socket.AF_INET6 else f"{host}:{port}"
        reason = exc.strerror or str(exc)
        reason = reason[:1].lower() + reason[1:]
        hint = _listen_hint(exc.errno, host, port, option)
        raise CannotListen(where, reason, hint) from exc
    sock.setblocking(False)
    return sock


def _uvicorn_level() -> str:
    """uvicorn's own loggers stay at warning (its INFO lines repeat ours) unless debugging."""
    level = logging.getLogger().level
    return "debug" if logging.NOTSET < level <= logging.DEBUG else "warning"


@dataclass
class Served:
    """One app on one address, ready to serve."""

    name: str
    app: Any
    sock: socket.socket
    tls: tuple[str, str] | None = None  # (certificate file, key file)
    access_log: bool = False
    server: QuietServer = field(init=False)

    def __post_init__(self) -> None:
        cert, key = self.tls or (None, None)
        config = uvicorn.Config(
            self.app,
            loop=_loop_choice(),
            http=_http_choice(),
            lifespan="auto",
            access_log=self.access_log,
            log_config=None,  # the process's own format (pagerbridge.logs), not uvicorn's
            log_level=_uvicorn_level(),
            server_header=False,
            timeout_graceful_shutdown=int(GRACEFUL_HTTP_SECONDS),
            ssl_certfile=cert,
            ssl_keyfile=key,
        )
        if self.access_log:  # uvicorn logs requests at info; its other lines stay at warning
            logging.getLogger("uvicorn.access").setLevel(logging.INFO)
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
        scheme = "https" if self.tls else "http"
        return (
            f"{scheme}://[{host}]:{self.port}" if ":" in host else f"{scheme}://{host}:{self.port}"
        )


def serve_app(
    name: str,
    app: Any,
    host: str,
    port: int,
    *,
    tls: tuple[str, str] | None = None,
    option: str = "--listen",
    access_log: bool = False,
) -> Served:
    return Served(name, app, bind(host, port, option=option), tls, access_log)


async def _serve(served: Served) -> None:
    try:
        await served.server.serve(sockets=[served.sock])
    except SystemExit:  # uvicorn's answer to a failed lifespan start-up (it logged why)
        raise PagerbridgeError(
            f"the {served.name} failed to start on {served.url} (see the log above)"
        ) from None


async def start(served: Served) -> asyncio.Task[None]:
    """Start serving in a task and wait until the server accepts connections."""
    task = asyncio.create_task(_serve(served), name=served.name)
    while not served.server.started:
        if task.done():
            task.result()  # raises what made start-up fail
            raise PagerbridgeError(f"the {served.name} stopped during start-up")
        await asyncio.sleep(0.01)
    log.info("%s listening on %s", served.name, served.url)
    return task


async def stop(served: Served, task: asyncio.Task[None]) -> None:
    """Stop accepting, let in-flight requests finish (bounded), wait for the server task."""
    served.server.should_exit = True
    with contextlib.suppress(asyncio.CancelledError, SystemExit):
        await task
    log.info("%s stopped", served.name)


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


Background = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def run_services(
    stop_event: asyncio.Event,
    *,
    front: Sequence[Served],
    background: Sequence[Background] = (),
    back: Sequence[Served] = (),
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve until ``stop_event`` (or a server dies), then shut down in dependency order.

    ``back`` servers (the sandbox) start first and stop last, so the worker's in-flight calls to
    them can finish; ``front`` servers (agent, hub) stop accepting first and finish their
    requests; then ``background`` tasks (the delivery worker) are told to stop and awaited.
    """
    tasks: dict[asyncio.Task[None], Served] = {}
    bg_stop = asyncio.Event()
    bg_tasks: list[asyncio.Task[None]] = []

    def force() -> None:
        for served in (*front, *back):
            served.server.force_exit = True

    with stop_on_signals(stop_event, force):
        try:
            for served in back:
                tasks[await start(served)] = served
            bg_tasks = [asyncio.create_task(job(bg_stop)) for job in background]
            for served in front:
                tasks[await start(served)] = served
            freeze_heap()
            if on_ready is not None:
                on_ready()
            waiter = asyncio.create_task(stop_event.wait())
            done, _ = await asyncio.wait(
                [waiter, *tasks, *bg_tasks], return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            for task in done:
                if task is not waiter and task.exception() is not None:
                    raise PagerbridgeError(
                        f"{task.get_name()} stopped unexpectedly: {task.exception()}"
                    ) from task.exception()
        finally:
            front_tasks = [(t, s) for t, s in tasks.items() if s in front]
            await asyncio.gather(*(stop(s, t) for t, s in front_tasks))
            bg_stop.set()
            for result in await asyncio.gather(*bg_tasks, return_exceptions=True):
                if isinstance(result, Exception):
                    log.error("background task failed while stopping: %r", result)
            back_tasks = [(t, s) for t, s in tasks.items() if s in back]
            await asyncio.gather(*(stop(s, t) for t, s in back_tasks))
