"""``im connector map-service``, ``list-mappings``, ``map-escalation``, ``list-escalations`` and
``import-services``: which PagerDuty service and escalation policy each local service uses."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import fail
from pagerbridge.cli.im_connector_common import (
    Database,
    database,
    emit,
    load,
    table,
    warn,
    with_client,
    write,
)
from pagerbridge.cli.im_options import DbOpt, JsonOpt

if TYPE_CHECKING:
    import sqlalchemy as sa

    from pagerbridge.connectors.records import ConnectorRecord
    from pagerbridge.pagerduty.rest import RestClient
    from pagerbridge.pagerduty.rest_models import Service

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The connector's name.")]
NoCheckOpt = Annotated[
    bool, typer.Option("--no-check", help="Do not ask PagerDuty whether the ID exists.")
]


def _verify(record: ConnectorRecord, dbx: Database, what: str, pd_id: str) -> str | None:
    """The name of PagerDuty's service or escalation policy ``pd_id``; NOT_FOUND (exit 3) when
    PagerDuty has none; UNAVAILABLE when it cannot be asked (``--no-check`` skips this)."""
    from pagerbridge.errors import NotFoundError, PagerDutyError

    async def get(client: RestClient) -> str | None:
        if what == "service":
            return (await client.get_service(pd_id)).name
        return (await client.get_escalation_policy(pd_id)).name

    try:
        return with_client(record, dbx, get)
    except NotFoundError:
        listing = (
            f"im connector import-services {record.name} lists the services it sees"
            if what == "service"
            else f"curl {record.settings.base_url}/escalation_policies lists them"
        )
        fail(f"PagerDuty has no {what} {pd_id} (HTTP 404)", exits.NOT_FOUND, listing)
    except PagerDutyError as exc:
        fail(
            f"cannot check {what} {pd_id} in PagerDuty: {exc}",
            exits.UNAVAILABLE,
            "--no-check maps it without asking PagerDuty",
        )


def map_service(
    name: NameArg,
    im_service: Annotated[str, typer.Option("--im-service", metavar="SERVICE")],
    pd_service: Annotated[str, typer.Option("--pd-service", metavar="ID")],
    no_check: NoCheckOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send incidents of a local service to a PagerDuty service ('default': all others)."""
    from pagerbridge.connectors import service

    service.check_name(name)
    with database(db) as dbx:
        record = load(dbx, name)
        title = None if no_check else _verify(record, dbx, "service", pd_service)
        write(
            dbx,
            lambda conn: service.map_service(
                conn=conn, name=name, im_service=im_service, pd_service_id=pd_service
            ),
        )
    shown = f" ({title})" if title else ""
    emit(
        as_json,
        {"mapping": {"im_service": im_service, "pd_service": pd_service, "service_name": title}},
        lambda: [f"{im_service} → {pd_service}{shown}"],
    )


def list_mappings(name: NameArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List service mappings with each PagerDuty service's name (fetched)."""
    from pagerbridge.connectors import views

    with database(db) as dbx:
        record = load(dbx, name)
        rows = views.mappings(record)
        default = record.settings.custom.service_id
        ids = [r["pd_service"] for r in rows if r["pd_service"]] + ([default] if default else [])
        names = _service_names(record, dbx, ids) if ids else {}
    for row in rows:
        row["service_name"] = names.get(row["pd_service"]) if row["pd_service"] else None
    shown = [r for r in rows if r["pd_service"]]
    if default and "default" not in record.service_mappings:
        fallback = {"im_service": "(any other)", "pd_service": default}
        shown.append(fallback | {"escalation_policy": None, "service_name": names.get(default)})
    emit(
        as_json,
        {"mappings": shown, "default_service": default},
        lambda: [],
    )
    if not as_json:
        table(
            ["IM Service", "PagerDuty Service", "Service Name"],
            [[r["im_service"], r["pd_service"], r["service_name"] or "?"] for r in shown],
        )


def _service_names(record: ConnectorRecord, dbx: Database, ids: list[str]) -> dict[str, str]:
    """PagerDuty's name of each service; an unreachable PagerDuty is a warning, not a failure."""
    from pagerbridge.errors import NotFoundError, PagerDutyError

    async def fetch(client: RestClient) -> dict[str, str]:
        out: dict[str, str] = {}
        for pd_id in dict.fromkeys(ids):
            try:
                out[pd_id] = (await client.get_service(pd_id)).name or pd_id
            except NotFoundError:
                warn(f"PagerDuty has no service {pd_id}: im connector test {record.name} says more")
        return out

    try:
        return with_client(record, dbx, fetch)
    except PagerDutyError as exc:
        warn(f"service names not shown: PagerDuty cannot be asked ({exc})")
        return {}


def map_escalation(
    name: NameArg,
    service: Annotated[str, typer.Option("--service", "--im-service", metavar="SERVICE")],
    escalation_policy: Annotated[str, typer.Option("--escalation-policy", metavar="ID")],
    no_check: NoCheckOpt = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Use this escalation policy for incidents of a local service."""
    from pagerbridge.connectors import service as connectors

    connectors.check_name(name)
    with database(db) as dbx:
        record = load(dbx, name)
        title = None if no_check else _verify(record, dbx, "escalation policy", escalation_policy)
        write(
            dbx,
            lambda conn: connectors.map_escalation(
                conn=conn, name=name, im_service=service, escalation_policy_id=escalation_policy
            ),
        )
    shown = f" ({title})" if title else ""
    emit(
        as_json,
        {
            "escalation": {
                "im_service": service,
                "escalation_policy": escalation_policy,
                "policy_name": title,
            }
        },
        lambda: [f"{service} → escalation policy {escalation_policy}{shown}"],
    )


def list_escalations(name: NameArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List escalation policies per local service, and the default."""
    with database(db) as dbx:
        record = load(dbx, name)
    rows = [
        {"im_service": m.im_service, "escalation_policy": m.escalation_policy_id}
        for m in sorted(record.mappings.values(), key=lambda m: m.im_service)
        if m.escalation_policy_id
    ]
    default = record.settings.custom.escalation_policy_id
    emit(as_json, {"escalations": rows, "default_escalation_policy": default}, lambda: [])
    if as_json:
        return
    shown = [[r["im_service"], r["escalation_policy"]] for r in rows]
    if default:
        shown.append(["(default)", default])
    if not shown:
        print(
            f"no escalation policies: PagerDuty uses each service's own (set a default with "
            f"im connector config {name} --escalation-policy ID)"
        )
        return
    table(["IM Service", "Escalation Policy"], shown)


def local_name(pd_name: str) -> str:
    """A local service name for a PagerDuty service name: ``API Service`` → ``api-service``."""
    slug = re.sub(r"[^a-z0-9._-]+", "-", pd_name.lower()).strip("-._")
    return slug[:100].rstrip("-._") or "service"


def import_services(
    name: NameArg,
    all_: Annotated[bool, typer.Option("--all", help="Import every service, without asking.")] = (
        False
    ),
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create local services (and mappings) for the PagerDuty services the credentials see."""
    from pagerbridge.errors import PagerDutyError

    async def fetch(client: RestClient) -> list[Service]:
        return [s async for s in client.list_services(sort_by="name")]

    with database(db) as dbx:
        record = load(dbx, name)
        try:
            found = with_client(record, dbx, fetch)
        except PagerDutyError as exc:
            fail(
                f"cannot list PagerDuty's services: {exc}",
                exits.UNAVAILABLE,
                f"im connector test {name} says what is wrong",
            )
        chosen = found if all_ else _choose(found)
        imported = write(dbx, lambda conn: _import(conn, record, chosen))
    emit(
        as_json,
        {"imported": imported},
        lambda: (
            [
                f"{i['im_service']} → {i['pd_service']} ({i['service_name']})"
                + (" (service created)" if i["created"] else "")
                for i in imported
            ]
            or ["nothing imported"]
        ),
    )


def _choose(found: list[Service]) -> list[Service]:
    """Ask which services to import: numbers, ranges, 'all' or nothing."""
    if not found:
        return []
    for i, svc in enumerate(found, 1):
        print(f"{i:3}. {svc.id}  {svc.name}  → {local_name(svc.name or svc.id)}", file=sys.stderr)
    answer = typer.prompt(
        "Import which (e.g. 1,3-4, all; empty: none)", default="", show_default=False
    )
    picked: list[Service] = []
    for part in answer.replace(" ", "").split(","):
        if not part:
            continue
        if part.lower() == "all":
            return found
        low, _, high = part.partition("-")
        if not (low.isdigit() and (not high or high.isdigit())):
            fail(f"{part!r} is not a number or a range", exits.USAGE)
        for n in range(int(low), int(high or low) + 1):
            if not 1 <= n <= len(found):
                fail(f"{n} is not in the list (1-{len(found)})", exits.USAGE)
            if found[n - 1] not in picked:
                picked.append(found[n - 1])
    return picked


def _import(conn: sa.Connection, record: ConnectorRecord, chosen: list[Service]) -> list[Any]:
    """Local services and mappings in one transaction (the caller's)."""
    from sqlalchemy.orm import Session

    from pagerbridge.connectors import service as connectors
    from pagerbridge.incidents import catalog
    from pagerbridge.incidents.errors import ServiceNotFoundError

    out = []
    session = Session(bind=conn)
    for svc in chosen:
        local = local_name(svc.name or svc.id)
        try:
            catalog.get_service(session=session, name=local)
            created = False
        except ServiceNotFoundError:
            catalog.create_service(
                session=session, name=local, description=f"PagerDuty service {svc.id}"
            )
            created = True
        connectors.map_service(conn=conn, name=record.name, im_service=local, pd_service_id=svc.id)
        out.append(
            {
                "im_service": local,
                "pd_service": svc.id,
                "service_name": svc.name,
                "created": created,
            }
        )
    session.flush()
    return out


def register(app: typer.Typer) -> None:
    """Add these commands to ``im connector`` (the reference's names)."""
    app.command("map-service")(map_service)
    app.command("list-mappings")(list_mappings)
    app.command("map-escalation")(map_escalation)
    app.command("list-escalations")(list_escalations)
    app.command("import-services")(import_services)
    from pagerbridge.cli.im_connector_sync import sync

    app.command("sync")(sync)
    from pagerbridge.cli.im_connector_auth import authorize_command

    app.command("authorize")(authorize_command)
