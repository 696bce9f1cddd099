"""``pd-queue``: inspect and manage the outbox (status, list, show, retry, purge, pause, resume).

Tables for people, ``--json`` for scripts. Routing keys are secrets of a sort (anyone holding one
can page), so they are shown shortened (``…beef``) unless ``--show-keys``. Every row kind is
shown: Events API rows (sent by the agent) and the connectors' REST rows (kind ``pd_rest``, sent
by the hub; their routing key names a rate budget, not a secret). Exit codes: the shared table
of :mod:`pagerbridge.cli.exits` (3 no such row or key, 74 the database).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pagerbridge.cli import exits
from pagerbridge.cli import pd_queue_rows as rows_view
from pagerbridge.cli._common import fail, run_guarded

if TYPE_CHECKING:
    from pagerbridge.outbox import Outbox

app = typer.Typer(
    help="Inspect and manage pagerbridge's outbox of PagerDuty events.",
    no_args_is_help=True,
    add_completion=False,
)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL or SQLite file (default: $PAGERBRIDGE_DATABASE_URL, else the data dir).",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
KeysOption = Annotated[bool, typer.Option("--show-keys", help="Show routing keys in full.")]
RoutingKeyArg = Annotated[str, typer.Argument(metavar="ROUTING_KEY")]
EXIT_NOT_FOUND = exits.NOT_FOUND
#: ``--db`` given before the command (``pd-queue --db URL status``); the command's own wins.
_global_db: list[str | None] = [None]


@app.callback()
def _global_options(db: DbOption = None) -> None:
    _global_db[0] = db


def resolve_key(outbox: Outbox, value: str | None) -> str | None:
    """Accept a key as shown (``…beef``): the one routing key in the queue ending that way."""
    if value is None or not value.startswith(("…", "...")):
        return value
    suffix = value.lstrip(".…")
    known = set(outbox.stats().by_routing_key) | set(outbox.paused())
    matches = sorted(k for k in known if k.endswith(suffix))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        fail(f"no routing key in the outbox ends with {suffix!r}", exits.NOT_FOUND)
    fail(f"{len(matches)} routing keys end with {suffix!r}: give more of the key", exits.USAGE)


@contextmanager
def _opened(db: str | None) -> Iterator[Outbox]:
    """The outbox of ``db``, closed however the block ends (rendering happens after it is)."""
    from pagerbridge.outbox import open_outbox
    from pagerbridge.paths import resolve_database_url

    outbox = open_outbox(resolve_database_url(db or _global_db[0]), kinds=None)  # every kind
    try:
        yield outbox
    finally:
        outbox.close()


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _answer(as_json: bool, data: dict[str, Any], line: str) -> None:
    """A command's one-line answer, or ``data`` as JSON with ``--json``."""
    if as_json:
        _print_json(data)
    else:
        typer.echo(line)


def _console() -> Any:
    from rich.console import Console

    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze tables into 80 columns
        console = Console(width=140)
    return console


@app.command()
def status(db: DbOption = None, as_json: JsonOption = False, show_keys: KeysOption = False) -> None:
    """Counts by state and routing key, and the age of the oldest pending event."""

    def go() -> None:
        from pagerbridge.outbox import STATES

        with _opened(db) as outbox:
            st = outbox.stats()
            recorded = outbox.recorded_destination()
            held = outbox.held()
        age = st.oldest_pending_age(time.time())
        by_state = {s: st.by_state.get(s, 0) for s in STATES}
        keys = {rows_view.status_key(k, show_keys): v for k, v in sorted(st.by_routing_key.items())}
        paused = [rows_view.short_key(k, show_keys) for k in st.paused]
        by_kind = st.by_kind or {}
        rest = rows_view.rest_counts(by_kind)
        if as_json:
            _print_json(
                {
                    "by_state": by_state,
                    "by_routing_key": keys,
                    "by_kind": by_kind,
                    "oldest_pending_age_seconds": age,
                    "paused": paused,
                    "destination": recorded,
                    "held": [h._asdict() for h in held],
                    "folds": st.folds,
                    "connector_rows": rest,
                }
            )
            return
        from rich.table import Table

        console = _console()
        table = Table(title="outbox")
        table.add_column("routing key")
        for s in STATES:
            table.add_column(s, justify="right")
        for key, counts in keys.items():
            mark = " (paused)" if key in paused else ""
            table.add_row(key + mark, *(str(counts.get(s, 0)) for s in STATES))
        table.add_row("[bold]total[/bold]", *(f"[bold]{by_state[s]}[/bold]" for s in STATES))
        console.print(table)
        console.print(f"oldest pending: {rows_view.age(age)}")
        if st.folds:
            console.print(
                f"folds: {st.folds} repeated trigger(s) folded into a pending trigger of the "
                "same alert (rows still stored)",
                highlight=False,
            )
        if rest:
            active = rest.get("pending", 0) + rest.get("in_flight", 0)
            line = f"connector rows: {active} pending (sent by the hub, not the agent)"
            if rest.get("dead"):
                line += f", {rest['dead']} dead"
            console.print(line, highlight=False)
        if recorded is not None:
            console.print(f"the agent on this database delivers to {recorded}", highlight=False)
        for h in held:
            console.print(
                f"[yellow]held:[/yellow] {h.rows} row(s) meant for {h.destination} "
                f"(first: row {h.first_id}) wait for a worker configured for it; to send them "
                f"elsewhere: pd-queue retry --held --from {h.destination} --to URL",
                highlight=False,
                soft_wrap=True,
            )

    run_guarded(go)


@app.command("list")
def list_rows(
    state: Annotated[
        list[str] | None,
        typer.Option("--state", help="pending, in_flight, delivered, dead, suppressed"),
    ] = None,
    routing_key: Annotated[
        str | None, typer.Option("--routing-key", help="A full key, or as shown (…beef)")
    ] = None,
    dedup_key: Annotated[str | None, typer.Option("--dedup-key")] = None,
    since: Annotated[str | None, typer.Option("--since", help="30m, 2h, 1d or ISO 8601")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 50,
    after: Annotated[int, typer.Option("--after", help="Show rows after this id (next page)")] = 0,
    db: DbOption = None,
    as_json: JsonOption = False,
    show_keys: KeysOption = False,
) -> None:
    """Rows of the outbox, oldest first, filtered; page with --after."""
    from pagerbridge.outbox import STATES

    states = state or []
    for s in states:
        if s not in STATES:
            raise typer.BadParameter(
                f"{s!r} is not one of {', '.join(STATES)}", param_hint="--state"
            )
    since_ts = rows_view.parse_since(since, time.time()) if since else None

    def go() -> None:
        with _opened(db) as outbox:
            rows = outbox.list_rows(
                states=states,
                routing_key=resolve_key(outbox, routing_key),
                dedup_key=dedup_key,
                since=since_ts,
                after_id=after,
                limit=limit + 1,
            )
            recorded = outbox.recorded_destination()
        more = len(rows) > limit
        rows = rows[:limit]
        next_after = rows[-1].id if more else None
        if as_json:
            _print_json(
                {
                    "rows": [rows_view.row_json(r, show_keys, recorded) for r in rows],
                    "next_after": next_after,
                }
            )
            return
        from rich.table import Table

        table = Table()
        table.add_column("id", no_wrap=True, justify="right")
        table.add_column("state", no_wrap=True)
        table.add_column("key", no_wrap=True)
        table.add_column("dedup key", no_wrap=True, overflow="ellipsis", max_width=18)
        table.add_column("action", no_wrap=True)
        table.add_column("tries", justify="right")
        table.add_column("folds", justify="right")
        table.add_column("created (UTC)", no_wrap=True)
        table.add_column("next try", no_wrap=True)
        table.add_column("last error", overflow="fold")
        for r in rows:
            held = rows_view.held_reason(r, recorded)
            note = f"held: {held}" if held else (r.last_error or "")[:120]
            if rows_view.is_rest(r) and not note and r.state in ("pending", "in_flight"):
                note = "sent by the hub"
            table.add_row(
                str(r.id), r.state + (" (held)" if held else ""),
                rows_view.status_key(r.routing_key, show_keys), r.dedup_key or "-",
                rows_view.action(r), str(r.attempts), str(r.folds or "-"),
                rows_view.when(r.created_at, short=True),
                rows_view.when(r.next_attempt_at, short=True) if r.state == "pending" else "-",
                note,
            )  # fmt: skip
        console = _console()
        console.print(table)
        if next_after is not None:
            console.print(f"more rows: pd-queue list --after {next_after} ...")

    run_guarded(go)


@app.command()
def show(
    row_id: Annotated[int, typer.Argument(metavar="ID")],
    db: DbOption = None,
    as_json: JsonOption = False,
    show_keys: KeysOption = False,
) -> None:
    """One row in full, with its payload and last error."""

    def go() -> None:
        with _opened(db) as outbox:
            row = outbox.get(row_id)
            recorded = outbox.recorded_destination()
        if row is None:
            fail(f"no outbox row with id {row_id}", EXIT_NOT_FOUND)
        data = rows_view.row_json(row, show_keys, recorded)
        if as_json:
            _print_json(data)
            return
        console = _console()
        keys = ("id", "kind", "state", "sent_by", "routing_key", "dedup_key", "destination")
        for key in (*keys, "attempts", "folds"):
            console.print(f"[bold]{key}[/bold]: {data[key]}", highlight=False)
        for key in ("held", "last_error"):
            if data[key]:
                console.print(f"[bold]{key}[/bold]: {data[key]}", highlight=False)
        for key in ("created_at", "updated_at", "next_attempt_at", "delivered_at"):
            console.print(f"[bold]{key}[/bold]: {rows_view.when(data[key])}", highlight=False)
        console.print_json(json.dumps(data["payload"]))

    run_guarded(go)


@app.command()
def retry(
    row_id: Annotated[int | None, typer.Argument(metavar="ID")] = None,
    dead: Annotated[bool, typer.Option("--dead", help="Retry every dead row")] = False,
    routing_key: Annotated[
        str | None,
        typer.Option("--routing-key", help="Retry the dead (with --held: held) rows of this key"),
    ] = None,
    held: Annotated[
        bool,
        typer.Option("--held", help="Retry rows held for another destination (needs --to)"),
    ] = False,
    held_for: Annotated[
        str | None,
        typer.Option("--from", metavar="URL", help="With --held: only rows meant for this URL"),
    ] = None,
    to: Annotated[
        str | None,
        typer.Option("--to", metavar="URL", help="Re-address the rows to this Events API URL"),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Also retry dead rows whose alert a later event settled"),
    ] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Make dead rows pending again (with a fresh retry deadline), or re-address held ones.

    A dead event whose alert a later event (same routing and dedup key) has since reached
    PagerDuty with is skipped unless --force: retrying an old trigger would re-open a resolved
    alert.
    """
    from pagerbridge.errors import ConfigError
    from pagerbridge.pagerduty.event_rules import events_base

    if row_id is None and not dead and routing_key is None and not held:
        raise typer.BadParameter("give an ID, --dead, --routing-key or --held")
    if held and to is None:
        raise typer.BadParameter(
            "--held needs --to URL: the Events API the held rows should go to", param_hint="--to"
        )
    if held_for is not None and not held:
        raise typer.BadParameter("--from goes with --held", param_hint="--from")
    try:
        target = events_base(to) if to is not None else None
        source = events_base(held_for) if held_for is not None else None
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from None

    def go() -> None:
        with _opened(db) as outbox:
            if row_id is not None and outbox.get(row_id) is None:
                fail(f"no outbox row with id {row_id}", EXIT_NOT_FOUND)
            key = resolve_key(outbox, routing_key)
            ids = [row_id] if row_id is not None else []
            skipped = [] if force else outbox.superseded(ids=ids, dead=dead, routing_key=key)
            count = outbox.retry(
                ids=ids,
                dead=dead,
                routing_key=key,
                held=held,
                held_for=source,
                to=target,
                force=force,
            )
        line = f"{count} row(s) queued for delivery again" + (f" to {target}" if target else "")
        if skipped:
            shown = ", ".join(str(i) for i in skipped[:20]) + (" …" if len(skipped) > 20 else "")
            line += (
                f"\n{len(skipped)} dead row(s) skipped ({shown}): a later event of the same alert "
                "was delivered since, so retrying would re-open or re-acknowledge it; "
                "--force retries them anyway"
            )
        data: dict[str, Any] = {"retried": count}
        if skipped:
            data["skipped_superseded"] = skipped
        if target:
            data["to"] = target
        _answer(as_json, data, line)

    run_guarded(go)


@app.command()
def purge(
    dead: Annotated[bool, typer.Option("--dead", help="Delete dead rows")] = False,
    delivered: Annotated[bool, typer.Option("--delivered", help="Delete delivered rows")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Delete dead and/or delivered rows (pending rows are never purged)."""
    if not dead and not delivered:
        raise typer.BadParameter("give --dead and/or --delivered")
    what = " and ".join(w for w, on in (("dead", dead), ("delivered", delivered)) if on)

    def go() -> None:
        with _opened(db) as outbox:
            if not yes and not typer.confirm(f"Delete every {what} row?", default=False):
                fail("nothing deleted", exits.ERROR)
            count = outbox.purge(dead=dead, delivered=delivered)
        _answer(as_json, {"purged": count}, f"{count} {what} row(s) deleted")

    run_guarded(go)


@app.command()
def pause(
    routing_key: RoutingKeyArg,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Hold delivery for a routing key; its events keep queueing."""

    def go() -> None:
        with _opened(db) as outbox:
            outbox.pause(resolve_key(outbox, routing_key) or routing_key)
        shown = rows_view.short_key(routing_key, False)
        _answer(as_json, {"paused": shown}, f"paused {shown}")

    run_guarded(go)


@app.command()
def resume(
    routing_key: RoutingKeyArg,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deliver a paused routing key's events again."""

    def go() -> None:
        with _opened(db) as outbox:
            resumed = outbox.resume(resolve_key(outbox, routing_key) or routing_key)
        shown = rows_view.short_key(routing_key, False)
        _answer(
            as_json,
            {"resumed": resumed},
            f"resumed {shown}" if resumed else f"{shown} was not paused",
        )

    run_guarded(go)


def run() -> None:
    from pagerbridge.cli._common import run_app

    run_app(app, "pd-queue")
