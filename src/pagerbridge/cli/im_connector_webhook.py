"""``im connector webhook NAME``: subscribe a connector to PagerDuty's v3 webhooks, test the path
to the hub, rotate the signing secret, unsubscribe; with no flag, show the subscriptions.

The work is :mod:`pagerbridge.connectors.subscriptions`; this module reads the flags, saves
``--public-url``, prints (text or ``--json``) and picks the exit code. Every run first finishes
a rotation whose new subscription has been verified (the old one is deleted in PagerDuty).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pagerbridge.cli import exits
from pagerbridge.cli._common import fail
from pagerbridge.cli.im_connector_common import Database, database, emit, load, warn, write
from pagerbridge.cli.im_options import DbOpt, JsonOpt

if TYPE_CHECKING:
    from pagerbridge.connectors.records import ConnectorRecord
    from pagerbridge.connectors.subscription_rows import Row
    from pagerbridge.connectors.subscriptions import Deleted
    from pagerbridge.pagerduty.rest import RestClient

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The connector's name.")]
DEFAULT_TIMEOUT = 30.0


def _causes(url: str) -> list[str]:
    return [
        "likely causes:",
        "  - the hub is not running (pagerbridge up, or im serve)",
        f"  - PagerDuty cannot reach {url}: a wrong public URL, or one that is not reachable "
        "from the internet",
        "  - a firewall or IP allowlist in front of the hub drops PagerDuty's addresses "
        "(webhook.ip_allowlist must list them too)",
        "  - the hub refuses the delivery: see im logs --component webhook",
    ]


def _save_settings(dbx: Database, record: ConnectorRecord, changes: dict[str, Any]) -> Any:
    from pagerbridge.connectors import service

    if not changes:
        return record
    return write(dbx, lambda conn: service.update(conn=conn, name=record.name, changes=changes))


def _public_url(record: ConnectorRecord) -> str:
    url = record.settings.public_url
    if not url:
        fail(
            f"connector {record.name} has no public URL: PagerDuty needs the hub's address to "
            "deliver webhooks",
            exits.CONFIG,
            f"give --public-url https://hub.example.com (saved in the connector's settings), "
            f"or: im connector update {record.name} --public-url URL",
        )
    if url.startswith("http://"):
        warn(
            f"{url} is not HTTPS: PagerDuty accepts it, but webhooks then travel in clear; "
            "production should use https://"
        )
    return url


def _deleted_json(done: Deleted) -> dict[str, Any]:
    return {
        "deleted": done.deleted,
        "already_gone": done.gone,
        "left": [{"id": r.pd_subscription_id, "url": r.url, "reason": why} for r, why in done.left],
    }


def _deleted_lines(done: Deleted, verb: str = "deleted in PagerDuty") -> list[str]:
    lines = []
    if done.deleted:
        lines.append(f"webhook subscription(s) {verb}: {', '.join(done.deleted)}")
    if done.gone:
        lines.append(f"already gone in PagerDuty: {', '.join(done.gone)}")
    for r, why in done.left:
        lines.append(
            f"✗ left in PagerDuty: subscription {r.pd_subscription_id} ({r.url}): {why}; "
            "delete it under Integrations → Generic Webhooks (v3), or run the command again"
        )
    return lines


def webhook_command(
    name: NameArg,
    enable: Annotated[
        bool, typer.Option("--enable", help="Create the v3 webhook subscription (once).")
    ] = False,
    disable: Annotated[
        bool, typer.Option("--disable", help="Delete the subscription(s) in PagerDuty.")
    ] = False,
    test: Annotated[
        bool,
        typer.Option("--test", help="Make PagerDuty send a ping; wait until the hub verified it."),
    ] = False,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace the signing secret (a new subscription).")
    ] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="With --rotate: ping the new one, wait, then delete the old one."
        ),
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option(
            "--public-url", metavar="URL", help="Where PagerDuty reaches this hub (saved)."
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option("--timeout", metavar="SECONDS", help="How long --test/--wait wait.", min=0.1),
    ] = DEFAULT_TIMEOUT,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Subscribe a connector to PagerDuty's webhooks, test, rotate the secret or unsubscribe."""
    if disable and (enable or test or rotate):
        fail("--disable goes alone", exits.USAGE, "disable first, then --enable again")
    if wait and not rotate:
        fail("--wait goes with --rotate", exits.USAGE, "--test waits on its own")
    with database(db) as dbx:
        record = load(dbx, name)
        changes: dict[str, Any] = {}
        if public_url is not None:
            changes["public_url"] = public_url
        if enable and not record.settings.enable_webhook:
            changes["enable_webhook"] = True
        if disable and record.settings.enable_webhook:
            changes["enable_webhook"] = False
        record = _save_settings(dbx, record, changes)
        if enable or rotate:
            from pagerbridge.connectors.subscriptions import check_receives

            check_receives(record)
            url = _public_url(record)
        else:
            url = record.settings.public_url or ""
        data, lines, code = asyncio.run(
            _run(dbx, record, url, enable=enable, disable=disable, test=test, rotate=rotate,
                 wait=wait, seconds=timeout)
        )  # fmt: skip
    emit(as_json, data, lambda: lines)
    if code:
        raise typer.Exit(code)


async def _run(
    dbx: Database,
    record: ConnectorRecord,
    public_url: str,
    *,
    enable: bool,
    disable: bool,
    test: bool,
    rotate: bool,
    wait: bool,
    seconds: float,
) -> tuple[dict[str, Any], list[str], int]:
    from pagerbridge.cli.im_connector_common import open_client
    from pagerbridge.connectors import subscription_rows as stored
    from pagerbridge.connectors import subscriptions as subs

    data: dict[str, Any] = {"connector": record.name}
    lines: list[str] = []
    code = exits.OK
    with dbx.engine.connect() as conn:
        found = stored.rows(conn, record.id)
    if not (enable or disable or test or rotate or stored.RETIRING in {r.state for r in found}):
        return _shown(record, data, found), _state_lines(record, found), code
    client = await open_client(record, dbx)
    async with client:
        finished = await subs.finish_rotation(record, client, engine=dbx.engine)
        if finished.deleted or finished.gone or finished.left:
            data["rotation_finished"] = _deleted_json(finished)
            lines += _deleted_lines(finished, "retired and deleted in PagerDuty")
        if disable:
            done = await subs.disable(record, client, engine=dbx.engine)
            data["disabled"] = _deleted_json(done)
            lines += _deleted_lines(done) or [
                f"connector {record.name} has no webhook subscription"
            ]
            code = exits.ERROR if done.left else code
        if enable:
            code = max(code, await _enable(record, client, dbx, public_url, data, lines))
        if rotate:
            code = max(
                code, await _rotate(record, client, dbx, public_url, wait, seconds, data, lines)
            )
        if test:
            code = max(code, await _test(record, client, dbx, seconds, data, lines))
    with dbx.engine.connect() as conn:
        found = stored.rows(conn, record.id)
    return _shown(record, data, found), lines, code


def _shown(record: ConnectorRecord, data: dict[str, Any], found: list[Row]) -> dict[str, Any]:
    from pagerbridge.connectors import subscription_rows as stored

    data["webhook"] = stored.view(found)
    return data


def _state_lines(record: ConnectorRecord, found: list[Row]) -> list[str]:
    from pagerbridge.connectors import subscription_rows as stored

    state = stored.view(found)["state"]
    if not found:
        return [
            f"Webhook: not subscribed (im connector webhook {record.name} --enable "
            "--public-url URL)"
        ]
    lines = [f"Webhook: {state}"]
    for r in found:
        received = r.as_json()["last_received_at"] or "never"
        lines.append(f"  {r.pd_subscription_id}  {r.state:<8}  {r.url}  last received: {received}")
    return lines


async def _enable(
    record: ConnectorRecord,
    client: RestClient,
    dbx: Database,
    public_url: str,
    data: dict[str, Any],
    lines: list[str],
) -> int:
    from pagerbridge.connectors import subscriptions as subs

    done = await subs.enable(
        record, client, engine=dbx.engine, box=dbx.box(), public_url=public_url
    )
    data["enabled"] = {
        "created": done.created,
        "subscription": done.row.as_json(),
        "scope": done.scope.as_json(),
        "events": done.events,
        "notes": done.notes,
    }
    sub = done.row.pd_subscription_id
    if done.created:
        lines += [
            f"✓ webhook subscription {sub} created for connector {record.name}",
            f"  delivers to {done.row.url}",
            f"  scope: {done.scope.describe()}; {done.events} incident event types",
            "  its signing secret is stored encrypted; the hub accepts it within 5 s",
        ]
    else:
        lines.append(
            f"webhook of connector {record.name} is enabled already (subscription {sub}, "
            f"{done.row.url})"
        )
    lines += [f"note: {n}" for n in done.notes]
    if done.created:
        lines.append(f"next: im connector webhook {record.name} --test")
    return exits.OK


async def _rotate(
    record: ConnectorRecord,
    client: RestClient,
    dbx: Database,
    public_url: str,
    wait: bool,
    seconds: float,
    data: dict[str, Any],
    lines: list[str],
) -> int:
    from pagerbridge.connectors import subscriptions as subs

    new, old = await subs.rotate(
        record, client, engine=dbx.engine, box=dbx.box(), public_url=public_url
    )
    names = ", ".join(r.pd_subscription_id for r in old)
    data["rotated"] = {
        "new": new.as_json(),
        "retiring": [r.pd_subscription_id for r in old],
        "verified": False,
    }
    lines += [
        f"✓ new webhook subscription {new.pd_subscription_id} created (new secret)",
        f"  retiring: {names} (both secrets are accepted until {new.pd_subscription_id}'s first "
        "verified delivery, then the old one is deleted)",
    ]
    if not wait:
        lines.append(
            f"next: im connector webhook {record.name} --test (pings it and finishes the rotation)"
        )
        return exits.OK
    tested = await subs.ping_and_wait(record, client, engine=dbx.engine, seconds=seconds)
    data["rotated"]["verified"] = tested.ok
    if not tested.ok:
        lines += [
            f"✗ no verified delivery for {new.pd_subscription_id} within {seconds:g}s; "
            f"{names} stays until then (both secrets accepted)",
            *_causes(new.url),
        ]
        return exits.ERROR
    data["rotation_finished"] = _deleted_json(tested.finished)
    lines.append(f"✓ {new.pd_subscription_id} verified by the hub in {tested.seconds:.1f}s")
    lines += _deleted_lines(tested.finished, "retired and deleted in PagerDuty")
    return exits.ERROR if tested.finished.left else exits.OK


async def _test(
    record: ConnectorRecord,
    client: RestClient,
    dbx: Database,
    seconds: float,
    data: dict[str, Any],
    lines: list[str],
) -> int:
    from pagerbridge.connectors import subscriptions as subs
    from pagerbridge.errors import NotFoundError

    try:
        tested = await subs.ping_and_wait(record, client, engine=dbx.engine, seconds=seconds)
    except NotFoundError:
        fail(
            f"connector {record.name}'s webhook subscription no longer exists in PagerDuty",
            exits.NOT_FOUND,
            f"create a new one: im connector webhook {record.name} --enable",
        )
    sub, url = tested.row.pd_subscription_id, tested.row.url
    data["test"] = {"ok": tested.ok, "seconds": round(tested.seconds, 3), "subscription": sub}
    if not tested.ok:
        lines += [
            f"✗ PagerDuty's ping did not reach the hub verified within {seconds:g}s "
            f"(subscription {sub} → {url})",
            *_causes(url),
        ]
        return exits.ERROR
    lines.append(
        f"✓ PagerDuty's ping reached the hub and verified in {tested.seconds:.1f}s "
        f"(subscription {sub} → {url})"
    )
    if tested.finished.deleted or tested.finished.gone or tested.finished.left:
        data["rotation_finished"] = _deleted_json(tested.finished)
        lines += _deleted_lines(tested.finished, "retired and deleted in PagerDuty")
    return exits.OK


def remove_subscriptions(
    dbx: Database, record: ConnectorRecord
) -> tuple[dict[str, Any], list[str]]:
    """For ``im connector remove``: delete the connector's subscriptions in PagerDuty, best
    effort (never raises): (JSON, text lines) saying what was deleted and what was left there."""
    from pagerbridge.cli.im_connector_common import open_client
    from pagerbridge.connectors import subscription_rows as stored
    from pagerbridge.connectors import subscriptions as subs
    from pagerbridge.errors import PagerbridgeError

    with dbx.engine.connect() as conn:
        found = stored.rows(conn, record.id)
    if not found:
        return {"deleted": [], "already_gone": [], "left": []}, []

    async def go() -> Deleted:
        try:
            client = await open_client(record, dbx)
        except PagerbridgeError as exc:
            return await subs.delete(None, dbx.engine, found, reason=str(exc))
        async with client:
            return await subs.delete(client, dbx.engine, found)

    done = asyncio.run(go())
    return _deleted_json(done), _deleted_lines(done)
