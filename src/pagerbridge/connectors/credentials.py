"""Every credential kind of a connector turned into a working PagerDuty client.

- ``api_key``: ``Authorization: Token token=…``, ``From`` = ``custom.from_email``.
- ``oauth_app``: a scoped app token (client credentials, ``as_account-<region>.<subdomain>``),
  cached encrypted in ``connector_tokens`` and shared by every process: each call reads the stored
  token; when it is missing or within 5 minutes of expiry, one process renews it under the row
  lock (:func:`oauth_store.locked_row`) and the others use what it stored. A 401 renews once.
- ``oauth_user``: the token ``im connector authorize`` obtained (authorization code + PKCE). A
  refresh rotates the refresh token; the new pair is committed before the new access token is
  used, so the very next call, in any process, uses it (Keep kept using the stale one).
- ``routing_key``: no REST access at all; :func:`events_target` gives the Events API target.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from ssl import SSLContext
from typing import Final

import aiohttp
import sqlalchemy as sa

from pagerbridge.connectors import oauth_store as store
from pagerbridge.connectors.records import ConnectorRecord
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.connectors.settings import ConnectorSettings
from pagerbridge.errors import ConfigError, ConnectorError, OAuthError
from pagerbridge.pagerduty.limits import EVENTS_REGIONS, REST_REGIONS
from pagerbridge.pagerduty.oauth import AUTHORIZE_URL, TOKEN_URL, account_scope, refresh
from pagerbridge.pagerduty.oauth_token import TOKEN_TIMEOUT, OAuthToken, token_request
from pagerbridge.pagerduty.rest import RestClient

log = logging.getLogger(__name__)

#: Renew an OAuth token this many seconds before it expires.
RENEW_BEFORE: Final = 300.0
#: Asked for when a connector names no scopes: what the connector's commands use.
DEFAULT_SCOPES: Final = (
    "incidents.read",
    "incidents.write",
    "services.read",
    "users.read",
    "escalation_policies.read",
    "priorities.read",
    "custom_fields.read",
    "webhook_subscriptions.read",
    "webhook_subscriptions.write",
)
#: Required by every connector; the others by what needs them (``im connector test``).
REQUIRED_SCOPE: Final = "incidents.read"
ROUTING_KEY_ONLY: Final = (
    "routing-key connectors have no REST access: notes and assignment are not available"
)

Clock = Callable[[], float]


def scopes_of(settings: ConnectorSettings) -> tuple[str, ...]:
    return tuple(settings.oauth.scopes) or DEFAULT_SCOPES


def token_url(settings: ConnectorSettings) -> str:
    """PagerDuty's token endpoint (one identity host serves both regions), or the configured."""
    return settings.oauth.token_url or TOKEN_URL


def authorize_url(settings: ConnectorSettings) -> str:
    return settings.oauth.authorize_url or AUTHORIZE_URL


def scope_covers(granted: Iterable[str], scope: str) -> bool:
    """Whether ``granted`` includes ``scope``: classic ``write`` covers all, ``read`` and
    ``<resource>.write`` cover ``<resource>.read``."""
    have = set(granted)
    if scope in have or "write" in have:
        return True
    resource, _, level = scope.rpartition(".")
    return level == "read" and ("read" in have or f"{resource}.write" in have)


def missing_scopes(granted: Iterable[str], wanted: Iterable[str]) -> list[str]:
    """The scopes of ``wanted`` that ``granted`` does not cover, in order."""
    have = list(granted)
    return [s for s in wanted if not scope_covers(have, s)]


def _secret(record: ConnectorRecord, box: SecretBox, key: str, what: str) -> str:
    value = box.decrypt(record.secrets_blob, record.key_fingerprint).get(key)
    if not value:
        raise ConnectorError(
            f"connector {record.name!r} has no {what}: set it with "
            f"`im connector update {record.name} --config ...`"
        )
    return value


class StoredTokenProvider:
    """A ``TokenProvider`` for ``RestClient(oauth_token=…)`` backed by ``connector_tokens``.

    Reads the stored token on every call (cheap: one primary-key read, run off the event loop),
    so a token renewed by another process is used at once. Renewal runs in a worker thread that
    holds the row lock across the token request (which runs on the caller's event loop).
    """

    def __init__(
        self,
        record: ConnectorRecord,
        *,
        engine: sa.Engine,
        box: SecretBox,
        session: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
        renew_before: float = RENEW_BEFORE,
        token_timeout: float = TOKEN_TIMEOUT,
    ) -> None:
        if record.settings.auth_type not in ("oauth_app", "oauth_user"):
            raise ValueError(f"{record.settings.auth_type} connectors have no OAuth token")
        self.record = record
        self.grant = record.settings.auth_type
        self._engine = engine
        self._box = box
        self._session = session
        self._clock: Clock = clock or time.time
        self._renew_before = renew_before
        self._timeout = token_timeout
        self._client_id = record.settings.oauth.client_id or ""
        self._secret = _secret(record, box, "client_secret", "oauth.client_secret")
        self._scope = self._scope_string() if self.grant == "oauth_app" else ""
        self._lock = asyncio.Lock()
        self._last: str | None = None
        self._invalid: str | None = None
        #: How many tokens this provider fetched (renewals by other processes not counted).
        self.fetches = 0
        #: The token row as last read or written.
        self.current: store.StoredToken | None = None

    def __repr__(self) -> str:
        return f"StoredTokenProvider(connector={self.record.name!r}, grant={self.grant!r})"

    def _scope_string(self) -> str:
        oauth = self.record.settings.oauth
        if not oauth.subdomain:
            raise ConfigError(
                "required for oauth_app: the account's subdomain (acme for acme.pagerduty.com)",
                key="oauth.subdomain",
            )
        try:
            account = account_scope(oauth.region, oauth.subdomain)
        except ValueError as exc:
            raise ConfigError(str(exc), key="oauth.subdomain") from exc
        return " ".join((account, *scopes_of(self.record.settings)))

    def _usable(self, token: store.StoredToken | None) -> bool:
        return (
            token is not None
            and bool(token.access_token)
            and token.access_token != self._invalid
            and not token.due(self._clock(), self._renew_before)
        )

    def _read(self) -> store.StoredToken | None:
        with self._engine.connect() as conn:
            if self.grant == "oauth_app":
                return store.read_or_none(conn, self.record.id, self._box)
            return store.read(conn, self.record.id, self._box)

    async def access_token(self) -> str:
        token = await asyncio.to_thread(self._read)
        if not self._usable(token):
            async with self._lock:
                loop = asyncio.get_running_loop()
                token = await asyncio.to_thread(self._renew, loop)
        assert token is not None and token.access_token
        self.current = token
        self._last = token.access_token
        return token.access_token

    def invalidate(self) -> None:
        """PagerDuty refused the token we handed out (401): the next call renews it, unless
        another process already did."""
        self._invalid = self._last

    def _renew(self, loop: asyncio.AbstractEventLoop) -> store.StoredToken:
        with self._engine.begin() as conn:
            if self.grant == "oauth_user":
                store.locked_row(conn, self.record.id, self._box, now=self._clock())
                current = store.read(conn, self.record.id, self._box)  # a wrong key says so
            else:
                current = store.locked_row(conn, self.record.id, self._box, now=self._clock())
            if self._usable(current):
                assert current is not None
                return current  # another process renewed it while we waited for the lock
            future = asyncio.run_coroutine_threadsafe(self._fetch(current), loop)
            token = future.result()
            self.fetches += 1
            expires = None if token.expires_at is None else token.expires_at.timestamp()
            stored = store.write(
                conn,
                self.record.id,
                self._box,
                access_token=token.access_token,
                expires_at=expires,
                refresh_token=token.refresh_token,
                scope=token.scope or (current.scope if current else ""),
                now=self._clock(),
            )
        log.info("connector %s: new OAuth %s token stored", self.record.name, self.grant)
        return stored

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), UTC)

    async def _fetch(self, current: store.StoredToken | None) -> OAuthToken:
        url = token_url(self.record.settings)
        if self.grant == "oauth_app":
            form = {
                "grant_type": "client_credentials",
                "client_id": self._client_id,
                "client_secret": self._secret,
                "scope": self._scope,
            }
            return await token_request(
                url, form, session=self._session, request_timeout=self._timeout, clock=self._now
            )
        name = self.record.name
        if current is None or not current.refresh_token:
            raise ConnectorError(
                f"connector {name!r} has no OAuth user grant (or it expired): run "
                f"`im connector authorize {name}`"
            )
        try:
            return await refresh(
                client_id=self._client_id,
                client_secret=self._secret,
                refresh_token=current.refresh_token,
                token_url=url,
                session=self._session,
                request_timeout=self._timeout,
                clock=self._now,
            )
        except OAuthError as exc:
            if exc.error != "invalid_grant":
                raise
            raise ConnectorError(
                f"PagerDuty refused connector {name!r}'s refresh token ({exc.description or exc}):"
                f" the grant was revoked or expired; run `im connector authorize {name}`"
            ) from exc


def rest_client(
    record: ConnectorRecord,
    *,
    engine: sa.Engine,
    box: SecretBox,
    session: aiohttp.ClientSession | None = None,
    ssl: SSLContext | None = None,
    timeout: float = 30.0,
    clock: Clock | None = None,
) -> RestClient:
    """The REST client of a connector (no network call yet; OAuth tokens are fetched on first
    use). ConnectorError for a routing-key connector; SecretKeyError for a wrong key."""
    settings = record.settings
    if settings.auth_type == "routing_key":
        raise ConnectorError(f"connector {record.name!r}: {ROUTING_KEY_ONLY}")
    api_key: str | None = None
    provider: StoredTokenProvider | None = None
    if settings.auth_type == "api_key":
        api_key = _secret(record, box, "api_key", "api_key")
    else:
        provider = StoredTokenProvider(record, engine=engine, box=box, session=session, clock=clock)
    return RestClient(
        api_key,
        oauth_token=provider,
        base_url=settings.base_url,
        from_email=settings.custom.from_email,
        session=session,
        ssl=ssl,
        timeout=timeout,
    )


async def rest_client_for(
    record: ConnectorRecord,
    *,
    engine: sa.Engine,
    box: SecretBox,
    session: aiohttp.ClientSession | None = None,
    ssl: SSLContext | None = None,
    request_timeout: float = 30.0,
    clock: Clock | None = None,
) -> RestClient:
    """:func:`rest_client`, awaitable (the outbound sender's client factory)."""
    return rest_client(
        record,
        engine=engine,
        box=box,
        session=session,
        ssl=ssl,
        timeout=request_timeout,
        clock=clock,
    )


def client_for_name(
    name: str, database_url: str, environ: Mapping[str, str] | None = None
) -> RestClient:
    """The REST client of the connector called ``name`` in ``database_url`` (for commands)."""
    from pagerbridge.connectors.records import load
    from pagerbridge.store.engine import make_engine

    engine = make_engine(database_url)
    with engine.connect() as conn:
        record = load(conn, name)
    return rest_client(record, engine=engine, box=SecretBox.for_engine(engine, environ))


def events_base(settings: ConnectorSettings) -> str:
    """The Events API base URL: ``events_url``, else the REST base URL's region's, else the REST
    base URL itself (a sandbox serves both)."""
    if settings.events_url:
        return settings.events_url.removesuffix("/v2/enqueue")
    for region, url in REST_REGIONS.items():
        if settings.base_url == url:
            return EVENTS_REGIONS[region]
    return settings.base_url


def events_target(record: ConnectorRecord, box: SecretBox) -> tuple[str, str]:
    """(Events API base URL, routing key) of a routing-key connector."""
    key = _secret(record, box, "routing_key", "routing_key")
    return events_base(record.settings), key


async def granted_scopes(
    record: ConnectorRecord,
    *,
    engine: sa.Engine,
    box: SecretBox,
    session: aiohttp.ClientSession | None = None,
    clock: Clock | None = None,
) -> frozenset[str] | None:
    """The scopes PagerDuty granted the connector's OAuth token (fetching or refreshing it if
    due); None for API-key and routing-key connectors, which have no scopes."""
    if record.settings.auth_type not in ("oauth_app", "oauth_user"):
        return None
    provider = StoredTokenProvider(record, engine=engine, box=box, session=session, clock=clock)
    await provider.access_token()
    assert provider.current is not None
    return provider.current.scopes
