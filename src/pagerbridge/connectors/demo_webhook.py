"""The demo connector's webhook subscription under ``pagerbridge up`` (sandbox mode).

At every start the ``sandbox`` connector's subscription is made anew, pointing at this start's
hub: the hub's port may have changed, and the sandbox keeps its account (and so its old
subscriptions) across restarts. Old ones are deleted first: those we have rows for, and any other
to a ``/connectors/sandbox/webhook`` address (an earlier database's, whose secret is lost).

It runs once the hub listens (the sandbox delivers to it at once) and never stops ``up``: any
failure becomes a note in the banner.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final
from urllib.parse import urlsplit

import sqlalchemy as sa

from pagerbridge.connectors import records, service, subscription_rows, subscriptions
from pagerbridge.connectors.credentials import rest_client
from pagerbridge.connectors.demo import DEMO_NAME
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.errors import ConnectorNotFoundError, PagerbridgeError

log = logging.getLogger(__name__)

#: ``up`` waits at most this long for the subscription before printing its banner anyway.
DEADLINE: Final = 10.0
_PATH_END: Final = f"/connectors/{DEMO_NAME}/webhook"
_LOCAL_HOSTS: Final = ("127.0.0.1", "localhost", "::1")


async def ensure_demo_subscription(engine: sa.Engine, hub_url: str) -> str:
    """Re-create the demo connector's subscription for ``hub_url``; the banner's note."""
    with engine.connect() as conn:
        try:
            record = records.load(conn, DEMO_NAME)
        except ConnectorNotFoundError:
            return "no demo connector: no webhook subscription"
    if urlsplit(record.settings.base_url).hostname not in _LOCAL_HOSTS:
        return f"connector {DEMO_NAME!r} points elsewhere: its webhooks are left as they are"
    if record.settings.sync_direction not in subscriptions.RECEIVING:
        return (
            f"connector {DEMO_NAME!r} syncs outbound only: changes made in the sandbox do not "
            f"come back (im connector update {DEMO_NAME} --sync-direction bidirectional, then "
            "restart)"
        )
    if record.settings.public_url != hub_url:
        with engine.begin() as conn:
            record = service.update(conn=conn, name=DEMO_NAME, changes={"public_url": hub_url})
    box = SecretBox.for_engine(engine)
    async with rest_client(record, engine=engine, box=box) as client:
        with engine.connect() as conn:
            old = subscription_rows.rows(conn, record.id)
        await subscriptions.delete(client, engine, old)
        async for sub in client.list_webhook_subscriptions():
            url = sub.delivery_method.url if sub.delivery_method else None
            if url and url.endswith(_PATH_END):
                await subscriptions.delete_in_pagerduty(client, sub.id)
        done = await subscriptions.enable(
            record, client, engine=engine, box=box, public_url=hub_url
        )
    return (
        f"sandbox changes come back: its webhooks reach {done.row.url} "
        f"(subscription {done.row.pd_subscription_id})"
    )


async def demo_note(database_url: str, hub_url: str) -> str:
    """:func:`ensure_demo_subscription` on its own engine, within :data:`DEADLINE`; a failure
    is the note, never an exception."""
    from pagerbridge.store.engine import make_engine

    engine = make_engine(database_url)
    try:
        return await asyncio.wait_for(ensure_demo_subscription(engine, hub_url), DEADLINE)
    except (PagerbridgeError, sa.exc.SQLAlchemyError, TimeoutError) as exc:
        log.warning("demo webhook subscription not made: %s", exc)
        return f"no webhook subscription for the demo connector: {exc or 'timed out'}"
    finally:
        engine.dispose()


def after_demo_subscription(
    banner: Callable[[], None], notes: list[str], database_url: str, hub_url: str
) -> Callable[[], None]:
    """An ``on_ready`` for ``up``: make the subscription (the hub listens by then), add its note,
    then print the banner."""
    tasks: set[asyncio.Task[None]] = set()

    async def run() -> None:
        notes.append(await demo_note(database_url, hub_url))
        banner()

    def ready() -> None:
        task = asyncio.get_running_loop().create_task(run())
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    return ready
