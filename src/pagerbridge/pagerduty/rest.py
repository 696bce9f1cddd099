"""Async client for PagerDuty's REST API v2: auth, headers, rate limits, errors, pagination.

One place owns the wire rules: ``Authorization`` (``Token token=`` for API keys, ``Bearer`` for
OAuth), the versioned ``Accept`` header, ``From`` on writes, wrapped entities, classic and cursor
pagination, and 429 handling (wait for ``ratelimit-reset``/``Retry-After`` a bounded number of
times, then raise ``RateLimitedError``). aiohttp exceptions become ``TransportError`` here and
nowhere else. The typed calls (incidents, services, ...) live in the ``rest_*`` mixins.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from ssl import SSLContext
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import aiohttp

from pagerbridge.errors import (
    AuthenticationError,
    ConfigError,
    PagerDutyError,
    RateLimitedError,
    TransportError,
)
from pagerbridge.pagerduty import rest_debug
from pagerbridge.pagerduty.limits import REST_REGIONS
from pagerbridge.pagerduty.rest_errors import RateLimitInfo, error_from_response, parse_rate_limit
from pagerbridge.pagerduty.rest_incidents import IncidentCalls, IncidentUpdate
from pagerbridge.pagerduty.rest_models import Incident, IncidentNote
from pagerbridge.pagerduty.rest_pagination import (
    MAX_LIMIT,
    Page,
    check_classic,
    collection_key,
    iter_classic,
    iter_cursor,
    page_from_body,
)
from pagerbridge.pagerduty.rest_resources import ResourceCalls

__all__ = [
    "ACCEPT",
    "Incident",
    "IncidentNote",
    "IncidentUpdate",
    "Page",
    "RateLimitInfo",
    "RestClient",
    "TokenProvider",
    "encode_params",
]

log = logging.getLogger(__name__)

#: The media type that pins API version 2 whatever the token's default version is.
ACCEPT = "application/vnd.pagerduty+json;version=2"
#: How many times a 429 is waited out before ``RateLimitedError`` is raised.
MAX_RATE_LIMIT_RETRIES = 3
#: Never wait longer than this for one 429 (PagerDuty's window is a minute).
MAX_RATE_LIMIT_WAIT = 60.0
#: Wait used when a 429 carries neither ``ratelimit-reset`` nor ``Retry-After`` (doubles per try).
DEFAULT_RATE_LIMIT_WAIT = 1.0

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]
QueryValue = str | int | float | bool | datetime | date | Sequence[str] | None


@runtime_checkable
class TokenProvider(Protocol):
    """Supplies OAuth bearer tokens (e.g. ``oauth.ClientCredentials``), renewing them itself."""

    async def access_token(self) -> str: ...

    def invalidate(self) -> None: ...


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def encode_params(params: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """Query pairs in PagerDuty's style.

    A list under a ``name[]`` key repeats the key (set filters: ``statuses[]=a&statuses[]=b``); a
    list under a plain key is comma-joined (``sort_by=created_at:desc,incident_number:asc``, the
    OpenAPI ``form``/``explode: false`` style). ``None`` values are dropped; booleans are
    ``true``/``false``; datetimes are ISO 8601.
    """
    pairs: list[tuple[str, str]] = []
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, list | tuple | set | frozenset):
            values = [_text(v) for v in value]
            if key.endswith("[]"):
                pairs.extend((key, v) for v in values)
            elif values:
                pairs.append((key, ",".join(values)))
        else:
            pairs.append((key, _text(value)))
    return pairs


class RestClient(IncidentCalls, ResourceCalls):
    """PagerDuty REST API v2 over one aiohttp session; use as ``async with RestClient(...)``."""

    def __init__(
        self,
        token: str | None = None,
        *,
        oauth_token: str | TokenProvider | None = None,
        base_url: str | None = None,
        region: str = "us",
        from_email: str | None = None,
        session: aiohttp.ClientSession | None = None,
        proxy: str | None = None,
        timeout: float = 30.0,
        ssl: SSLContext | None = None,
        max_rate_limit_retries: int = MAX_RATE_LIMIT_RETRIES,
        max_rate_limit_wait: float = MAX_RATE_LIMIT_WAIT,
        sleep: Sleep | None = None,
        clock: Clock | None = None,
    ) -> None:
        if (token is None) == (oauth_token is None):
            raise ConfigError(
                "give exactly one of token= (a REST API key, sent as 'Token token=...') or "
                "oauth_token= (an OAuth access token or token provider, sent as 'Bearer ...')",
                key="token",
            )
        if base_url is None:
            if region not in REST_REGIONS:
                raise ConfigError(
                    f"unknown PagerDuty region {region!r} "
                    f"(known: {', '.join(sorted(REST_REGIONS))})",
                    key="region",
                )
            base_url = REST_REGIONS[region]
        self.base_url = base_url.rstrip("/")
        self.from_email = from_email
        self.proxy = proxy
        self.ssl = ssl  # e.g. trusting the sandbox's CA with --tls
        self.timeout = timeout
        self.max_rate_limit_retries = max_rate_limit_retries
        self.max_rate_limit_wait = max_rate_limit_wait
        #: The ``ratelimit-*`` headers of the latest answer that carried them.
        self.rate_limit: RateLimitInfo | None = None
        #: Called once per HTTP request sent (connector metrics count PagerDuty calls with it).
        self.on_request: Callable[[], None] | None = None
        self._token = token
        self._oauth = oauth_token
        self._session = session
        self._owns_session = session is None
        self._sleep: Sleep = sleep or asyncio.sleep
        self._clock: Clock = clock or (lambda: datetime.now(UTC))

    def __repr__(self) -> str:  # never show the token
        return f"RestClient(base_url={self.base_url!r}, from_email={self.from_email!r})"

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the session if this client created it (a borrowed session stays open)."""
        if self._session is not None and self._owns_session:
            await self._session.close()
            self._session = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
            self._owns_session = True
        return self._session

    async def _authorization(self) -> str:
        if self._token is not None:
            return f"Token token={self._token}"
        if isinstance(self._oauth, str):
            return f"Bearer {self._oauth}"
        assert self._oauth is not None
        return f"Bearer {await self._oauth.access_token()}"

    async def _headers(self, method: str, from_email: str | None) -> dict[str, str]:
        headers = {
            "Authorization": await self._authorization(),
            "Accept": ACCEPT,
            "Content-Type": "application/json",
        }
        sender = from_email or self.from_email
        if sender and method not in ("GET", "HEAD"):
            headers["From"] = sender
        return headers

    def require_from(self, from_email: str | None, what: str) -> str:
        """The ``From`` address for an operation PagerDuty requires it on, or a clear error."""
        sender = from_email or self.from_email
        if not sender:
            raise ConfigError(
                f"{what} needs a From header: pass from_email= (the email address of a user on "
                "the PagerDuty account) to RestClient or to this call",
                key="from_email",
            )
        return sender

    async def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: bytes | None,
        from_email: str | None,
    ) -> tuple[int, bytes, dict[str, str]]:
        """One HTTP exchange; the single place aiohttp's exceptions are converted."""
        url = self.base_url + path
        headers = await self._headers(method, from_email)
        if self.on_request is not None:
            self.on_request()
        debug = rest_debug.enabled()  # PAGERDUTY_DEBUG: the exchange on the log, redacted
        if debug:
            rest_debug.request(method, url, query, headers, body)
        started = time.perf_counter()
        try:
            async with self._get_session().request(
                method,
                url,
                params=query,
                data=body,
                headers=headers,
                proxy=self.proxy,
                ssl=self.ssl if self.ssl is not None else True,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                payload = await resp.read()
                if debug:
                    seconds = time.perf_counter() - started
                    rest_debug.response(method, url, resp.status, resp.headers, payload, seconds)
                return resp.status, payload, dict(resp.headers)
        except TimeoutError as exc:
            raise TransportError(f"{method} {path}: no answer within {self.timeout:g}s") from exc
        except aiohttp.ClientError as exc:
            raise TransportError(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        from_email: str | None = None,
    ) -> Any:
        """Send one request; return the decoded JSON answer (``None`` for an empty answer).

        Waits out a 429 up to ``max_rate_limit_retries`` times (each wait bounded by
        ``max_rate_limit_wait``); with a token provider, a 401 renews the token once.
        """
        method = method.upper()
        path = self._relative(path)
        query = encode_params(params)
        body = None if json is None else jsonlib.dumps(json, separators=(",", ":")).encode()
        rate_limited = 0
        renewed = False
        while True:
            status, payload, headers = await self._send(method, path, query, body, from_email)
            info = parse_rate_limit(headers)
            if info is not None:
                self.rate_limit = info
            if status < 400:
                return self._decode(payload, method, path)
            error = error_from_response(
                status, payload, headers, method=method, path=path, now=self._clock()
            )
            if isinstance(error, RateLimitedError) and rate_limited < self.max_rate_limit_retries:
                wait = error.retry_after
                if wait is None:
                    wait = DEFAULT_RATE_LIMIT_WAIT * 2**rate_limited
                if wait <= self.max_rate_limit_wait:
                    rate_limited += 1
                    log.warning(
                        "PagerDuty rate limit on %s %s: waiting %.1fs (retry %d of %d)",
                        method,
                        path,
                        wait,
                        rate_limited,
                        self.max_rate_limit_retries,
                    )
                    # never a hot loop: even "reset: 0" waits a little
                    await self._sleep(max(wait, 0.05))
                    continue
            if (
                isinstance(error, AuthenticationError)
                and isinstance(self._oauth, TokenProvider)
                and not renewed
            ):
                renewed = True
                self._oauth.invalidate()
                continue
            raise error

    def _relative(self, path: str) -> str:
        """A path under ``base_url``; a full URL (e.g. an answer's ``self`` link) must be ours.

        The token is only ever sent to ``base_url``: a URL on another host is refused.
        """
        if path.startswith(("http://", "https://")):
            if not path.startswith(self.base_url + "/"):
                raise ValueError(f"{path} is not under {self.base_url}; refusing to send the token")
            path = path[len(self.base_url) :]
        return path if path.startswith("/") else "/" + path

    @staticmethod
    def _decode(payload: bytes, method: str, path: str) -> Any:
        if not payload.strip():
            return None
        try:
            return jsonlib.loads(payload)
        except ValueError as exc:
            raise TransportError(f"{method} {path}: the answer is not JSON") from exc

    async def entity(
        self,
        method: str,
        path: str,
        key: str,
        *,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        from_email: str | None = None,
    ) -> Any:
        """A wrapped-entity call: sends ``{key: body}``, returns the answer's ``key`` unwrapped."""
        wrapped = None if body is None else {key: dict(body)}
        answer = await self.request(
            method, path, params=params, json=wrapped, from_email=from_email
        )
        if not isinstance(answer, dict) or key not in answer:
            raise PagerDutyError(f"{method} {path}: the answer has no {key!r} entity")
        return answer[key]

    async def get_page(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        key: str | None = None,
        offset: int = 0,
        limit: int = MAX_LIMIT,
        total: bool = False,
    ) -> Page:
        """One classic page (with ``total`` if asked); refuses offset + limit past 10,000."""
        check_classic(offset, limit)
        query = {**(params or {}), "offset": offset, "limit": limit}
        if total:
            query["total"] = True
        body = await self.request("GET", path, params=query)
        return page_from_body(body, key or collection_key(path), offset=offset)

    def iter_all(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        cursor: bool = False,
        key: str | None = None,
        limit: int = MAX_LIMIT,
    ) -> AsyncIterator[Any]:
        """Every item of a collection (unwrapped dicts), fetching pages as the caller iterates."""
        root = key or collection_key(path)

        async def fetch(query: dict[str, Any]) -> Any:
            return await self.request("GET", path, params=query)

        if cursor:
            return iter_cursor(fetch, params or {}, root, limit=limit)
        return iter_classic(fetch, params or {}, root, limit=limit)
