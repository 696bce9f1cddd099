"""Events API v2: typed models for alert and change events, and an async sender.

The models check nothing themselves: a ``before`` validator hands the whole event to
``event_rules.normalise_event`` (the one rule source, shared with pd-send and the sandbox), so a
bad event raises ``EventValidationError`` with PagerDuty-style messages, never a pydantic error.

``EventsClient`` only *classifies* answers (``outcome.classify``); it never raises for an HTTP
status and turns every aiohttp/timeout exception into ``Retry`` at one boundary (``_post``).
Backoff belongs to the caller (the outbox worker).

    async with EventsClient(region="eu") as client:
        outcome = await client.send(Event(routing_key=KEY, payload=Payload(...)))
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any, Literal, Self

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, model_validator

from pagerbridge import __version__
from pagerbridge.errors import ConfigError, EventValidationError
from pagerbridge.pagerduty.event_rules import encode_event, events_url, normalise_event
from pagerbridge.pagerduty.limits import EVENTS_REGIONS, ROUTING_KEY_LENGTH
from pagerbridge.pagerduty.outcome import Outcome, Retry, classify

__all__ = [
    "ChangeEvent",
    "ChangePayload",
    "Event",
    "EventsClient",
    "Image",
    "Link",
    "Payload",
]

Severity = Literal["critical", "error", "warning", "info"]
EventAction = Literal["trigger", "acknowledge", "resolve"]

#: Sent with every request; PagerDuty's logs then show who called.
USER_AGENT = f"pagerbridge/{__version__}"
#: A placeholder routing key used when a payload is checked on its own.
_ANY_KEY = "0" * ROUTING_KEY_LENGTH


def _plain(value: Any) -> Any:
    """Nested models and sequences as plain JSON-like values, for the rules to read."""
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True)
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def _unknown(cls: type[BaseModel], data: Mapping[str, Any], prefix: str = "") -> list[str]:
    known = {field.alias or name for name, field in cls.model_fields.items()}
    return [f"'{prefix}{key}' is not an Events API v2 field" for key in data if key not in known]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        """The event as PagerDuty's JSON expects it (aliases, no ``None`` fields)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Link(_Model):
    """A link shown on the alert or change event (``href`` required)."""

    href: str
    text: str | None = None


class Image(_Model):
    """An image shown on the alert; PagerDuty requires an ``https://`` ``src``."""

    src: str
    href: str | None = None
    alt: str | None = None


class Payload(_Model):
    """The PD-CEF payload of a trigger event."""

    summary: str
    source: str
    severity: Severity
    timestamp: str | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = Field(default=None, alias="class")
    custom_details: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        plain = {("class" if k == "class_" else k): _plain(v) for k, v in data.items()}
        unknown = _unknown(cls, plain, "payload.")
        try:
            event = {"routing_key": _ANY_KEY, "event_action": "trigger", "payload": plain}
            out = normalise_event(event)["payload"]
        except EventValidationError as exc:
            raise EventValidationError(unknown + exc.errors) from None
        if unknown:
            raise EventValidationError(unknown)
        return out


class ChangePayload(_Model):
    """The payload of a change event: only ``summary`` is required."""

    summary: str
    source: str | None = None
    timestamp: str | None = None
    custom_details: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        plain = {k: _plain(v) for k, v in data.items()}
        unknown = _unknown(cls, plain, "payload.")
        try:
            out = normalise_event({"routing_key": _ANY_KEY, "payload": plain}, change=True)
        except EventValidationError as exc:
            raise EventValidationError(unknown + exc.errors) from None
        if unknown:
            raise EventValidationError(unknown)
        return out["payload"]


def _check_event(cls: type[BaseModel], data: Any, *, change: bool) -> Any:
    if not isinstance(data, Mapping):
        return data
    plain = {k: _plain(v) for k, v in data.items()}
    if not change:
        plain.setdefault("event_action", "trigger")
    unknown = _unknown(cls, plain)
    try:
        out = normalise_event(plain, change=change)
    except EventValidationError as exc:
        raise EventValidationError(unknown + exc.errors) from None
    if unknown:
        raise EventValidationError(unknown)
    return out


class Event(_Model):
    """An alert event: ``trigger`` (needs a payload), ``acknowledge`` or ``resolve`` (need a
    ``dedup_key``)."""

    routing_key: str
    event_action: EventAction = "trigger"
    dedup_key: str | None = None
    payload: Payload | None = None
    images: list[Image] | None = None
    links: list[Link] | None = None
    client: str | None = None
    client_url: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        return _check_event(cls, data, change=False)


class ChangeEvent(_Model):
    """A change event (a deploy, a config change): context for responders, never a page."""

    routing_key: str
    payload: ChangePayload
    links: list[Link] | None = None
    images: list[Image] | None = None

    @model_validator(mode="before")
    @classmethod
    def _rules(cls, data: Any) -> Any:
        return _check_event(cls, data, change=True)


class EventsClient:
    """Async sender for the Events API v2; every answer becomes an ``Outcome``.

    ``base_url`` (e.g. the sandbox's) wins over ``region`` ("us" or "eu"); it may be a bare
    base or already end in ``/v2/enqueue``. ``proxy`` is an ``http://`` proxy URL. ``timeout``
    bounds a whole request in seconds. ``ssl_context`` replaces the default certificate checks
    (e.g. to trust the sandbox's CA). Pass ``session`` to share a connection pool; otherwise
    the client makes one and closes it in ``aclose()``. ``on_answer`` sees the headers of every
    HTTP answer, whatever its status (the agent reads ``Date`` to measure clock drift); it must
    not raise.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        region: str = "us",
        proxy: str | None = None,
        timeout: float = 10.0,
        session: aiohttp.ClientSession | None = None,
        ssl_context: ssl.SSLContext | None = None,
        on_answer: Callable[[Mapping[str, str]], None] | None = None,
    ) -> None:
        self._on_answer = on_answer
        if base_url is None:
            if region not in EVENTS_REGIONS:
                known = ", ".join(sorted(EVENTS_REGIONS))
                raise ConfigError(f"unknown PagerDuty region {region!r} (known: {known})")
            base_url = EVENTS_REGIONS[region]
        if proxy is not None and not proxy.lower().startswith(("http://", "https://")):
            raise ConfigError(f"proxy URL {proxy!r} must start with http:// or https://")
        if not timeout > 0:
            raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
        self.enqueue_url = events_url(base_url)
        self.change_url = events_url(base_url, change=True)
        self._proxy = proxy
        self._timeout_s = timeout
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._session = session
        self._owns_session = session is None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if this client created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def send(
        self, event: Event | ChangeEvent | Mapping[str, Any], *, change: bool = False
    ) -> Outcome:
        """Validate and send one event. A mapping is an alert event unless ``change=True``.

        Raises ``EventValidationError`` for an event that breaks the rules (nothing is sent);
        everything after that is an ``Outcome``.
        """
        if isinstance(event, ChangeEvent):
            body, change = encode_event(event.to_dict()), True
        elif isinstance(event, Event):
            body, change = encode_event(event.to_dict()), False
        else:
            body = encode_event(normalise_event(event, change=change))
        return await self.send_raw(body, change=change)

    async def send_raw(self, body: bytes, *, change: bool = False) -> Outcome:
        """Send an already-validated JSON body (the outbox stores exactly these bytes)."""
        return await self._post(self.change_url if change else self.enqueue_url, body)

    def _session_for_use(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            if not self._owns_session:
                raise ConfigError("the aiohttp session given to EventsClient is closed")
            self._session = aiohttp.ClientSession()
        return self._session

    async def _post(self, url: str, body: bytes) -> Outcome:
        """The one boundary where aiohttp's exceptions become ``Retry`` outcomes."""
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        session = self._session_for_use()
        try:
            async with session.post(
                url,
                data=body,
                headers=headers,
                proxy=self._proxy,
                timeout=self._timeout,
                ssl=self._ssl,
                allow_redirects=False,
            ) as response:
                answer = await response.read()
                if self._on_answer is not None:
                    self._on_answer(response.headers)
                return classify(response.status, answer, response.headers)
        except TimeoutError:
            return Retry(f"no answer from {url} within {self._timeout_s:g} s")
        except aiohttp.ClientError as exc:
            detail = str(exc) or type(exc).__name__
            return Retry(f"could not reach {url}: {detail}")
        except OSError as exc:  # aiohttp wraps most of these; belt and braces
            return Retry(f"could not reach {url}: {exc}")
