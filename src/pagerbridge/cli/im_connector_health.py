"""``im connector health NAME``: the reference's health block; exit 1 when unhealthy.

Reads PagerDuty (GET only) with the connector's credential and the database for what the
connector did (:mod:`pagerbridge.connectors.health`). ``--json`` gives every line with its state
and fix, the response time and the figures behind the lines.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pagerbridge.cli import exits
from pagerbridge.cli.im_connector_common import Database, database, emit, load
from pagerbridge.cli.im_options import DbOpt, JsonOpt

if TYPE_CHECKING:
    from pagerbridge.connectors.health import Health, LocalState
    from pagerbridge.connectors.records import ConnectorRecord

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The connector's name.")]


def _check(record: ConnectorRecord, dbx: Database, local: LocalState, now: float) -> Health:
    import asyncio

    from pagerbridge.cli.im_connector_common import open_client
    from pagerbridge.connectors import health
    from pagerbridge.errors import PagerDutyError

    async def go() -> health.Health:
        if record.settings.auth_type == "routing_key":
            return await health.check(record, None, local, now)
        try:
            client = await open_client(record, dbx)
        except PagerDutyError as exc:  # an OAuth token could not be had
            result = health.Health(record.name, local=local)
            result.lines.append(
                health.Line(
                    "auth",
                    "Authentication",
                    "failed",
                    f"Cannot get a PagerDuty token: {exc}",
                    f"check the OAuth settings: im connector update {record.name} --client-id ID "
                    "--client-secret SECRET",
                )
            )
            return result
        async with client:
            return await health.check(record, client, local, now)

    return asyncio.run(go())


def health_command(name: NameArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Check the connector now: API, key, services, webhook, sync lag, error rate (exit 1 if
    unhealthy)."""
    import time

    from pagerbridge.connectors import health

    now = time.time()
    with database(db) as dbx:
        record = load(dbx, name)
        with dbx.engine.connect() as conn:
            local = health.local_state(conn, record, now)
        found = _check(record, dbx, local, now)
    emit(as_json, found.as_json(), found.text)
    if not found.healthy:
        raise typer.Exit(exits.ERROR)
