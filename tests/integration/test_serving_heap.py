"""A server puts its start-up heap out of the garbage collector's reach once it listens (full
collections walked it all: 45 to 120 ms with the hub's event loop stopped, its webhook p99)."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

from pagerbridge.agent.serving import Served, bind, run_services


async def nothing(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})


def test_a_server_freezes_the_heap_once_it_listens() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    frozen: list[int] = []
    served = Served("test", nothing, bind("127.0.0.1", 0))

    async def main() -> None:
        stop = asyncio.Event()

        def ready() -> None:
            frozen.append(gc.get_freeze_count())
            stop.set()

        await run_services(stop, front=[served], on_ready=ready)

    try:
        asyncio.run(main())
    finally:
        gc.unfreeze()
    assert frozen and frozen[0] > 10_000  # every module, class and function loaded by then
