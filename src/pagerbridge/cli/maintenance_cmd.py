"""``pagerbridge maintenance``: PagerDuty's own maintenance windows (create, list, end).

These calls go to PagerDuty's REST API inline (an explicit admin command, as the design allows),
not through the outbox: the operator wants to know at once whether the window exists. A
PagerDuty window does not stop pagerbridge from sending: events are still delivered and PagerDuty
drops them. The agent's local windows (docs/agent.md) are the ones that store events as
suppressed; every command that creates a window says so.

Credentials: ``--api-key`` / ``$PAGERDUTY_API_KEY`` with ``--base-url`` and ``--from``, or
``--connector NAME`` (the REST credentials of an incident connector, ``im connector``).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import fail, run_guarded

if TYPE_CHECKING:
    from pagerbridge.pagerduty.rest import RestClient
    from pagerbridge.pagerduty.rest_models import MaintenanceWindow

T = TypeVar("T")

API_KEY_ENV = "PAGERDUTY_API_KEY"
FROM_ENV = "PAGERDUTY_FROM"
DEFAULT_BASE_URL = "https://api.pagerduty.com"
#: What every create (and the docs) say: a PagerDuty window does not hold events back here.
DROP_NOTE = (
    "note: pagerbridge still sends events for these services during the window; PagerDuty "
    "drops them (no incident, no notification). To keep them locally as suppressed instead, "
    "use the agent's maintenance windows (docs/agent.md, 'Maintenance windows')."
)
#: ``+2h``, ``+90m``, ``+1d12h``, ``+30s``: an offset from now.
_RELATIVE = re.compile(r"^\+(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_SERVICE_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")

app = typer.Typer(
    help="PagerDuty maintenance windows (made in PagerDuty through its REST API).",
    no_args_is_help=True,
)


# --- times ---------------------------------------------------------------------------------------


def parse_when(text: str, *, now: datetime, what: str) -> datetime:
    """An aware UTC time from ``now``, ``+2h``/``+30m``/``+1d``/``+1h30m`` or ISO 8601.

    An ISO time without an offset is taken as the machine's local time.
    """
    value = text.strip()
    if value.lower() == "now":
        return now
    relative = _RELATIVE.match(value)
    if relative and any(relative.groups()):
        days, hours, minutes, seconds = (int(g or 0) for g in relative.groups())
        return now + timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith("Z") else value)
    except ValueError:
        fail(
            f"{what} {text!r} is not a time",
            exits.USAGE,
            "give ISO 8601 (2026-12-24T22:00:00Z, 2026-12-24T23:00+01:00), 'now' or an "
            "offset from now such as +30m, +2h, +1d or +1h30m",
        )
    if parsed.tzinfo is None:
        parsed = parsed.astimezone()  # local time, as a person typing it means
    return parsed.astimezone(UTC)


def check_window(start: datetime, end: datetime, *, now: datetime) -> None:
    """Refuse what PagerDuty would refuse (or silently bend), with the reason."""
    if end <= now:
        fail(
            f"the end ({_show(end)}) is not in the future (now: {_show(now)})",
            exits.USAGE,
            "a maintenance window must end in the future, e.g. --end +2h",
        )
    if end <= start:
        fail(
            f"the end ({_show(end)}) is not after the start ({_show(start)})",
            exits.USAGE,
            "give --end later than --start",
        )


def _show(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- credentials ---------------------------------------------------------------------------------

ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        metavar="KEY",
        help=f"PagerDuty REST API key (default: ${API_KEY_ENV}).",
        show_default=False,
    ),
]
BaseUrlOpt = Annotated[
    str,
    typer.Option(
        "--base-url",
        help="REST API base URL (EU accounts: https://api.eu.pagerduty.com).",
    ),
]
FromOpt = Annotated[
    str | None,
    typer.Option(
        "--from",
        metavar="EMAIL",
        help=f"Email of a PagerDuty user, required to create (default: ${FROM_ENV}).",
        show_default=False,
    ),
]
ConnectorOpt = Annotated[
    str | None,
    typer.Option(
        "--connector",
        metavar="NAME",
        help="Take the credentials from this incident connector instead.",
        show_default=False,
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database of the connectors (with --connector; default $PAGERBRIDGE_DATABASE_URL).",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def _connector_client(name: str, db: str | None) -> RestClient:
    """The REST client of connector ``name`` (its API key or OAuth token, base URL and From)."""
    from pagerbridge.connectors.credentials import client_for_name
    from pagerbridge.paths import resolve_database_url

    return client_for_name(name, resolve_database_url(db))


def make_client(
    *,
    api_key: str | None,
    base_url: str,
    from_email: str | None,
    connector: str | None,
    db: str | None,
) -> RestClient:
    """One REST client from the options (never printing the key)."""
    if connector is not None:
        if api_key is not None:
            fail("give --connector or --api-key, not both", exits.USAGE)
        client = run_guarded(lambda: _connector_client(connector, db))
        if from_email:
            client.from_email = from_email
        return client
    key = api_key or os.environ.get(API_KEY_ENV)
    if not key:
        fail(
            "no PagerDuty API key",
            exits.USAGE,
            f"pass --api-key KEY, set ${API_KEY_ENV}, or use --connector NAME",
        )
    if not base_url.lower().startswith(("http://", "https://")):
        fail(f"--base-url {base_url!r} is not an http(s) URL", exits.USAGE)
    from pagerbridge.pagerduty.rest import RestClient

    sender = from_email or os.environ.get(FROM_ENV) or None
    return RestClient(key, base_url=base_url, from_email=sender, timeout=20.0)


def call(client: RestClient, work: Callable[[RestClient], Awaitable[T]], *, what: str) -> T:
    """Run ``work`` on the client; PagerDuty's refusals become one clear line and exit code."""
    from pagerbridge.errors import (
        APIError,
        AuthenticationError,
        ForbiddenError,
        NotFoundError,
        TransportError,
    )

    async def go() -> T:
        async with client:
            return await work(client)

    try:
        return asyncio.run(go())
    except AuthenticationError as exc:
        fail(f"{what}: PagerDuty refused the API key ({exc})", exits.AUTH, _key_hint())
    except ForbiddenError as exc:
        fail(f"{what}: the API key may not do this ({exc})", exits.AUTH, _key_hint())
    except NotFoundError as exc:
        fail(f"{what}: not found ({exc})", exits.NOT_FOUND)
    except APIError as exc:
        fail(f"{what}: PagerDuty said {exc}", exits.ERROR)
    except TransportError as exc:
        fail(
            f"{what}: PagerDuty could not be reached at {client.base_url}: {exc}", exits.UNAVAILABLE
        )


def _key_hint() -> str:
    return f"check --api-key / ${API_KEY_ENV} and --base-url (US or EU account)"


# --- output --------------------------------------------------------------------------------------


def window_dict(window: MaintenanceWindow) -> dict[str, Any]:
    """The window as printed by ``--json``: PagerDuty's field names, times in UTC."""
    return {
        "id": window.id,
        "start_time": _show(window.start_time),
        "end_time": _show(window.end_time),
        "description": window.description or "",
        "services": [s.id for s in window.services],
    }


def _line(window: dict[str, Any]) -> str:
    services = ",".join(window["services"])
    return (
        f"{window['id']:<10} {window['start_time']:<21} {window['end_time']:<21} "
        f"{services:<20} {window['description']}"
    )


# --- commands ------------------------------------------------------------------------------------


def _services(services: Sequence[str]) -> list[str]:
    if not services:
        fail("no service given", exits.USAGE, "name each service with --service PXXXXXX")
    for service in services:
        if not _SERVICE_ID.match(service):
            fail(
                f"{service!r} is not a PagerDuty service ID",
                exits.USAGE,
                "a service ID looks like PDEMO01 (see the service's URL in PagerDuty)",
            )
    return list(dict.fromkeys(services))


@app.command()
def create(
    service: Annotated[
        list[str],
        typer.Option("--service", metavar="ID", help="PagerDuty service ID (repeatable)."),
    ],
    end: Annotated[
        str, typer.Option("--end", metavar="WHEN", help="ISO 8601 time or offset (+2h).")
    ],
    start: Annotated[
        str, typer.Option("--start", metavar="WHEN", help="ISO 8601 time, 'now' or +30m.")
    ] = "now",
    description: Annotated[
        str, typer.Option("--description", metavar="TEXT", help="Shown in PagerDuty.")
    ] = "",
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = DEFAULT_BASE_URL,
    from_email: FromOpt = None,
    connector: ConnectorOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a maintenance window in PagerDuty for one or more services."""
    services = _services(service)
    now = datetime.now(UTC)
    begin = parse_when(start, now=now, what="--start")
    finish = parse_when(end, now=now, what="--end")
    check_window(begin, finish, now=now)
    client = make_client(
        api_key=api_key, base_url=base_url, from_email=from_email, connector=connector, db=db
    )
    if not client.from_email:
        fail(
            "creating a maintenance window needs the email of a PagerDuty user",
            exits.USAGE,
            f"pass --from EMAIL or set ${FROM_ENV}",
        )

    async def work(rest: RestClient) -> MaintenanceWindow:
        return await rest.create_maintenance_window(
            start_time=max(begin, now),
            end_time=finish,
            service_ids=services,
            description=description or None,
        )

    window = window_dict(call(client, work, what="creating the maintenance window"))
    if as_json:
        typer.echo(json.dumps({"maintenance_window": window, "note": DROP_NOTE}))
        return
    typer.echo(
        f"created maintenance window {window['id']} for {', '.join(window['services'])}: "
        f"{window['start_time']} to {window['end_time']}"
    )
    if begin < now:
        typer.echo("(the start was in the past: the window starts now)")
    typer.echo(DROP_NOTE)


@app.command("list")
def list_(
    service: Annotated[
        list[str] | None,
        typer.Option("--service", metavar="ID", help="Only windows of this service."),
    ] = None,
    when: Annotated[
        str,
        typer.Option("--filter", metavar="WHICH", help="open, ongoing, future, past or all."),
    ] = "open",
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = DEFAULT_BASE_URL,
    connector: ConnectorOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List maintenance windows (open ones by default: ongoing and future)."""
    choices = ("open", "ongoing", "future", "past", "all")
    if when not in choices:
        fail(f"--filter {when!r} is not one of {', '.join(choices)}", exits.USAGE)
    services = _services(service) if service else None
    client = make_client(
        api_key=api_key, base_url=base_url, from_email=None, connector=connector, db=db
    )

    async def work(rest: RestClient) -> list[MaintenanceWindow]:
        return [w async for w in rest.list_maintenance_windows(service_ids=services, filter=when)]

    windows = [window_dict(w) for w in call(client, work, what="listing maintenance windows")]
    if as_json:
        typer.echo(json.dumps({"maintenance_windows": windows}))
        return
    if not windows:
        typer.echo(f"no {when} maintenance windows" if when != "all" else "no maintenance windows")
        return
    typer.echo(
        _line(
            {
                "id": "ID",
                "start_time": "START",
                "end_time": "END",
                "services": ["SERVICES"],
                "description": "DESCRIPTION",
            }
        )
    )
    for window in windows:
        typer.echo(_line(window))


@app.command()
def end(
    window_id: Annotated[str, typer.Argument(metavar="ID", help="The maintenance window's ID.")],
    api_key: ApiKeyOpt = None,
    base_url: BaseUrlOpt = DEFAULT_BASE_URL,
    connector: ConnectorOpt = None,
    db: DbOpt = None,
) -> None:
    """End an ongoing maintenance window now, or cancel a future one."""
    if not _SERVICE_ID.match(window_id):
        fail(f"{window_id!r} is not a maintenance window ID", exits.USAGE)
    client = make_client(
        api_key=api_key, base_url=base_url, from_email=None, connector=connector, db=db
    )

    async def work(rest: RestClient) -> bool:
        window = await rest.get_maintenance_window(window_id)
        started = window.start_time is not None and window.start_time <= datetime.now(UTC)
        await rest.delete_maintenance_window(window_id)
        return started

    started = call(client, work, what=f"ending maintenance window {window_id}")
    verb = "ended" if started else "cancelled"
    typer.echo(f"{verb} maintenance window {window_id}")
