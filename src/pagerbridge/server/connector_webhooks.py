"""``POST /connectors/{name}/webhook``: where PagerDuty delivers a connector's v3 webhooks.

No API token: the ``X-PagerDuty-Signature`` of the subscription's secret is the credential (see
:mod:`pagerbridge.connectors.webhook_intake` for the order of checks and the answers).
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from pagerbridge.connectors.webhook_intake import WebhookIntake
from pagerbridge.pagerduty.limits import SIGNATURE_HEADER

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
