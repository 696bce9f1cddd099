"""``POST /connectors/{name}/webhook``: where PagerDuty delivers a connector's v3 webhooks.

No API token: the ``X-PagerDuty-Signature`` of the subscription's secret is the credential (see
:mod:`pagerbridge.connectors.webhook_intake` for the order of checks and the answers).
"""

from __future__ import annotations

import json
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from pagerbridge.connectors.webhook_intake import WebhookIntake
from pagerbridge.pagerduty.limits import SIGNATURE_HEADER
from pagerbridge.server.guard import BODY_MAX_BYTES

PATH: Final = "/connectors/{name}/webhook"


def build_router(intake: WebhookIntake) -> APIRouter:
    r = APIRouter(tags=["connectors"])

    @r.post(
        PATH,
        summary="PagerDuty's v3 webhooks for a connector (signed; no API token)",
        status_code=202,
        responses={
            401: {"description": "unsigned or forged (the signature does not verify)"},
            403: {"description": "the caller's address is not in webhook.ip_allowlist"},
            404: {"description": "no connector of that name receives webhooks"},
            429: {"description": "over the connector's webhook rate limit"},
            503: {"description": "the event could not be stored in time; PagerDuty retries"},
        },
    )
    async def connector_webhook(request: Request, name: str) -> JSONResponse:
        body = await request.body()
        client = request.client.host if request.client else None
        answer = await intake.receive(name, body, request.headers.get(SIGNATURE_HEADER), client)
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)

    return r


class WebhookFastPath:
    """Pure ASGI, outermost: ``POST /connectors/{name}/webhook`` goes straight to the intake.

    Why: at hundreds of deliveries a second the generic stack (request metrics, the strict-JSON
    guard, FastAPI's routing and response objects) cost more CPU than verifying and storing. The
    intake reads the body itself (at most the hub's 1 MiB) and counts every outcome for
    ``/metrics``; the FastAPI route above stays as the documented operation.
    """

    def __init__(self, app: ASGIApp, intake: WebhookIntake) -> None:
        self.app = app
        self.intake = intake

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = _webhook_name(scope)
        if name is None:
            await self.app(scope, receive, send)
            return
        body = await _body(receive)
        if body is None:
            status, payload, headers = 413, _TOO_LARGE, {}
        else:
            signature = client = None
            for key, value in scope["headers"]:
                if key == _SIGNATURE:
                    signature = value.decode("latin-1")
            if scope.get("client"):
                client = scope["client"][0]
            answer = await self.intake.receive(name, body, signature, client)
            status, payload, headers = answer.status, answer.body, answer.headers
        raw = json.dumps(payload, separators=(",", ":")).encode()
        head = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
        head += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": head})
        await send({"type": "http.response.body", "body": raw})


_SIGNATURE: Final = SIGNATURE_HEADER.lower().encode("latin-1")
_PREFIX: Final = "/connectors/"
_SUFFIX: Final = "/webhook"
_TOO_LARGE: Final = {
    "error": {"message": f"the body is larger than {BODY_MAX_BYTES:,} bytes", "reason": "too_large"}
}


def _webhook_name(scope: Scope) -> str | None:
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    path: str = scope["path"]
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    name = path[len(_PREFIX) : -len(_SUFFIX)]
    return name if name and "/" not in name else None


async def _body(receive: Receive) -> bytes | None:
    """The request body, or None past the hub's limit (the rest is drained)."""
    chunks: list[bytes] = []
    size, more = 0, True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks)
        chunk: bytes = message.get("body", b"")
        more = message.get("more_body", False)
        size += len(chunk)
        if size > BODY_MAX_BYTES:
            while more:
                message = await receive()
                more = message["type"] == "http.request" and message.get("more_body", False)
            return None
        chunks.append(chunk)
    return b"".join(chunks)
