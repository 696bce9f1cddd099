"""``im connector``: add, test, list, status, update, config, remove, sync a PagerDuty connector
(the mapping commands are in :mod:`im_connector_maps`).

The commands, flags, JSON keys and outputs follow the reference connector users compare us with
(docs/connector.md). Only Typer loads with this module; everything else when a command runs, so
``im``'s start-up stays as it was.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import fail
from pagerbridge.cli.im_connector_common import Database, database, emit, load, warn, write
from pagerbridge.cli.im_options import DbOpt, JsonOpt

if TYPE_CHECKING:
    import sqlalchemy as sa

    from pagerbridge.connectors.records import ConnectorRecord

connector_app = typer.Typer(
    help="PagerDuty connectors: add, test, map services, sync.", no_args_is_help=True
)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The connector's name.")]
DIRECTIONS = ("bidirectional", "outbound", "inbound")


def _view(dbx: Database, record: ConnectorRecord, *, secrets: bool = True) -> dict[str, Any]:
    """``status``'s shape of a connector; its secrets masked (when the key can read them)."""
    from pagerbridge.connectors import service, views
    from pagerbridge.errors import SecretKeyError

    clear: dict[str, str] = {}
    if secrets and record.secrets_blob:
        try:
            clear = dbx.box().decrypt(record.secrets_blob, record.key_fingerprint)
        except SecretKeyError as exc:
            warn(f"the stored secrets cannot be read: {exc}")
    from pagerbridge.connectors import subscription_rows

    with dbx.engine.connect() as conn:
        activity = service.activity(conn=conn, record=record)
        subscribed = subscription_rows.status_view(conn, record.id)
    view = views.status(record, activity, time.time(), clear)
    view["webhook"].update(subscribed)
    return view


def _read_config(value: str) -> dict[str, Any]:
    """``--config JSON`` or ``--config @file.json``; ConfigError (exit 4) naming what is wrong."""
    from pagerbridge.errors import ConfigError

    where = "--config"
    text = value
    if value.startswith("@"):
        where = value[1:]
        try:
            text = Path(where).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must be a JSON object (the connector's keys)")
    return data


def _prompted() -> dict[str, Any]:
    """The reference's interactive questions, in its order."""
    from pagerbridge.connectors.settings import DEFAULT_BASE_URL, EU_BASE_URL

    api_key = typer.prompt("API Key", hide_input=True)
    base_url = typer.prompt(f"API Base URL (EU: {EU_BASE_URL})", default=DEFAULT_BASE_URL)
    base_url = {"us": DEFAULT_BASE_URL, "eu": EU_BASE_URL}.get(base_url.strip().lower(), base_url)
    service_id = typer.prompt("Default Service ID (e.g. PXXXXXX)")
    from_email = typer.prompt("From Email (a PagerDuty user)")
    policy = typer.prompt("Escalation Policy ID (optional)", default="", show_default=False)
    direction = typer.prompt(
        "Sync Direction (bidirectional, outbound, inbound)", default="outbound"
    )
    custom = {"service_id": service_id.strip(), "from_email": from_email.strip()}
    if policy.strip():
        custom["escalation_policy_id"] = policy.strip()
    return {
        "api_key": api_key,
        "base_url": base_url.strip(),
        "sync_direction": direction.strip().lower(),
        "custom": custom,
    }


@connector_app.command("add")
def add(
    kind: Annotated[str, typer.Argument(metavar="TYPE", help="pagerduty")],
    name: NameArg,
    config: Annotated[
        str | None,
        typer.Option("--config", metavar="JSON", help="The settings as JSON, or @file.json."),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a connector: prompts for each setting, or takes them all with --config."""
    from pagerbridge.connectors import service
    from pagerbridge.connectors.settings import parse_config

    if kind != "pagerduty":
        fail(f"unknown connector type {kind!r}", exits.USAGE, "the type is pagerduty")
    service.check_name(name)
    with database(db) as dbx:
        with dbx.engine.connect() as conn:  # before the questions: a taken name asks nothing
            if conn.execute(_name_taken(name)).first() is not None:
                from pagerbridge.errors import ConnectorExistsError

                raise ConnectorExistsError(f"a connector named {name!r} exists already")
        raw = _read_config(config) if config is not None else _prompted()
        settings, secrets = parse_config(raw)
        box = dbx.box()
        record = write(
            dbx,
            lambda conn: service.add(
                conn=conn, name=name, settings=settings, secrets=secrets, box=box
            ),
        )
        view = _view(dbx, record)
    emit(
        as_json,
        {"connector": view},
        lambda: [
            f"connector {name} added ({record.type}, {settings.sync_direction}, "
            f"{settings.auth_type.replace('_', ' ')})",
            f"next: im connector test {name}",
        ],
    )


def _name_taken(name: str) -> sa.Select[Any]:
    import sqlalchemy as sa

    from pagerbridge.connectors.models import connectors_table

    return sa.select(connectors_table.c.id).where(connectors_table.c.name == name)


@connector_app.command("test")
def test(name: NameArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Check the connection, service, user, escalation policy and webhook (reads only)."""
    from pagerbridge.connectors import checks

    with database(db) as dbx:
        record = load(dbx, name)
        if record.settings.auth_type == "routing_key":
            found = checks.routing_key_checks(record)
        else:
            found = _run_checks(record, dbx)
    failed = checks.failed_required(found)
    emit(
        as_json,
        {"connector": name, "ok": not failed, "checks": [c.as_json() for c in found]},
        lambda: [
            line
            for c in found
            for line in [c.line, *([f"  fix: {c.fix}"] if c.fix and c.state == "failed" else [])]
        ],
    )
    if failed:
        raise typer.Exit(exits.ERROR)


def _run_checks(record: ConnectorRecord, dbx: Database) -> list[Any]:
    import asyncio

    from pagerbridge.cli.im_connector_common import open_client
    from pagerbridge.connectors import checks
    from pagerbridge.errors import PagerDutyError

    async def go() -> list[checks.Check]:
        granted: list[str] | None = None
        try:
            client = await open_client(record, dbx)
            if record.settings.auth_type in ("oauth_app", "oauth_user"):
                from pagerbridge.connectors.credentials import granted_scopes

                scopes: Any = granted_scopes(record, engine=dbx.engine, box=dbx.box())
                granted = list(await scopes if asyncio.iscoroutine(scopes) else scopes)
        except PagerDutyError as exc:
            return [
                checks.Check(
                    "api",
                    "failed",
                    f"Cannot get a PagerDuty token: {exc}",
                    fix=f"check the OAuth settings: im connector update {record.name} "
                    "--client-id ID --client-secret SECRET",
                )
            ]
        async with client:
            return await checks.run_checks(record, client, granted_scopes=granted)

    return asyncio.run(go())


@connector_app.command("list")
def list_(db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """List connectors: name, type, status, direction, last sync."""
    from pagerbridge.cli.im_connector_common import table
    from pagerbridge.connectors import records, service, views

    now = time.time()
    with database(db) as dbx, dbx.engine.connect() as conn:
        found = records.load_all(conn)
        synced = service.last_sync_times(conn=conn)
    rows = [
        views.summary(
            r, max((t for t in (r.last_sync_at, synced.get(r.id)) if t), default=None), now
        )
        for r in found
    ]
    if as_json:
        emit(True, {"connectors": rows}, list)
    elif not rows:
        print("no connectors (add one: im connector add pagerduty NAME)")
    else:
        table(
            ["Name", "Type", "Status", "Direction", "Last Sync"],
            [[r["name"], r["type"], r["status"], r["direction"], r["last_sync"]] for r in rows],
        )


@connector_app.command("status")
def status(name: NameArg, db: DbOpt = None, as_json: JsonOpt = False) -> None:
    """Show a connector: direction, last sync, incidents synced and errors (24h), webhook."""
    from pagerbridge.connectors import views

    with database(db) as dbx:
        view = _view(dbx, load(dbx, name))
    emit(as_json, {"connector": view}, lambda: views.status_lines(view))


def _secret_value(value: str | None, what: str) -> str | None:
    """A secret option; ``-`` reads it from standard input (keeps it out of ``ps`` and history)."""
    if value != "-":
        return value
    line = sys.stdin.readline().strip()
    if not line:
        fail(f"{what}: nothing on standard input", exits.USAGE)
    return line


@connector_app.command("update")
def update(
    name: NameArg,
    api_key: Annotated[
        str | None, typer.Option("--api-key", metavar="KEY", help="New API key ('-': stdin).")
    ] = None,
    routing_key: Annotated[
        str | None, typer.Option("--routing-key", metavar="KEY", help="Events API routing key.")
    ] = None,
    client_secret: Annotated[
        str | None, typer.Option("--client-secret", metavar="SECRET", help="OAuth client secret.")
    ] = None,
    client_id: Annotated[str | None, typer.Option("--client-id", metavar="ID")] = None,
    scopes: Annotated[
        str | None,
        typer.Option("--scopes", metavar="SCOPES", help="OAuth scopes, space-separated."),
    ] = None,
    base_url: Annotated[str | None, typer.Option("--base-url", metavar="URL")] = None,
    events_url: Annotated[str | None, typer.Option("--events-url", metavar="URL")] = None,
    from_email: Annotated[str | None, typer.Option("--from-email", metavar="EMAIL")] = None,
    sync_direction: Annotated[
        str | None, typer.Option("--sync-direction", metavar="DIRECTION", help="/".join(DIRECTIONS))
    ] = None,
    sync_interval: Annotated[
        str | None, typer.Option("--sync-interval", metavar="DURATION")
    ] = None,
    public_url: Annotated[str | None, typer.Option("--public-url", metavar="URL")] = None,
    status: Annotated[
        str | None, typer.Option("--status", metavar="STATUS", help="active or disabled.")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change a connector's credentials or settings (validated as add validates them)."""

    changes = {
        key: value
        for key, value in {
            "base_url": base_url,
            "events_url": events_url,
            "custom.from_email": from_email,
            "sync_direction": sync_direction,
            "sync_interval": sync_interval,
            "public_url": public_url,
            "oauth.client_id": client_id,
            "oauth.scopes": scopes.split() if scopes is not None else None,
        }.items()
        if value is not None
    }
    secrets = {
        key: value
        for key, value in {
            "api_key": _secret_value(api_key, "--api-key"),
            "routing_key": _secret_value(routing_key, "--routing-key"),
            "oauth.client_secret": _secret_value(client_secret, "--client-secret"),
        }.items()
        if value is not None
    }
    if not changes and not secrets and status is None:
        fail("nothing to change", exits.USAGE, f"'im connector update {name} --help' lists what")
    _change(name, db, as_json, changes, secrets, status=status, verb="updated")


def _change(
    name: str,
    db: str | None,
    as_json: bool,
    changes: dict[str, Any],
    secrets: dict[str, str] | None = None,
    *,
    status: str | None = None,
    verb: str,
) -> None:
    from pagerbridge.connectors import service

    with database(db) as dbx:
        box = dbx.box() if secrets else None

        def apply(conn: sa.Connection) -> ConnectorRecord:
            updated = service.update(
                conn=conn,
                name=name,
                changes=changes,
                secret_changes=secrets,
                box=box,
                status=status,
            )
            if "custom.sla_mapping" in changes:  # the local SLA policies, same transaction (H11)
                from pagerbridge.connectors.sla_sync import apply_record

                apply_record(conn, updated)
            return updated

        record = write(dbx, apply)
        view = _view(dbx, record)
    changed = sorted([*changes, *(secrets or {}), *(["status"] if status else [])])
    emit(as_json, {"connector": view}, lambda: [f"connector {name} {verb}: {', '.join(changed)}"])


@connector_app.command("config")
def config(
    name: NameArg,
    escalation_policy: Annotated[
        str | None,
        typer.Option("--escalation-policy", metavar="ID", help="The default escalation policy."),
    ] = None,
    service_id: Annotated[
        str | None,
        typer.Option("--service-id", metavar="ID", help="The default PagerDuty service."),
    ] = None,
    sla_mapping: Annotated[
        str | None,
        typer.Option("--sla-mapping", metavar="JSON", help='{"SEV-1": {"ack": "15m", ...}}'),
    ] = None,
    urgency_mapping: Annotated[
        str | None,
        typer.Option("--urgency-mapping", metavar="JSON", help='{"SEV-1": "high", ...}'),
    ] = None,
    sla_breach_priority: Annotated[
        str | None,
        typer.Option(
            "--sla-breach-priority", metavar="PRIORITY", help="P1 or an ID ('' for none)."
        ),
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Set the default escalation policy or service, the SLA or urgency mapping."""
    from pagerbridge.connectors.service import parse_json_option

    changes: dict[str, Any] = {}
    if escalation_policy is not None:
        changes["custom.escalation_policy_id"] = escalation_policy or None
    if service_id is not None:
        changes["custom.service_id"] = service_id or None
    if sla_mapping is not None:
        changes["custom.sla_mapping"] = parse_json_option(sla_mapping, "--sla-mapping")
    if urgency_mapping is not None:
        changes["custom.urgency_mapping"] = parse_json_option(urgency_mapping, "--urgency-mapping")
    if sla_breach_priority is not None:  # what an SLA breach raises PagerDuty incidents to (H11)
        changes["custom.sla_breach_priority"] = sla_breach_priority or None
    if not changes:
        fail(
            "nothing to configure",
            exits.USAGE,
            "give --escalation-policy, --service-id, --sla-mapping, --urgency-mapping or "
            "--sla-breach-priority",
        )
    _change(name, db, as_json, changes, verb="configured")


@connector_app.command("remove")
def remove(
    name: NameArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Remove a connector; its PagerDuty incidents are left as they are in PagerDuty."""
    from pagerbridge.connectors import service

    with database(db) as dbx:
        record = load(dbx, name)
        if not yes and not typer.confirm(
            f"Remove connector {name}? Its pending changes are dropped and nothing more reaches "
            "PagerDuty through it; its PagerDuty incidents are left as they are",
            default=False,
        ):
            fail("not removed", exits.ERROR)
        from pagerbridge.cli.im_connector_webhook import remove_subscriptions  # helper H9

        hooks, hook_lines = remove_subscriptions(dbx, record)  # best effort, before the rows go
        removed = write(dbx, lambda conn: service.remove(conn=conn, name=record.name))
    emit(
        as_json,
        {
            "removed": removed.name,
            "pending_deleted": removed.rows_deleted,
            "pd_incidents_left": removed.pd_incidents,
            **({"webhook_subscriptions": hooks} if hook_lines else {}),
        },
        lambda: [
            f"connector {name} removed; {removed.rows_deleted} pending change(s) dropped",
            *hook_lines,
            f"left in PagerDuty: its {removed.pd_incidents} linked incident(s), untouched "
            "(resolve them there if needed), and any "
            + ("other " if hooks["deleted"] or hooks["already_gone"] else "")
            + "webhook subscription (delete it under Integrations → Generic Webhooks (v3))",
        ],
    )


def _register_more() -> None:
    """The mapping commands (and the OAuth ``authorize``) live in their own modules."""
    from pagerbridge.cli import im_connector_maps

    im_connector_maps.register(connector_app)
    from pagerbridge.cli.im_connector_webhook import webhook_command  # helper H9's command

    connector_app.command("webhook")(webhook_command)
    from pagerbridge.cli.im_connector_health import health_command  # issue 14 item 8

    connector_app.command("health")(health_command)


_register_more()
