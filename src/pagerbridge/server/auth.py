"""Bearer-token authentication for the hub's API, with a short in-process cache.

Tokens are looked up by their SHA-256 in the database; a verified token is remembered for
:data:`CACHE_SECONDS` so a busy client does not cost an extra query per request. A token revoked
through this process stops working at once; one revoked elsewhere within that many seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Final

import anyio.to_thread
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request

from pagerbridge.incidents import dberrors
from pagerbridge.incidents.errors import AuthenticationRequiredError
from pagerbridge.incidents.tokens import hash_token, verify_token

CACHE_SECONDS: Final = 10.0
CACHE_MAX: Final = 1024
ANONYMOUS: Final = "anonymous"


class TokenAuth:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        required: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.required = required
        self.monotonic = monotonic
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def forget(self, name: str) -> None:
        with self._lock:
            for key in [k for k, (n, _) in self._cache.items() if n == name]:
                del self._cache[key]

    def cached(self, authorization: str | None) -> str | None:
        """The principal if the answer needs no database (no header, or a cached token)."""
        if not authorization:
            return None if self.required else ANONYMOUS
        _, _, secret = authorization.partition(" ")
        with self._lock:
            hit = self._cache.get(hash_token(secret.strip()))
        return hit[0] if hit and hit[1] > self.monotonic() else None

    def principal(self, authorization: str | None) -> str:
        """The token's name, or AuthenticationRequiredError (401) saying what is wrong."""
        if not authorization:
            if not self.required:
                return ANONYMOUS
            raise AuthenticationRequiredError(
                "missing API token: send 'Authorization: Bearer <token>' (create one with "
                "`im token create NAME`)"
            )
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise AuthenticationRequiredError(
                "malformed Authorization header: use 'Bearer <token>'"
            )
        key = hash_token(secret.strip())
        now = self.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[1] > now:
            return hit[0]
        try:
            with self.sessions() as session:
                row = verify_token(session=session, secret=secret.strip())
                name = None if row is None else row.name
        except SQLAlchemyError as exc:  # the database, not the token: 503 (or 500), never 401
            raise dberrors.convert(exc, str(self.sessions.kw["bind"].url)) from exc
        if name is None:
            raise AuthenticationRequiredError("invalid or revoked API token")
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[key] = (name, now + CACHE_SECONDS)
        return name


async def principal_of(request: Request) -> str:
    """The request's principal, or AuthenticationRequiredError (401).

    A cached token is answered on the event loop; a database lookup goes to a worker thread.
    """
    auth: TokenAuth = request.app.state.auth
    header = request.headers.get("authorization")
    principal = auth.cached(header)
    if principal is None:
        principal = await anyio.to_thread.run_sync(auth.principal, header)
    return principal


async def authenticate(request: Request) -> None:
    """FastAPI dependency: sets ``request.state.principal`` or raises (401)."""
    request.state.principal = await principal_of(request)
