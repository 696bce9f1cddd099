"""PagerDuty v3 webhooks: ``X-PagerDuty-Signature`` signing and verification, envelope parsing.

Signatures follow developer-docs ``webhooks/04-Signatures.md``: lowercase hex HMAC-SHA256 of the
*raw* request body keyed with the subscription secret (UTF-8), sent as ``v1=<hex>``; during a
secret rotation the header carries several comma-separated values and any one may match.
Comparison is constant-time and every candidate is compared (no early exit on a match).

Typed envelope models (pydantic) are in ``webhook_types``; ``parse_webhook`` builds them, after
``verify`` has checked the raw bytes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from pagerbridge.errors import ConfigError, SignatureError
from pagerbridge.pagerduty.limits import SIGNATURE_HEADER, SIGNATURE_VERSION
from pagerbridge.pagerduty.webhook_types import (
    EVENT_TYPES,
    WebhookEnvelope,
    WebhookEvent,
    WebhookPayloadError,
)

__all__ = [
    "EVENT_TYPES",
    "SIGNATURE_HEADER",
    "WebhookEnvelope",
    "WebhookEvent",
    "WebhookPayloadError",
    "build_envelope",
    "parse_webhook",
    "sign",
    "signature_for",
    "verify",
]

_PREFIX = SIGNATURE_VERSION + "="


def _secret_list(secrets: str | Sequence[str]) -> list[str]:
    found = [secrets] if isinstance(secrets, str) else list(secrets)
    found = [s for s in found if s]
    if not found:
        raise ConfigError("no webhook signing secret is configured")
    return found


def _as_bytes(body: bytes | str) -> bytes:
    return body.encode("utf-8") if isinstance(body, str) else bytes(body)


def signature_for(body: bytes | str, secret: str) -> str:
    """The bare lowercase hex HMAC-SHA256 of ``body`` under ``secret``."""
    return hmac.new(secret.encode("utf-8"), _as_bytes(body), hashlib.sha256).hexdigest()


def sign(body: bytes | str, secrets: str | Sequence[str]) -> str:
    """The ``X-PagerDuty-Signature`` value for ``body``: ``v1=<hex>`` per secret, comma-joined."""
    return ",".join(_PREFIX + signature_for(body, s) for s in _secret_list(secrets))


def verify(body: bytes | str, signature_header: str | None, secrets: str | Sequence[str]) -> None:
    """Raise ``SignatureError`` unless some ``v1=`` value in the header matches some secret.

    ``body`` must be the unaltered raw request body. Several secrets may be given (ours, during
    a rotation on our side); several signatures may be sent (during a rotation on PagerDuty's).
    """
    wanted = [signature_for(body, s) for s in _secret_list(secrets)]
    if not signature_header or not signature_header.strip():
        raise SignatureError(f"the {SIGNATURE_HEADER} header is missing")
    offered = [
        part.strip()[len(_PREFIX) :].lower()
        for part in signature_header.split(",")
        if part.strip().startswith(_PREFIX)
    ]
    if not offered:
        raise SignatureError(f"the {SIGNATURE_HEADER} header has no {_PREFIX} signature")
    matched = False
    for candidate in offered:
        for expected in wanted:
            # compare_digest on ASCII bytes: constant time for equal lengths, no early exit here.
            if hmac.compare_digest(candidate.encode("ascii", "replace"), expected.encode()):
                matched = True
    if not matched:
        raise SignatureError(
            f"the {SIGNATURE_HEADER} header does not match the body for any configured secret"
        )


def build_envelope(
    event_type: str,
    data: Mapping[str, Any],
    *,
    agent: Mapping[str, Any] | None = None,
    client: Mapping[str, Any] | None = None,
    occurred_at: datetime | str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A v3 webhook body ``{"event": {...}}`` as PagerDuty sends it (used by the sandbox).

    ``resource_type`` is the leftmost part of ``event_type``. ``occurred_at`` defaults to now;
    pass it explicitly where time is injected.
    """
    if occurred_at is None:
        occurred_at = datetime.now(UTC)
    if isinstance(occurred_at, datetime):
        if occurred_at.tzinfo is None:
            occurred_at = occurred_at.replace(tzinfo=UTC)
        stamp = occurred_at.astimezone(UTC).isoformat(timespec="milliseconds")
        occurred_at = stamp.replace("+00:00", "Z")
    return {
        "event": {
            "id": event_id or str(uuid.uuid4()),
            "event_type": event_type,
            "resource_type": event_type.split(".", 1)[0],
            "occurred_at": occurred_at,
            "agent": dict(agent) if agent is not None else None,
            "client": dict(client) if client is not None else None,
            "data": dict(data),
        }
    }


def parse_webhook(body: bytes | str | Mapping[str, Any]) -> WebhookEnvelope:
    """Parse a (verified) v3 webhook body; unknown event types parse into ``GenericData``.

    Raises ``WebhookPayloadError`` naming the first problems when the body is not JSON or not a
    v3 envelope (e.g. ``event.occurred_at: Input should be a valid datetime``).
    """
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise WebhookPayloadError(f"the webhook body is not valid JSON: {exc}") from exc
    if not isinstance(body, Mapping) or not isinstance(body.get("event"), Mapping):
        raise WebhookPayloadError('the webhook body is not a v3 envelope ({"event": {...}})')
    try:
        return WebhookEnvelope.model_validate(body)
    except ValidationError as exc:
        problems = [
            ".".join(str(part) for part in error["loc"]) + ": " + error["msg"]
            for error in exc.errors()[:5]
        ]
        raise WebhookPayloadError(
            "the webhook body is not a valid v3 event: " + "; ".join(problems)
        ) from exc
