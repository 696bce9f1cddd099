"""The shared token between agents: who may enqueue, read metrics, or forward to us.

Clients present it as ``Authorization: Bearer <token>`` (what a forwarding agent and Prometheus
send) or ``X-Pagerbridge-Token: <token>`` (for tools that can add a header but not a scheme).
Comparison is constant-time. Loopback clients are exempt by default, like pdagent's local queue,
so local ``pd-send`` fallbacks keep working; set ``loopback_exempt: false`` behind a local
reverse proxy, where every client looks local.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from dataclasses import dataclass

from pagerbridge.agent.config import is_loopback_host

TOKEN_HEADER = "x-pagerbridge-token"


def presented_token(headers: Mapping[str, str]) -> str | None:
    """The token a request carries, if any (header names are lower-case, as ASGI gives them)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    token = headers.get(TOKEN_HEADER)
    return token.strip() if token else None


@dataclass(frozen=True)
class TokenPolicy:
    """Decides whether a request may pass; holds the token but never prints it."""

    token: str | None
    loopback_exempt: bool = True

    def __repr__(self) -> str:
        return f"TokenPolicy(token={'***' if self.token else None}, exempt={self.loopback_exempt})"

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def allows(self, headers: Mapping[str, str], client_host: str | None) -> bool:
        if self.token is None:
            return True
        if self.loopback_exempt and client_host is not None and is_loopback_host(client_host):
            return True
        given = presented_token(headers)
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))
