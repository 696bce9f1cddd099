"""PagerDuty OAuth: scoped app tokens by client credentials, and user tokens (PKCE, refresh).

``ClientCredentials`` and ``UserToken`` are token providers for ``RestClient(oauth_token=...)``:
they hand out a cached access token and fetch a new one shortly before it expires (one fetch
even when many requests ask at once). Time comes from an injected clock so tests can move it.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

import aiohttp

from pagerbridge.errors import OAuthError
from pagerbridge.pagerduty.oauth_token import (
    AUTHORIZE_URL,
    IDENTITY_URL,
    OAUTH_REGIONS,
    TOKEN_TIMEOUT,
    TOKEN_URL,
    Clock,
    OAuthToken,
    token_request,
    utc_now,
)
from pagerbridge.pagerduty.oauth_user import (
    PKCE,
    authorization_url,
    code_challenge,
    code_from_redirect,
    exchange_code,
    generate_pkce,
    new_state,
    refresh,
)

__all__ = [
    "AUTHORIZE_URL",
    "IDENTITY_URL",
    "OAUTH_REGIONS",
    "PKCE",
    "RENEW_BEFORE",
    "TOKEN_URL",
    "ClientCredentials",
    "OAuthToken",
    "UserToken",
    "account_scope",
    "authorization_url",
    "code_challenge",
    "code_from_redirect",
    "exchange_code",
    "generate_pkce",
    "new_state",
    "refresh",
]

log = logging.getLogger(__name__)

#: Fetch a new token this long before the current one expires (app tokens live a day).
RENEW_BEFORE = timedelta(minutes=5)


def account_scope(region: str, subdomain: str) -> str:
    """``as_account-<region>.<subdomain>``: names the account an app token is for."""
    if region not in OAUTH_REGIONS:
        raise ValueError(f"region {region!r}: PagerDuty accepts {', '.join(sorted(OAUTH_REGIONS))}")
    if not subdomain or any(c.isspace() or c == "." for c in subdomain):
        raise ValueError(
            f"subdomain {subdomain!r}: give the account's subdomain, e.g. 'acme' for "
            "acme.pagerduty.com"
        )
    return f"as_account-{region}.{subdomain}"


def _margin(token: OAuthToken, renew_before: timedelta, clock: Clock) -> timedelta:
    """Renew ``renew_before`` ahead, or halfway through a lifetime shorter than twice that."""
    if token.expires_at is None:
        return renew_before
    lifetime = token.expires_at - clock()
    return min(renew_before, max(lifetime / 2, timedelta(0)))


class _CachedToken(ABC):
    """One cached token, renewed under a lock by ``_fetch`` (the subclass's grant)."""

    def __init__(self, *, clock: Clock | None, renew_before: timedelta) -> None:
        self._clock: Clock = clock or utc_now
        self._renew_before = renew_before
        self._token: OAuthToken | None = None
        self._renew_at: datetime | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0

    @abstractmethod
    async def _fetch(self) -> OAuthToken:
        """Get a new token from PagerDuty by this class's grant."""

    def _fresh(self) -> bool:
        if self._token is None:
            return False
        return self._renew_at is None or self._clock() < self._renew_at

    async def token(self) -> OAuthToken:
        """The current token, fetching a new one first if it is missing or about to expire."""
        if self._fresh():
            assert self._token is not None
            return self._token
        async with self._lock:
            if not self._fresh():  # another task may have renewed it while we waited
                token = await self._fetch()
                self.fetches += 1
                log.info("obtained an OAuth token (%r)", token)  # repr leaves the secrets out
                self._token = token
                self._renew_at = (
                    None
                    if token.expires_at is None
                    else token.expires_at - _margin(token, self._renew_before, self._clock)
                )
        assert self._token is not None
        return self._token

    async def access_token(self) -> str:
        return (await self.token()).access_token

    def invalidate(self) -> None:
        """Forget the cached token (e.g. after a 401), so the next call fetches a new one."""
        self._token = None
        self._renew_at = None


class ClientCredentials(_CachedToken):
    """A scoped app token (client credentials grant) for one account, cached and renewed.

    ``scopes`` are the app's scopes (e.g. ``["incidents.read", "services.read"]``); the
    ``as_account-<region>.<subdomain>`` scope is added from ``region`` and ``subdomain``. If the
    endpoint grants fewer scopes than asked (PagerDuty does that silently), ``OAuthError`` names
    the missing ones instead of letting every later call fail with 403.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        scopes: Sequence[str] | str,
        *,
        region: str = "us",
        subdomain: str,
        token_url: str | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = TOKEN_TIMEOUT,
        clock: Clock | None = None,
        renew_before: timedelta = RENEW_BEFORE,
    ) -> None:
        super().__init__(clock=clock, renew_before=renew_before)
        wanted = scopes.split() if isinstance(scopes, str) else list(scopes)
        if any(s.startswith("as_account-") for s in wanted):
            raise ValueError("leave as_account- out of scopes: pass region= and subdomain=")
        if not client_id or not client_secret:
            raise ValueError("client_id and client_secret are required")
        self.client_id = client_id
        self._secret = client_secret
        self.scopes = tuple(dict.fromkeys(wanted))
        self.scope = " ".join((account_scope(region, subdomain), *self.scopes))
        self.token_url = token_url or TOKEN_URL
        self._session = session
        self._timeout = timeout

    def __repr__(self) -> str:  # the secret stays out
        return f"ClientCredentials(client_id={self.client_id!r}, scope={self.scope!r})"

    async def _fetch(self) -> OAuthToken:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "scope": self.scope,
        }
        token = await token_request(
            self.token_url,
            form,
            session=self._session,
            request_timeout=self._timeout,
            clock=self._clock,
        )
        if token.scope:  # an answer without "scope" granted what was asked (RFC 6749 5.1)
            missing = [s for s in self.scopes if s not in token.scopes]
            if missing:
                raise OAuthError(
                    "invalid_scope",
                    f"the token endpoint did not grant {', '.join(missing)} (granted: "
                    f"{token.scope}); add them to the app's Scoped OAuth configuration",
                )
        return token


OnRefresh = Callable[[OAuthToken], Awaitable[None]]


class UserToken(_CachedToken):
    """A user token that refreshes itself; ``on_refresh`` persists each new refresh token."""

    def __init__(
        self,
        token: OAuthToken,
        *,
        client_id: str,
        client_secret: str,
        token_url: str | None = None,
        on_refresh: OnRefresh | None = None,
        session: aiohttp.ClientSession | None = None,
        timeout: float = TOKEN_TIMEOUT,
        clock: Clock | None = None,
        renew_before: timedelta = RENEW_BEFORE,
    ) -> None:
        super().__init__(clock=clock, renew_before=renew_before)
        self.client_id = client_id
        self._secret = client_secret
        self.token_url = token_url or TOKEN_URL
        self._on_refresh = on_refresh
        self._session = session
        self._timeout = timeout
        self._current = token
        self._token = token
        self._renew_at = (
            None
            if token.expires_at is None
            else token.expires_at - _margin(token, renew_before, self._clock)
        )

    def __repr__(self) -> str:
        return f"UserToken(client_id={self.client_id!r}, scope={self._current.scope!r})"

    async def _fetch(self) -> OAuthToken:
        if not self._current.refresh_token:
            raise OAuthError("invalid_grant", "the user token expired and has no refresh token")
        token = await refresh(
            client_id=self.client_id,
            client_secret=self._secret,
            refresh_token=self._current.refresh_token,
            token_url=self.token_url,
            session=self._session,
            request_timeout=self._timeout,
            clock=self._clock,
        )
        self._current = token
        if self._on_refresh is not None:
            await self._on_refresh(token)
        return token
