"""What every ``im connector`` command shares: the database, the secret box, a PagerDuty client,
and printing (text or ``--json``).

Connector commands work on the local database only (the secrets are decrypted here, never sent
to a hub). SQLAlchemy, the REST client and Rich load when a command runs, not when ``im`` starts.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import sqlalchemy as sa

    from pagerbridge.connectors.records import ConnectorRecord
    from pagerbridge.connectors.secrets import SecretBox
    from pagerbridge.pagerduty.rest import RestClient

T = TypeVar("T")


@dataclass
class Database:
    """An open database (schema checked) and where it is, for the secret box."""

    url: str
    engine: sa.Engine

    def box(self) -> SecretBox:
        from pagerbridge.connectors.secrets import SecretBox

        return SecretBox.from_environment(self.url)


@contextmanager
def database(db: str | None) -> Iterator[Database]:
    """``--db`` / $PAGERBRIDGE_DATABASE_URL / the default SQLite file, schema current."""
    from sqlalchemy.exc import DBAPIError

    from pagerbridge.errors import StorageError
    from pagerbridge.paths import resolve_database_url
    from pagerbridge.store.engine import make_engine, redact_url
    from pagerbridge.store.migrate import check_or_create

    url = resolve_database_url(db)
    engine = make_engine(url)
    try:
        try:
            check_or_create(engine)
        except DBAPIError as exc:
            raise StorageError(f"cannot open database {redact_url(url)}: {exc.orig}") from exc
        yield Database(url, engine)
    finally:
        engine.dispose()


def load(dbx: Database, name: str) -> ConnectorRecord:
    from pagerbridge.connectors import records

    with dbx.engine.connect() as conn:
        return records.load(conn, name)


def write(dbx: Database, func: Callable[[sa.Connection], T]) -> T:
    """Run ``func`` in one transaction (committed when it returns)."""
    with dbx.engine.begin() as conn:
        return func(conn)


async def open_client(record: ConnectorRecord, dbx: Database) -> RestClient:
    """The connector's REST client (its credential decrypted; OAuth tokens shared in the DB)."""
    import inspect

    from pagerbridge.connectors.credentials import rest_client_for

    client: Any = rest_client_for(record, engine=dbx.engine, box=dbx.box())
    if inspect.isawaitable(client):
        client = await client
    return client  # type: ignore[no-any-return]


def with_client(
    record: ConnectorRecord, dbx: Database, work: Callable[[RestClient], Awaitable[T]]
) -> T:
    """Run ``work`` with the connector's client, closing it afterwards."""
    import asyncio

    async def go() -> T:
        client = await open_client(record, dbx)
        async with client:
            return await work(client)

    return asyncio.run(go())


def emit(as_json: bool, data: Any, lines: Callable[[], Iterator[str] | list[str]]) -> None:
    """``data`` as JSON with ``--json``, else the text lines."""
    if as_json:
        from pagerbridge.cli.im_output import emit_json

        emit_json(data)
        return
    for line in lines():
        print(line)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def table(columns: list[str], rows: list[list[str]]) -> None:
    """A plain table in the reference's layout (no borders)."""
    from rich.console import Console
    from rich.table import Table

    out = Table(box=None, header_style="bold", pad_edge=False)
    for col in columns:
        out.add_column(col, overflow="fold")
    for row in rows:
        out.add_row(*row)
    Console(highlight=False, soft_wrap=False).print(out)
