"""The hub's end of a connector's OAuth user grant: ``GET /connectors/{name}/oauth/callback``.

PagerDuty sends the browser here after the user allowed access (``im connector authorize NAME``
printed the address). No API token: the ``state`` stored when the grant started is what ties
this answer to it. The page says whether the connector is connected; the waiting command reads
the result from the database.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Annotated, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from pagerbridge.connectors.oauth_grant import CallbackError, complete
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.errors import ConnectorNotFoundError, PagerbridgeError

log = logging.getLogger(__name__)

PATH: Final = "/connectors/{name}/oauth/callback"
#: What a connector name may be (as ``im connector add`` checks it); anything else is unknown.
_NAME: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: Longest code or state taken; PagerDuty's codes and our states are far shorter.
_MAX_VALUE: Final = 2048
_STATE: Final = "The state `im connector authorize` sent; an unknown one is a 404 (no change)."
_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>pagerbridge: {title}</title>
<meta name="robots" content="noindex"></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 4em auto">
<h1>{title}</h1><p>{message}</p></body></html>
"""


def _page(status: int, title: str, message: str) -> HTMLResponse:
    body = _PAGE.format(title=html.escape(title), message=html.escape(message))
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _box(request: Request) -> SecretBox:
    """The hub's SecretBox, made on first use (the key is read from the environment once)."""
    box: SecretBox | None = getattr(request.app.state, "secret_box", None)
    if box is None:
        box = SecretBox.for_engine(request.app.state.engine)
        request.app.state.secret_box = box
    return box


def build_router() -> APIRouter:
    r = APIRouter(tags=["connectors"])

    @r.get(
        PATH,
        summary="Where PagerDuty returns after `im connector authorize` (no token: the state)",
        response_class=HTMLResponse,
    )
    async def connector_oauth_callback(
        request: Request,
        name: str,
        state: Annotated[str, Query(max_length=_MAX_VALUE, description=_STATE)],
        code: Annotated[str | None, Query(max_length=_MAX_VALUE)] = None,
        error: Annotated[str | None, Query(max_length=200)] = None,
        error_description: Annotated[str | None, Query(max_length=1000)] = None,
    ) -> HTMLResponse:
        if not _NAME.fullmatch(name):
            return _page(404, "Not connected", "no connector has that name")
        try:
            stored = await complete(
                request.app.state.engine,
                _box(request),
                name,
                state=state,
                code=code,
                error=error,
                error_description=error_description,
            )
        except CallbackError as exc:
            return _page(exc.status, "Not connected", str(exc))
        except ConnectorNotFoundError as exc:
            return _page(404, "Not connected", str(exc))
        except PagerbridgeError as exc:
            log.warning("OAuth callback of connector %s failed: %s", name, exc)
            return _page(500, "Not connected", str(exc))
        return _page(
            200,
            "Connected",
            f"Connector {name} is connected to PagerDuty (scopes: {stored.scope or 'none'}). "
            "You can close this page.",
        )

    return r
