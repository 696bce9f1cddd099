"""The OAuth user grant of a connector: ``im connector authorize`` starts it, the hub's callback
finishes it.

:func:`start` stores a PKCE verifier and a ``state`` (encrypted, :mod:`oauth_store`) and returns
PagerDuty's authorize URL, whose ``redirect_uri`` is the hub's
``/connectors/<name>/oauth/callback``. :func:`complete` (the callback) checks the state, trades
the code for tokens, stores them and forgets the pending grant; a refusal is recorded on the
pending grant so the waiting command reports it. :func:`status` is what that command polls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from typing import Final, Literal
from urllib.parse import quote

import aiohttp
import sqlalchemy as sa

from pagerbridge.connectors import oauth_store as store
from pagerbridge.connectors.credentials import authorize_url, scopes_of, token_url
from pagerbridge.connectors.records import ConnectorRecord, load
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.errors import ConnectorError, OAuthError, PagerDutyError
from pagerbridge.pagerduty.oauth import authorization_url, exchange_code, generate_pkce, new_state

log = logging.getLogger(__name__)

#: The hub's address when neither ``--hub-url`` nor the connector's ``public_url`` says.
DEFAULT_HUB_URL: Final = "http://127.0.0.1:8080"
Status = Literal["pending", "connected", "refused", "superseded", "expired"]


def callback_path(name: str) -> str:
    return f"/connectors/{quote(name, safe='')}/oauth/callback"


def redirect_uri(hub_url: str, name: str) -> str:
    return hub_url.rstrip("/") + callback_path(name)


@dataclasses.dataclass(frozen=True)
class Started:
    """An authorization waiting for the user: where to send them, and how to recognise it."""

    connector: str
    authorize_url: str
    redirect_uri: str
    #: Identifies this attempt (a hash, not the state itself) for :func:`status`.
    attempt: str


def _attempt(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()[:16]


def _need_user_grant(record: ConnectorRecord) -> None:
    if record.settings.auth_type != "oauth_user":
        raise ConnectorError(
            f"connector {record.name!r} uses {record.settings.auth_type}: only oauth_user "
            "connectors are authorized in a browser"
        )


def start(
    conn: sa.Connection, name: str, box: SecretBox, *, hub_url: str, now: float | None = None
) -> Started:
    """Begin the grant for connector ``name`` (replacing one in progress); the caller commits."""
    record = load(conn, name)
    _need_user_grant(record)
    if not box.decrypt(record.secrets_blob, record.key_fingerprint).get("client_secret"):
        raise ConnectorError(f"connector {name!r} has no oauth.client_secret")
    pkce, state = generate_pkce(), new_state()
    uri = redirect_uri(hub_url, name)
    settings = record.settings
    url = authorization_url(
        settings.oauth.client_id or "",
        uri,
        scopes_of(settings),
        code_challenge=pkce.challenge,
        state=state,
        authorize_url=authorize_url(settings),
    )
    pending = store.PendingAuthorization(
        connector=name,
        state=state,
        verifier=pkce.verifier,
        redirect_uri=uri,
        created_at=time.time() if now is None else now,
    )
    store.save_pending(conn, record.id, box, pending)
    return Started(name, url, uri, _attempt(state))


def status(conn: sa.Connection, name: str, box: SecretBox, attempt: str) -> tuple[Status, str]:
    """Where the attempt ``attempt`` of :func:`start` stands, with a detail (error, scopes)."""
    record = load(conn, name)
    pending = store.load_pending(conn, record.id, box)
    if pending is not None:
        if _attempt(pending.state) != attempt:
            return "superseded", "another `im connector authorize` started since"
        if pending.error:
            return "refused", pending.error
        if pending.expired(time.time()):
            return "expired", "the authorization was not completed in time"
        return "pending", ""
    token = store.read(conn, record.id, box)
    if token is not None and token.access_token:
        return "connected", token.scope
    return "superseded", "the authorization was cancelled"


class CallbackError(ConnectorError):
    """The callback cannot finish the grant; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        self.status = status
        super().__init__(message)


async def complete(
    engine: sa.Engine,
    box: SecretBox,
    name: str,
    *,
    state: str,
    code: str | None,
    error: str | None = None,
    error_description: str | None = None,
    session: aiohttp.ClientSession | None = None,
    clock: Callable[[], float] = time.time,
) -> store.StoredToken:
    """Finish the grant PagerDuty redirected back with; CallbackError says why it cannot."""

    def pending_of() -> tuple[ConnectorRecord, store.PendingAuthorization]:
        with engine.connect() as conn:
            record = load(conn, name)
            _need_user_grant(record)
            pending = store.load_pending(conn, record.id, box)
        if pending is None or pending.connector != name or pending.expired(clock()):
            raise CallbackError(
                f"no authorization of connector {name!r} is in progress (or it expired): run "
                f"`im connector authorize {name}` and open the address it prints",
                404,
            )
        if not hmac.compare_digest(pending.state.encode(), state.encode()):
            raise CallbackError(
                "this answer does not belong to the authorization in progress (state mismatch): "
                f"run `im connector authorize {name}` again",
                404,
            )
        return record, pending

    record, pending = await asyncio.to_thread(pending_of)

    def refuse(message: str) -> None:
        with engine.begin() as conn:
            store.save_pending(conn, record.id, box, dataclasses.replace(pending, error=message))

    if error or not code:
        message = f"PagerDuty did not grant access: {(error or 'no code')[:100]}"
        if error_description:
            message += f" ({error_description[:300]})"
        await asyncio.to_thread(refuse, message)
        raise CallbackError(message, 400)
    secrets = box.decrypt(record.secrets_blob, record.key_fingerprint)
    try:
        token = await exchange_code(
            client_id=record.settings.oauth.client_id or "",
            client_secret=secrets.get("client_secret"),
            code=code,
            redirect_uri=pending.redirect_uri,
            code_verifier=pending.verifier,
            token_url=token_url(record.settings),
            session=session,
        )
    except (OAuthError, PagerDutyError) as exc:
        message = f"PagerDuty refused the authorization code: {exc}"
        await asyncio.to_thread(refuse, message)
        raise CallbackError(message, 502) from exc

    def save() -> store.StoredToken:
        now = clock()
        expires = None if token.expires_at is None else token.expires_at.timestamp()
        with engine.begin() as conn:
            stored = store.write(
                conn,
                record.id,
                box,
                access_token=token.access_token,
                expires_at=expires,
                refresh_token=token.refresh_token,
                scope=token.scope,
                now=now,
            )
            store.delete_pending(conn, record.id)
        return stored

    stored = await asyncio.to_thread(save)
    log.info("connector %s: OAuth user grant stored (scopes: %s)", name, stored.scope)
    return stored
