"""The sandbox's OAuth token store: clients, authorization codes, access and refresh tokens.

Kept apart from the HTTP routes (``sandbox/oauth.py``) so the grant rules can be tested without a
server and so the REST API can ask ``validate_bearer`` without importing Starlette. Lifetimes
follow PagerDuty's Scoped OAuth documentation (app and user access tokens: 1 day; refresh tokens:
30 days; authorization codes: 30 seconds); every one of them, and the clock, can be overridden so
tests can expire tokens without waiting.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pagerbridge.errors import OAuthError
from pagerbridge.sandbox.oauth_scopes import required_scope

ACCESS_TOKEN_TTL = 86_400.0
REFRESH_TOKEN_TTL = 30 * 86_400.0
AUTHORIZATION_CODE_TTL = 30.0
DEFAULT_REGION = "us"
DEFAULT_SUBDOMAIN = "sandbox"
DEMO_CLIENT_ID = "sandbox-client"
DEMO_CLIENT_SECRET = "sandbox-secret"
DEMO_USER_ID = "PDEMOU1"
ACCOUNT_SCOPE_PREFIX = "as_account-"
# Scoped OAuth resources named in PagerDuty's REST reference ("<resource>.read" / ".write").
SCOPED_RESOURCES = frozenset(
    {
        "abilities",
        "addons",
        "analytics",
        "audit_records",
        "change_events",
        "contextual_data",
        "custom_fields",
        "escalation_policies",
        "event_orchestrations",
        "event_rules",
        "extension_schemas",
        "extensions",
        "incident_types",
        "incident_workflows",
        "incident_workflows:instances",
        "incidents",
        "ip_allow_lists",
        "licenses",
        "oauth_delegations",
        "oncalls",
        "priorities",
        "recommendations",
        "schedules",
        "services",
        "session_configurations",
        "sre_agent",
        "standards",
        "status_dashboards",
        "status_pages",
        "subscribers",
        "tags",
        "teams",
        "templates",
        "users",
        "users:contact_methods",
        "users:notifications",
        "users:sessions",
        "vendors",
        "webhook_subscriptions",
        "workflow_integrations",
        "workflow_integrations:connections",
    }
)
CLASSIC_SCOPES = frozenset({"read", "write", "openid"})
_ACCESS_PREFIX = "pdus+_0SANDBX_"
_REFRESH_PREFIX = "pdus+_1SANDBX_"


@dataclass(frozen=True)
class OAuthClient:
    """A registered app. ``redirect_uris`` empty means any URI is accepted (sandbox convenience)."""

    client_id: str
    client_secret: str | None
    redirect_uris: tuple[str, ...] = ()
    default_scopes: tuple[str, ...] = ("openid", "write")

    @property
    def confidential(self) -> bool:
        return self.client_secret is not None


@dataclass(frozen=True)
class Principal:
    """Who a bearer token speaks for: an app (client credentials) or a user through an app."""

    kind: str  # "app" or "user"
    client_id: str
    scopes: frozenset[str]
    expires_at: float
    user_id: str | None = None

    def allows(self, scope: str) -> bool:
        """True when the token carries ``scope`` (``write`` implies ``read``, per resource too)."""
        if scope in self.scopes or "write" in self.scopes:
            return True
        resource, _, level = scope.rpartition(".")
        if level == "read":
            return "read" in self.scopes or f"{resource}.write" in self.scopes
        return False

    def permits(self, method: str, path: str) -> bool:
        """True if the token may call ``method path`` on the REST API (else answer 403)."""
        scope = required_scope(method, path)
        return scope is None or self.allows(scope)


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint returns (serialised by ``as_json``)."""

    access_token: str
    scope: str
    expires_in: int
    refresh_token: str | None = None
    id_token: str | None = None

    def as_json(self) -> dict[str, object]:
        body: dict[str, object] = {
            "access_token": self.access_token,
            "token_type": "bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        if self.refresh_token is not None:
            body["refresh_token"] = self.refresh_token
        if self.id_token is not None:
            body["id_token"] = self.id_token
        return body


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    code_challenge: str | None
    user_id: str
    expires_at: float
    used: bool = False
    issued: list[str] = field(default_factory=list)


@dataclass
class _Refresh:
    client_id: str
    scopes: frozenset[str]
    user_id: str
    expires_at: float


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge for ``verifier``: base64url(sha256(ascii)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


class TokenStore:
    """In-memory OAuth state for one sandbox; thread-safe (uvicorn thread + test thread)."""

    def __init__(
        self,
        clients: Iterable[OAuthClient] | None = None,
        *,
        region: str = DEFAULT_REGION,
        subdomain: str = DEFAULT_SUBDOMAIN,
        user_id: str = DEMO_USER_ID,
        clock: Callable[[], float] = time.time,
        access_ttl: float = ACCESS_TOKEN_TTL,
        refresh_ttl: float = REFRESH_TOKEN_TTL,
        code_ttl: float = AUTHORIZATION_CODE_TTL,
        api_url: str = "https://api.pagerduty.com",
    ) -> None:
        if clients is None:
            clients = [OAuthClient(DEMO_CLIENT_ID, DEMO_CLIENT_SECRET)]
        self._clients = {c.client_id: c for c in clients}
        self.region = region
        self.subdomain = subdomain
        self.user_id = user_id
        self.clock = clock
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self.code_ttl = code_ttl
        self.api_url = api_url
        self._lock = threading.Lock()
        self._access: dict[str, Principal] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._codes: dict[str, _Code] = {}

    @property
    def account_scope(self) -> str:
        return f"{ACCOUNT_SCOPE_PREFIX}{self.region}.{self.subdomain}"

    # -- clients -----------------------------------------------------------------------------

    def add_client(self, client: OAuthClient) -> None:
        with self._lock:
            self._clients[client.client_id] = client

    def client(self, client_id: str) -> OAuthClient | None:
        return self._clients.get(client_id)

    def authenticate(self, client_id: str | None, client_secret: str | None) -> OAuthClient:
        """The client, if the id is known and the secret right (or absent for public clients)."""
        client = self._clients.get(client_id or "")
        if client is None:
            raise OAuthError("invalid_client", "Client authentication failed: unknown client", 401)
        if client.confidential:
            given = (client_secret or "").encode()
            if not client_secret or not hmac.compare_digest(
                given, (client.client_secret or "").encode()
            ):
                raise OAuthError(
                    "invalid_client", "Client authentication failed: wrong client_secret", 401
                )
        return client

    # -- scopes ------------------------------------------------------------------------------

    def grantable(self, requested: Iterable[str]) -> frozenset[str]:
        """The requested scopes the sandbox knows; PagerDuty silently drops the others."""
        granted: set[str] = set()
        for scope in requested:
            resource, _, level = scope.rpartition(".")
            known = scope in CLASSIC_SCOPES or scope == self.account_scope
            if known or (level in {"read", "write"} and resource in SCOPED_RESOURCES):
                granted.add(scope)
        return frozenset(granted)

    @staticmethod
    def format_scopes(scopes: Iterable[str]) -> str:
        ordered = sorted(scopes, key=lambda s: (not s.startswith(ACCOUNT_SCOPE_PREFIX), s))
        return " ".join(ordered)

    # -- grants ------------------------------------------------------------------------------

    def client_credentials(self, client: OAuthClient, scope: str | None) -> TokenGrant:
        """An app token; the scope must name this account as ``as_account-REGION.SUBDOMAIN``."""
        requested = (scope or "").split()
        accounts = [s for s in requested if s.startswith(ACCOUNT_SCOPE_PREFIX)]
        if not accounts:
            raise OAuthError(
                "invalid_scope",
                f"scope must include the account scope {self.account_scope!r}",
                400,
            )
        if any(a != self.account_scope for a in accounts):
            raise OAuthError(
                "invalid_scope",
                f"unknown account {accounts[0]!r}; this sandbox is {self.account_scope!r}",
                400,
            )
        scopes = self.grantable(requested)
        token, expires_in = self._issue_access("app", client.client_id, scopes, None)
        return TokenGrant(token, self.format_scopes(scopes), expires_in)

    def authorize(
        self,
        client: OAuthClient,
        *,
        redirect_uri: str,
        scope: str | None,
        code_challenge: str | None,
    ) -> str:
        """Approve at once (the sandbox's user always consents) and return a one-time code."""
        requested = scope.split() if scope else list(client.default_scopes)
        scopes = self.grantable(requested) | {"openid"}
        code = _b64(secrets.token_bytes(24))
        with self._lock:
            self._prune()
            self._codes[code] = _Code(
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                code_challenge=code_challenge,
                user_id=self.user_id,
                expires_at=self.clock() + self.code_ttl,
            )
        return code

    def exchange_code(
        self,
        client: OAuthClient,
        *,
        code: str,
        redirect_uri: str,
        code_verifier: str | None,
    ) -> TokenGrant:
        """Trade a code for user tokens; checks expiry, single use, redirect URI and PKCE."""
        with self._lock:
            entry = self._codes.get(code)
            if entry is None or entry.client_id != client.client_id:
                raise OAuthError("invalid_grant", "authorization code is unknown", 400)
            if entry.used:
                # RFC 6749 section 4.1.2: a code used twice revokes what it issued.
                for token in entry.issued:
                    self._access.pop(token, None)
                    self._refresh.pop(token, None)
                raise OAuthError("invalid_grant", "authorization code was already used", 400)
            if self.clock() >= entry.expires_at:
                raise OAuthError("invalid_grant", "authorization code has expired", 400)
            if redirect_uri != entry.redirect_uri:
                raise OAuthError(
                    "invalid_grant", "redirect_uri does not match the authorization request", 400
                )
            if entry.code_challenge is not None:
                if not code_verifier:
                    raise OAuthError("invalid_request", "code_verifier is required (PKCE)", 400)
                expected = pkce_challenge(code_verifier).encode()
                if not hmac.compare_digest(expected, entry.code_challenge.encode()):
                    raise OAuthError(
                        "invalid_grant", "code_verifier does not match the code_challenge", 400
                    )
            entry.used = True
        access, expires_in = self._issue_access(
            "user", client.client_id, entry.scopes, entry.user_id
        )
        refresh = self._issue_refresh(client.client_id, entry.scopes, entry.user_id)
        entry.issued.extend([access, refresh])
        id_token = self._id_token(client, entry.user_id)
        return TokenGrant(access, self.format_scopes(entry.scopes), expires_in, refresh, id_token)

    def refresh(self, client: OAuthClient, refresh_token: str) -> TokenGrant:
        """A new access token and a new refresh token; the old refresh token stops working."""
        with self._lock:
            entry = self._refresh.get(refresh_token)
            if entry is None or entry.client_id != client.client_id:
                raise OAuthError("invalid_grant", "refresh token is unknown or revoked", 400)
            if self.clock() >= entry.expires_at:
                del self._refresh[refresh_token]
                raise OAuthError("invalid_grant", "refresh token has expired", 400)
            del self._refresh[refresh_token]
        access, expires_in = self._issue_access(
            "user", client.client_id, entry.scopes, entry.user_id
        )
        new_refresh = self._issue_refresh(client.client_id, entry.scopes, entry.user_id)
        return TokenGrant(access, self.format_scopes(entry.scopes), expires_in, new_refresh)

    # -- bearer tokens -----------------------------------------------------------------------

    def validate_bearer(self, token: str) -> Principal | None:
        """The token's principal, or None when it is unknown, revoked or expired."""
        with self._lock:
            principal = self._access.get(token)
            if principal is None:
                return None
            if self.clock() >= principal.expires_at:
                del self._access[token]
                return None
            return principal

    def revoke_all(self) -> None:
        """Forget every issued token and code (the sandbox's reset)."""
        with self._lock:
            self._access.clear()
            self._refresh.clear()
            self._codes.clear()

    # -- internals ---------------------------------------------------------------------------

    def _issue_access(
        self, kind: str, client_id: str, scopes: frozenset[str], user_id: str | None
    ) -> tuple[str, int]:
        token = _ACCESS_PREFIX + secrets.token_hex(16)
        principal = Principal(kind, client_id, scopes, self.clock() + self.access_ttl, user_id)
        with self._lock:
            self._prune()
            self._access[token] = principal
        return token, int(self.access_ttl)

    def _issue_refresh(self, client_id: str, scopes: frozenset[str], user_id: str) -> str:
        token = _REFRESH_PREFIX + secrets.token_hex(16)
        with self._lock:
            self._refresh[token] = _Refresh(
                client_id, scopes, user_id, self.clock() + self.refresh_ttl
            )
        return token

    def _id_token(self, client: OAuthClient, user_id: str) -> str:
        """An OpenID ID token (HS256 with the client secret, as OIDC allows for confidential
        clients), carrying the claims PagerDuty's has: account, user, subdomain, region."""
        now = int(self.clock())
        header = {"alg": "HS256", "typ": "JWT"}
        claims = {
            "iss": "https://sandbox.pagerduty.local/global/oauth/anonymous",
            "aud": [self.api_url, client.client_id],
            "sub": user_id,
            "user_id": user_id,
            "account_id": "PSANDBX",
            "subdomain": self.subdomain,
            "region": "UnitedStates" if self.region == "us" else "Europe",
            "iat": now,
            "exp": now + int(self.access_ttl),
            "purpose": "id",
        }
        signing_input = (
            _b64(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64(json.dumps(claims, separators=(",", ":")).encode())
        )
        key = (client.client_secret or client.client_id).encode()
        signature = hmac.new(key, signing_input.encode("ascii"), hashlib.sha256).digest()
        return signing_input + "." + _b64(signature)

    def _prune(self) -> None:
        """Drop expired entries so a long-running sandbox does not grow without bound."""
        now = self.clock()
        if len(self._access) > 1000:
            for token in [t for t, p in self._access.items() if p.expires_at <= now]:
                del self._access[token]
        if len(self._codes) > 1000:
            for code in [c for c, e in self._codes.items() if e.expires_at <= now]:
                del self._codes[code]


__all__ = [
    "ACCESS_TOKEN_TTL",
    "AUTHORIZATION_CODE_TTL",
    "DEMO_CLIENT_ID",
    "DEMO_CLIENT_SECRET",
    "REFRESH_TOKEN_TTL",
    "OAuthClient",
    "Principal",
    "TokenGrant",
    "TokenStore",
    "pkce_challenge",
]
