"""Webhook subscriptions as the dispatcher sees them: matching, secrets, request headers.

Subscriptions stay in PagerDuty's REST shape (``webhook_subscription``); these helpers read that
shape, so the sandbox's REST API and the dispatcher share one source of truth.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pagerbridge.pagerduty.webhooks import SIGNATURE_HEADER, sign
from pagerbridge.sandbox.webhooks_policy import USER_AGENT

Resource = dict[str, Any]


@dataclass(frozen=True)
class Target:
    """What a delivery needs from its subscription, read when the event is published."""

    subscription: Resource
    id: str
    url: str
    custom_headers: tuple[tuple[str, str], ...]
    secrets: tuple[str, ...]

    @classmethod
    def of(cls, subscription: Resource) -> Target:
        method = subscription.get("delivery_method") or {}
        custom = tuple(
            (str(h["name"]), str(h.get("value", "")))
            for h in method.get("custom_headers") or []
            if h.get("name")
        )
        return cls(
            subscription,
            str(subscription.get("id")),
            str(method.get("url", "")),
            custom,
            tuple(subscription_secrets(subscription)),
        )

    def request_headers(self, body: bytes, webhook_id: str) -> dict[str, str]:
        """Custom headers first, so they cannot replace the ones PagerDuty always sets."""
        headers = dict(self.custom_headers)
        headers.update(
            {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Webhook-Id": webhook_id,
                "X-Webhook-Subscription": self.id,
            }
        )
        if self.secrets:
            headers[SIGNATURE_HEADER] = sign(body, self.secrets)
        return headers


def subscription_secrets(subscription: Mapping[str, Any]) -> list[str]:
    """The signing secrets of a subscription: ``delivery_method.secret`` plus any others kept
    in ``delivery_method.secrets`` during a rotation (all are used to sign)."""
    method = subscription.get("delivery_method") or {}
    found: list[str] = []
    for secret in [method.get("secret"), *(method.get("secrets") or [])]:
        if isinstance(secret, str) and secret and secret not in found:
            found.append(secret)
    return found


def matches(
    subscription: Mapping[str, Any], event_type: str, *, service_id: str, team_ids: Iterable[str]
) -> bool:
    """True if an active subscription wants this event type for this service or team."""
    method = subscription.get("delivery_method") or {}
    if subscription.get("active", True) is False or method.get("temporarily_disabled"):
        return False
    if event_type not in (subscription.get("events") or []):
        return False
    flt = subscription.get("filter") or {}
    kind = flt.get("type")
    if kind == "account_reference":
        return True
    if kind == "service_reference":
        return bool(service_id) and flt.get("id") == service_id
    if kind == "team_reference":
        return flt.get("id") in set(team_ids)
    return False
