"""``im``: the incident-management CLI (declare, ack, resolve, close, reopen, note, list, ...).

Every command works on the local database (``--db`` / $PAGERBRIDGE_DATABASE_URL / the default
SQLite file; the schema must be current, ``pagerbridge db upgrade`` makes it so) or on a hub
(``--server`` / $PAGERBRIDGE_SERVER, token via ``--token`` / $PAGERBRIDGE_TOKEN). Exit codes: the
shared table of :mod:`pagerbridge.cli.exits`.

Start-up is the product for the hottest commands (a hook runs ``im declare`` per alert): they are
parsed by :mod:`im_fast` without loading Typer; everything else, ``--help`` and every usage error
goes to the Typer app in :mod:`im_app`.
"""

from __future__ import annotations

import sys


def run() -> None:
    from pagerbridge.cli import im_fast

    if im_fast.run(sys.argv[1:]):
        return
    from pagerbridge.cli._common import run_app
    from pagerbridge.cli.im_app import app

    run_app(app, "im")
