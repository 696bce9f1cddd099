"""Generic JSON hooks: ``POST /hooks/<name>`` with the hook's own HMAC or token check.

The signature is checked over the raw bytes before anything is parsed, in constant time; a
failure answers 401 and says nothing about why beyond "signature" or "token" (never a secret).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any

from pagerbridge.agent.sources.base import Fields, SourceSink
from pagerbridge.agent.sources.hooks_config import HmacSettings, HookSettings, TokenSettings
from pagerbridge.agent.sources.hooks_http import Answer, Malformed, failure, parse_json, submit_all
from pagerbridge.agent.sources.settings import SourceSettings

#: More messages than this in one request (``each``) is refused: split it.
MAX_MESSAGES = 10_000


def _lookup(data: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return None
        data = data[part]
    return data


def decode_hook(body: bytes, settings: HookSettings) -> list[Fields]:
    """The messages of one request: the body's keys, or one per item of ``each``."""
    data = parse_json(body)
    if settings.each is None:
        return [dict(data) if isinstance(data, dict) else {"body": data}]
    items = _lookup(data, settings.each)
    if not isinstance(items, list):
        raise Malformed(f"the body has no list at {settings.each!r}")
    if len(items) > MAX_MESSAGES:
        raise Malformed(f"{len(items)} items at {settings.each!r}: at most {MAX_MESSAGES}")
    return [
        {**item, "parent": data} if isinstance(item, dict) else {"item": item, "parent": data}
        for item in items
    ]


def check_hmac(
    settings: HmacSettings, body: bytes, headers: Mapping[str, str], now: float
) -> str | None:
    """None when the signature verifies, else why not (for the log, without secrets)."""
    given = headers.get(settings.header, "").strip()
    if not given:
        return f"no {settings.header} header"
    if settings.prefix:
        if not given.startswith(settings.prefix):
            return f"the {settings.header} header does not start with {settings.prefix!r}"
        given = given[len(settings.prefix) :]
    signed = body
    if settings.timestamp_header is not None:
        stamp = headers.get(settings.timestamp_header, "").strip()
        try:
            moment = float(stamp)
        except ValueError:
            return f"no Unix time in the {settings.timestamp_header} header"
        if not abs(now - moment) <= settings.max_age_seconds:
            return f"the signature's time is more than {settings.max_age_seconds:g} s away"
        signed = stamp.encode("ascii", "replace") + b":" + body
    secret = settings.secret.get_secret_value().encode("utf-8")
    expected = hmac.new(secret, signed, getattr(hashlib, settings.algorithm)).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), given.lower().encode("utf-8", "replace")):
        return "the signature does not match"
    return None


def check_token(settings: TokenSettings, headers: Mapping[str, str]) -> str | None:
    given = headers.get(settings.header, "").strip()
    scheme, _, rest = given.partition(" ")
    if scheme.lower() == "bearer" and rest.strip():
        given = rest.strip()
    if not given:
        return f"no token in the {settings.header} header"
    token = settings.token.get_secret_value().strip().encode("utf-8")
    if not hmac.compare_digest(given.encode("utf-8", "replace"), token):
        return "the token does not match"
    return None


class HookSource:
    """``sources.hooks.<name>``: served by the agent at ``POST /hooks/<name>``."""

    def __init__(
        self, name: str, settings: HookSettings, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = name
        self.settings = settings
        self._clock = clock
        self._sink: SourceSink | None = None

    @property
    def own_auth(self) -> bool:
        return self.settings.auth is not None

    async def start(self, sink: SourceSink) -> None:
        self._sink = sink

    async def stop(self) -> None:
        """Nothing to close: requests in progress finish through the sink."""

    async def reload(self, settings: SourceSettings) -> None:
        assert isinstance(settings, HookSettings)
        self.settings = settings

    def _refused(self, body: bytes, headers: Mapping[str, str]) -> str | None:
        auth = self.settings.auth
        if auth is None:
            return None
        if auth.hmac is not None:
            return check_hmac(auth.hmac, body, headers, self._clock())
        assert auth.token is not None
        return check_token(auth.token, headers)

    async def handle(self, body: bytes, headers: Mapping[str, str]) -> Answer:
        sink = self._sink
        if sink is None:
            return failure(503, "the hook is not running", headers={"Retry-After": "5"})
        refused = self._refused(body, headers)
        if refused is not None:
            sink.malformed(self.name, f"refused: {refused}")
            kind = "signature" if self.settings.auth and self.settings.auth.hmac else "token"
            return failure(401, f"a valid {kind} is required")
        try:
            messages = decode_hook(body, self.settings)
        except Malformed as exc:
            sink.malformed(self.name, str(exc))
            return failure(400, str(exc))
        return await submit_all(sink, self.name, messages)


__all__ = ["HookSource", "check_hmac", "check_token", "decode_hook"]
