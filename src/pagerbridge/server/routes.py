"""Every route the hub serves, flattened: for the OpenAPI document and the ``Allow`` header.

Why a helper: newer FastAPI keeps an included router as one route object of its own
(``_IncludedRouter``) and offers ``fastapi.routing.iter_route_contexts`` to see through it;
older FastAPI (``fastapi>=0.110`` is what the project declares) copies the routes into the app's
list, which is then flat already.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import fastapi.routing
from starlette.routing import BaseRoute

#: None on an older FastAPI, whose route list is flat.
_ITER_CONTEXTS: Any = getattr(fastapi.routing, "iter_route_contexts", None)


class Served(NamedTuple):
    """A route as declared (``route``) and as it serves (``view``: its full path, ``path_regex``,
    ``path_format`` and ``methods``, prefixes included)."""

    route: BaseRoute
    view: Any


def served(routes: Iterable[BaseRoute]) -> Iterator[Served]:
    if _ITER_CONTEXTS is None:  # pragma: no cover
        yield from (Served(r, r) for r in routes)
        return
    for ctx in _ITER_CONTEXTS(list(routes)):
        yield Served(ctx.original_route, ctx)
