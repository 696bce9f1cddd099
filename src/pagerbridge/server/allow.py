"""What a 405 answer's ``Allow`` header says: every method some route serves at that path.

Why here: Starlette names only the methods of the first route whose path matched, and the hub
declares one route per method (``GET`` and ``POST /api/v1/services`` are two routes), so its
``Allow`` would leave methods out; HTTP requires the header on a 405 (RFC 9110, 15.5.6).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from pagerbridge.server.routes import served

#: The order methods are listed in.
ORDER: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: What a mounted directory of static files (the docs' assets) answers.
STATIC: Final = frozenset({"GET", "HEAD"})


def _methods(route: object) -> frozenset[str] | None:
    if isinstance(route, Mount) and isinstance(route.app, StaticFiles):
        return STATIC
    methods = getattr(route, "methods", None)
    return frozenset(methods) if methods else None


class AllowedMethods:
    """Path pattern -> methods, from the app's routes (read once, on the first 405)."""

    def __init__(self) -> None:
        self._table: list[tuple[re.Pattern[str], frozenset[str]]] | None = None

    def header(self, routes: Iterable[BaseRoute], path: str) -> str:
        if self._table is None:
            self._table = []
            for route, view in served(routes):
                methods = _methods(route if isinstance(route, Mount) else view)
                pattern = getattr(view, "path_regex", None)
                if methods and pattern is not None:
                    self._table.append((pattern, methods))
        found: set[str] = set()
        for pattern, allowed in self._table:
            if pattern.match(path):
                found |= allowed
        return ", ".join(sorted(found, key=lambda m: (ORDER.index(m) if m in ORDER else 99, m)))
