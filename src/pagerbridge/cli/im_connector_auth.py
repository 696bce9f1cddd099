"""``im connector authorize NAME``: connect an ``oauth_user`` connector to PagerDuty in a browser.

Prints PagerDuty's authorize address (PKCE S256 and a ``state``; ``--open`` tries to open it),
whose redirect comes back to the hub's ``/connectors/NAME/oauth/callback``; then waits (up to
``--timeout``, or not at all with ``--no-wait``) until the hub has stored the tokens. The hub
must run at ``--hub-url`` (default: the connector's ``public_url``, else
``$PAGERBRIDGE_SERVER``, else http://127.0.0.1:8080) and share this command's database.

Registered under ``im connector`` as ``authorize`` (:func:`authorize_command`).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Mapping
from typing import Annotated, Final, TextIO

import typer

from pagerbridge.cli._common import run_guarded
from pagerbridge.cli.im_options import DbOpt, JsonOpt
from pagerbridge.errors import ConnectorError

SERVER_ENV: Final = "PAGERBRIDGE_SERVER"
DEFAULT_TIMEOUT: Final = 300.0
POLL_INTERVAL: Final = 0.25


def hub_address(
    hub_url: str | None, public_url: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """Where PagerDuty should send the browser back: ``--hub-url``, the connector's
    ``public_url``, ``$PAGERBRIDGE_SERVER``, else the hub's default address."""
    from pagerbridge.connectors.oauth_grant import DEFAULT_HUB_URL

    env = os.environ if environ is None else environ
    return (hub_url or public_url or env.get(SERVER_ENV) or DEFAULT_HUB_URL).rstrip("/")


def _say(out: TextIO, as_json: bool, text: str) -> None:
    if not as_json:
        print(text, file=out, flush=True)


def run_authorize(
    name: str,
    *,
    database_url: str,
    hub_url: str | None = None,
    open_browser: bool = False,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    as_json: bool = False,
    environ: Mapping[str, str] | None = None,
    out: TextIO | None = None,
) -> dict[str, object]:
    """Start the grant, print where to go, and (with ``wait``) wait for the hub to finish it.

    Returns what ``--json`` prints; raises ConnectorError when PagerDuty refuses, another
    authorization replaces this one, or the deadline passes."""
    from sqlalchemy.exc import DBAPIError

    from pagerbridge.connectors import oauth_grant
    from pagerbridge.connectors.records import load
    from pagerbridge.connectors.secrets import SecretBox
    from pagerbridge.errors import StorageError
    from pagerbridge.store.engine import make_engine, redact_url
    from pagerbridge.store.migrate import check_current

    stream = out or sys.stdout
    engine = make_engine(database_url)
    try:
        try:
            check_current(engine)
        except DBAPIError as exc:
            raise StorageError(
                f"cannot open database {redact_url(database_url)}: {exc.orig}"
            ) from exc
        box = SecretBox.from_environment(database_url, environ)
        with engine.begin() as conn:
            record = load(conn, name)
            base = hub_address(hub_url, record.settings.public_url, environ)
            started = oauth_grant.start(conn, name, box, hub_url=base)
        result: dict[str, object] = {
            "connector": name,
            "authorize_url": started.authorize_url,
            "redirect_uri": started.redirect_uri,
            "status": "pending",
        }
        _say(stream, as_json, "Open this address in a browser and allow pagerbridge access:\n")
        _say(stream, as_json, f"  {started.authorize_url}\n")
        _say(
            stream,
            as_json,
            f"PagerDuty sends you back to {started.redirect_uri} (the hub must run there).",
        )
        if open_browser:
            import webbrowser

            if not webbrowser.open(started.authorize_url):
                _say(stream, as_json, "Could not open a browser: open the address yourself.")
        if not wait:
            if as_json:
                print(json.dumps(result), file=stream, flush=True)
            return result
        minutes = f"{timeout / 60:g} min" if timeout >= 60 else f"{timeout:g} s"
        _say(stream, as_json, f"Waiting up to {minutes} for the grant (Ctrl-C to stop)…")
        deadline = time.monotonic() + timeout
        while True:
            with engine.connect() as conn:
                state, detail = oauth_grant.status(conn, name, box, started.attempt)
            if state == "connected":
                break
            if state != "pending":
                raise ConnectorError(f"connector {name!r} was not authorized: {detail}")
            if time.monotonic() >= deadline:
                raise ConnectorError(
                    f"no answer from PagerDuty through the hub within {minutes}: is the hub "
                    f"running at {base} on this database? Run `im connector authorize {name}` "
                    "again"
                )
            time.sleep(POLL_INTERVAL)
        result["status"] = "connected"
        result["scopes"] = detail.split()
        if as_json:
            print(json.dumps(result), file=stream, flush=True)
        else:
            _say(stream, as_json, f"✓ Connected: {name} holds a PagerDuty user token ({detail})")
        return result
    finally:
        engine.dispose()


def authorize_command(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The oauth_user connector.")],
    hub_url: Annotated[
        str | None,
        typer.Option(
            "--hub-url",
            metavar="URL",
            help="The hub's address PagerDuty redirects to (default: the connector's public_url,"
            f" else ${SERVER_ENV}, else http://127.0.0.1:8080).",
            show_default=False,
        ),
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Try to open the address in a browser.")
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Print the address and return at once.")
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="SECONDS", min=1, help="How long to wait for the grant."),
    ] = DEFAULT_TIMEOUT,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Connect an oauth_user connector: open PagerDuty's consent page, wait for the hub."""
    from pagerbridge.paths import resolve_database_url

    run_guarded(
        lambda: run_authorize(
            name,
            database_url=resolve_database_url(db),
            hub_url=hub_url,
            open_browser=open_browser,
            wait=not no_wait,
            timeout=timeout,
            as_json=as_json,
        )
    )
