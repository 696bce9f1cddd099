"""``im metrics connector NAME``: the reference's metrics block, from the database.

The same figures are on the hub's ``/metrics`` for Prometheus (``pagerbridge_connector_*``,
label ``connector``); the definitions are in :mod:`pagerbridge.connectors.metrics`. Only Typer
loads with this module.
"""

from __future__ import annotations

from typing import Annotated

import typer

from pagerbridge.cli.im_connector_common import database, emit, load
from pagerbridge.cli.im_options import DbOpt, JsonOpt

metrics_app = typer.Typer(help="Figures: im metrics connector NAME.", no_args_is_help=True)


@metrics_app.command("connector")
def connector(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The connector's name.")],
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Total incidents, sync success rate, average sync time, API calls, rate-limit usage and
    webhook events (24 h) of a connector."""
    import time

    from pagerbridge.connectors import metrics

    with database(db) as dbx:
        record = load(dbx, name)
        with dbx.engine.connect() as conn:
            found = metrics.collect(conn, record.id, record.name, time.time())
    emit(as_json, {"metrics": found.as_json()}, lambda: metrics.lines(found))


def register(app: typer.Typer) -> None:
    app.add_typer(metrics_app, name="metrics")
