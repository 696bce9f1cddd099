"""What every ``im`` command shares: option types, the backend choice, exit codes, the error guard.

Exit codes: the shared table of :mod:`pagerbridge.cli.exits` (``exits.code_for``), printed by
``im --help``.

Kept light: only the standard library loads here (not even Typer: the lean parser of
:mod:`im_fast` uses these too); SQLAlchemy loads when a local command runs, urllib when a remote
one does, FastAPI only for ``im serve``. Typer's option types are in :mod:`im_options`.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final, NoReturn, TypeVar

from pagerbridge.cli import exits
from pagerbridge.errors import PagerbridgeError

if TYPE_CHECKING:
    from pagerbridge.incidents.commands import IncidentCommands

T = TypeVar("T")

# The shared table (pagerbridge.cli.exits), under the names im has always used.
EXIT_OK: Final = exits.OK
EXIT_ERROR: Final = exits.ERROR
EXIT_USAGE: Final = exits.USAGE
EXIT_NOT_FOUND: Final = exits.NOT_FOUND
EXIT_CONFIG: Final = exits.CONFIG
EXIT_CONFLICT: Final = exits.CONFLICT
EXIT_AUTH: Final = exits.AUTH
EXIT_UNAVAILABLE: Final = exits.UNAVAILABLE
EXIT_DATABASE: Final = exits.STORAGE

SERVER_ENV: Final = "PAGERBRIDGE_SERVER"
TOKEN_ENV: Final = "PAGERBRIDGE_TOKEN"
ACTOR_ENV: Final = "PAGERBRIDGE_ACTOR"


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)


def notice(message: str) -> None:
    print(f"notice: {message}", file=sys.stderr)


def guard(func: Callable[[], T]) -> T:
    """Run a command body; pagerbridge's errors become one line on stderr and an exit code."""
    try:
        return func()
    except PagerbridgeError as exc:
        fail(str(exc), exits.code_for(exc))
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def run_call(
    db: str | None,
    server: str | None,
    token: str | None,
    as_json: bool,
    call: Callable[[IncidentCommands], T],
    render: Callable[[T], object],
) -> None:
    """The shape of most ``im`` commands, written once: open the backend, make one ``call``, print
    its answer as JSON (``--json``) or with ``render``, all under :func:`guard`."""

    def go() -> None:
        result = call(backend(db, server, token))
        if as_json:
            from pagerbridge.cli.im_output import emit_json

            emit_json(result)
        else:
            render(result)

    guard(go)


def printer(name: str) -> Callable[[Any], None]:
    """:mod:`im_output`'s function ``name``, imported only when it prints (json, datetime and Rich
    stay unloaded on the paths that print one line)."""

    def render(data: Any) -> None:
        from pagerbridge.cli import im_output

        getattr(im_output, name)(data)

    return render


def pick_ref(positional: str | None, option: str | None) -> str:
    """The incident named positionally or with ``--incident`` (both only if they agree)."""
    if positional and option and positional.upper() != option.upper():
        fail(f"two different incidents given ({positional} and --incident {option})", EXIT_USAGE)
    ref = positional or option
    if not ref:
        fail("which incident? name it positionally (im ack INC-1) or with --incident", EXIT_USAGE)
    return ref


def actor() -> str:
    """Who is acting: $PAGERBRIDGE_ACTOR, else the login name."""
    name = os.environ.get(ACTOR_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def backend(db: str | None, server: str | None, token: str | None) -> IncidentCommands:
    """The local database's commands, or a client with the same methods for ``--server``: both
    are checked against :class:`IncidentCommands` here, so neither can lack a method the CLI
    uses."""
    if server:
        if db:
            fail("give either --db or --server, not both", EXIT_USAGE)
        from pagerbridge.cli.im_remote import RemoteCommands

        return RemoteCommands(server, token=token, actor=actor())
    from sqlalchemy.orm import sessionmaker

    from pagerbridge.connectors.outbound import OutboundSync
    from pagerbridge.incidents.commands import Commands
    from pagerbridge.paths import resolve_database_url
    from pagerbridge.store.engine import make_engine
    from pagerbridge.store.migrate import check_or_create

    engine = make_engine(resolve_database_url(db))
    _checked(lambda: check_or_create(engine), engine)
    return Commands(
        sessionmaker(engine, expire_on_commit=False),
        actor=actor(),
        origin="local",
        listener=OutboundSync(),
    )


def _checked(func: Callable[[], Any], engine: Any) -> None:
    from sqlalchemy.exc import DBAPIError

    from pagerbridge.errors import StorageError
    from pagerbridge.store.engine import redact_url

    try:
        func()
    except DBAPIError as exc:
        raise StorageError(
            f"cannot open database {redact_url(str(engine.url))}: {exc.orig}"
        ) from exc
