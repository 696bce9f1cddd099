"""``im oncall --service api``: who is on call for a service, from PagerDuty (reads only).

Only Typer loads with this module (``im``'s start-up stays as it was); the database, the REST
client and the on-call logic (:mod:`pagerbridge.connectors.oncall`) load when the command runs.
Works on the local database only, like ``im connector``: the connector's credentials are
decrypted where the command runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import fail
from pagerbridge.cli.im_options import DbOpt, JsonOpt

if TYPE_CHECKING:
    from pagerbridge.cli.im_connector_common import Database
    from pagerbridge.connectors.records import ConnectorRecord


def oncall(
    service: Annotated[
        str,
        typer.Option("--service", "-s", metavar="NAME", help="The local service (im's name)."),
    ],
    connector: Annotated[
        str | None,
        typer.Option(
            "--connector", "-c", metavar="NAME", help="The connector (default: the only one)."
        ),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Who is on call for a service now and next, and the escalation chain (times in UTC)."""
    from pagerbridge.cli.im_connector_common import database, emit, with_client
    from pagerbridge.connectors import oncall as domain
    from pagerbridge.errors import AuthenticationError, TransportError

    with database(db) as dbx:
        record = _choose(dbx, connector)
        try:
            view = with_client(record, dbx, lambda client: domain.on_call(client, record, service))
        except domain.UnmappedServiceError as exc:
            fail(str(exc), exits.NOT_FOUND, exc.hint)
        except TransportError as exc:
            fail(
                f"cannot reach PagerDuty at {record.settings.base_url} (connector "
                f"{record.name}): {exc}",
                exits.UNAVAILABLE,
                f"check the network and the connector's base_url; `im connector test "
                f"{record.name}` checks the connection",
            )
        except AuthenticationError as exc:
            fail(
                f"PagerDuty refused connector {record.name}'s credentials: {exc}",
                exits.ERROR,
                f"update them: im connector update {record.name} --api-key KEY",
            )
    emit(as_json, view.as_json(), view.lines)


def _choose(dbx: Database, name: str | None) -> ConnectorRecord:
    """``--connector NAME``, else the only active connector, else an error naming them."""
    from pagerbridge.cli.im_connector_common import load
    from pagerbridge.connectors import records

    if name:
        return load(dbx, name)
    with dbx.engine.connect() as conn:
        found = [r for r in records.load_all(conn) if r.status == records.ACTIVE]
    if not found:
        fail(
            "no active connector is configured",
            exits.NOT_FOUND,
            "add one: im connector add pagerduty NAME --config JSON (docs/connector.md)",
        )
    if len(found) > 1:
        names = ", ".join(r.name for r in found)
        fail(f"several connectors ({names}): choose one", exits.USAGE, "give --connector NAME")
    return found[0]


def register(app: typer.Typer) -> None:
    app.command("oncall")(oncall)
