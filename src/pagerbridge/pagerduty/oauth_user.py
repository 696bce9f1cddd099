"""User OAuth tokens: authorization code with PKCE S256, then refresh.

PagerDuty requires PKCE for Scoped OAuth apps and for any client without a secret, so PKCE is
not optional here. ``state`` guards the redirect against cross-site request forgery.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from pagerbridge.errors import OAuthError
from pagerbridge.pagerduty.oauth_token import (
    AUTHORIZE_URL,
    TOKEN_TIMEOUT,
    TOKEN_URL,
    Clock,
    OAuthToken,
    token_request,
    utc_now,
)

#: RFC 7636: a verifier is 43 to 128 characters of [A-Z a-z 0-9 - . _ ~].
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


def code_challenge(verifier: str) -> str:
    """The S256 challenge: base64url (no padding) of SHA-256 over the verifier's ASCII bytes."""
    if not _VERIFIER.match(verifier):
        raise ValueError("a PKCE code_verifier is 43-128 characters of A-Z a-z 0-9 - . _ ~")
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PKCE:
    """A one-time verifier and its challenge; keep ``verifier`` until the code comes back."""

    verifier: str = field(repr=False)
    challenge: str
    method: str = "S256"


def generate_pkce() -> PKCE:
    """A fresh 128-character verifier (the maximum PKCE allows) and its S256 challenge."""
    verifier = secrets.token_urlsafe(96)  # 96 random bytes -> 128 base64url characters
    return PKCE(verifier=verifier, challenge=code_challenge(verifier))


def new_state() -> str:
    """An unguessable ``state`` value to tie the redirect back to this browser session."""
    return secrets.token_urlsafe(32)


def authorization_url(
    client_id: str,
    redirect_uri: str,
    scopes: Sequence[str] | str,
    *,
    code_challenge: str,
    state: str | None = None,
    authorize_url: str = AUTHORIZE_URL,
) -> str:
    """Where to send the user (leg 1): ``response_type=code`` with the S256 challenge."""
    scope = scopes if isinstance(scopes, str) else " ".join(scopes)
    if not scope.strip():
        raise ValueError("scopes: name at least one (read/write, or the app's scoped scopes)")
    query = {
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": scope,
        "code_challenge": code_challenge,
        "code_challenge_method": "S256",
    }
    if state is not None:
        query["state"] = state
    separator = "&" if "?" in authorize_url else "?"
    return authorize_url + separator + urlencode(query)


def code_from_redirect(url: str, *, state: str | None = None) -> str:
    """The ``code`` of the redirect back to us (leg 2); a denial or a wrong state is an error."""
    query = parse_qs(urlsplit(url).query)
    if "error" in query:
        raise OAuthError(query["error"][0], query.get("error_description", [""])[0])
    if state is not None and query.get("state", [None])[0] != state:
        raise OAuthError("invalid_state", "the redirect's state does not match this request")
    codes = query.get("code")
    if not codes or not codes[0]:
        raise OAuthError("invalid_request", "the redirect carries no authorization code")
    return codes[0]


async def exchange_code(
    *,
    client_id: str,
    code: str,
    redirect_uri: str,
    code_verifier: str,
    client_secret: str | None = None,
    token_url: str = TOKEN_URL,
    session: aiohttp.ClientSession | None = None,
    request_timeout: float = TOKEN_TIMEOUT,
    clock: Clock = utc_now,
) -> OAuthToken:
    """Leg 3: trade the code (valid 30 s) for a user token; confidential clients send the secret."""
    form = {
        "grant_type": "authorization_code",
        "client_id": client_id,
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": code_verifier,
    }
    if client_secret is not None:
        form["client_secret"] = client_secret
    return await token_request(
        token_url, form, session=session, request_timeout=request_timeout, clock=clock
    )


async def refresh(
    *,
    client_id: str,
    client_secret: str,
    refresh_token: str,
    token_url: str = TOKEN_URL,
    session: aiohttp.ClientSession | None = None,
    request_timeout: float = TOKEN_TIMEOUT,
    clock: Clock = utc_now,
) -> OAuthToken:
    """A new access token (and a new refresh token) from a refresh token."""
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "client_secret": client_secret,
        "refresh_token": refresh_token,
    }
    return await token_request(
        token_url, form, session=session, request_timeout=request_timeout, clock=clock
    )
