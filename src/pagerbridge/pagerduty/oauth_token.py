"""PagerDuty's OAuth token endpoint: the token model and the one form POST every grant uses.

PagerDuty documents one identity host (``identity.pagerduty.com``) for both service regions; the
region is named in the ``as_account-<region>.<subdomain>`` scope instead. Every function takes a
``token_url`` so the sandbox (or a future regional host) can stand in.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from pagerbridge.errors import OAuthError, TransportError

IDENTITY_URL = "https://identity.pagerduty.com"
TOKEN_URL = IDENTITY_URL + "/oauth/token"
AUTHORIZE_URL = IDENTITY_URL + "/oauth/authorize"
#: Service regions accepted in the ``as_account-`` scope.
OAUTH_REGIONS = frozenset({"us", "eu"})
#: Seconds to wait for the token endpoint.
TOKEN_TIMEOUT = 10.0

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OAuthToken:
    """An access token (and, for user tokens, a refresh token) with its expiry.

    The secrets are left out of ``repr`` so a token never lands in a log by accident.
    """

    access_token: str = field(repr=False)
    token_type: str = "bearer"
    scope: str = ""
    expires_at: datetime | None = None
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def expires_within(self, margin: timedelta, *, now: datetime) -> bool:
        """True if the token is expired or will be within ``margin`` of ``now``."""
        return self.expires_at is not None and now + margin >= self.expires_at

    @classmethod
    def from_response(cls, data: Mapping[str, Any], *, now: datetime) -> OAuthToken:
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthError("invalid_response", "the token endpoint answered without access_token")
        expires_in = data.get("expires_in")
        expires_at = None
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            expires_at = now + timedelta(seconds=float(expires_in))
        refresh = data.get("refresh_token")
        id_token = data.get("id_token")
        return cls(
            access_token=token,
            token_type=str(data.get("token_type") or "bearer"),
            scope=str(data.get("scope") or ""),
            expires_at=expires_at,
            refresh_token=refresh if isinstance(refresh, str) else None,
            id_token=id_token if isinstance(id_token, str) else None,
        )


def _error_from(status: int, payload: bytes) -> OAuthError:
    try:
        data = json.loads(payload) if payload else {}
    except ValueError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    error = data.get("error")
    description = data.get("error_description")
    if isinstance(error, dict):  # a REST-style {"error": {"message": ...}} body
        description = description or error.get("message")
        error = None
    if not isinstance(error, str) or not error:
        error = "server_error" if status >= 500 else "invalid_request"
    if not isinstance(description, str):
        description = f"the token endpoint answered HTTP {status}"
    return OAuthError(error, description, status)


async def token_request(
    token_url: str,
    form: Mapping[str, str],
    *,
    session: aiohttp.ClientSession | None = None,
    request_timeout: float = TOKEN_TIMEOUT,
    clock: Clock = utc_now,
) -> OAuthToken:
    """POST ``form`` (``application/x-www-form-urlencoded``) to the token endpoint.

    Raises ``OAuthError`` for a refusal (RFC 6749 ``error``/``error_description``) and
    ``TransportError`` when there is no answer. The form (it holds secrets) is never logged.
    """
    own = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with http.post(
            token_url,
            data=dict(form),
            headers={"Accept": "application/json"},
            timeout=aiohttp.ClientTimeout(total=request_timeout),
        ) as resp:
            status, payload = resp.status, await resp.read()
    except TimeoutError as exc:
        raise TransportError(f"POST {token_url}: no answer within {request_timeout:g}s") from exc
    except aiohttp.ClientError as exc:
        raise TransportError(f"POST {token_url}: {exc.__class__.__name__}: {exc}") from exc
    finally:
        if own:
            await http.close()
    if status >= 400:
        raise _error_from(status, payload)
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise OAuthError("invalid_response", "the token endpoint's answer is not JSON") from exc
    if not isinstance(data, dict):
        raise OAuthError("invalid_response", "the token endpoint's answer is not a JSON object")
    return OAuthToken.from_response(data, now=clock())
