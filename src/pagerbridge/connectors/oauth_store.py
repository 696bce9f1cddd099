"""A connector's OAuth tokens in the database, encrypted, shared by every process.

``connector_tokens`` holds one row per connector: the access token and (user grants) the refresh
token, each encrypted with the connector :class:`~pagerbridge.connectors.secrets.SecretBox`, the
expiry and the granted scopes (not secret: ``im connector test`` shows them). Renewal happens
inside :func:`locked_row`: PostgreSQL locks the row (``SELECT … FOR UPDATE``); SQLite already
holds the database's write lock (pagerbridge's engines begin with ``BEGIN IMMEDIATE``), so N
processes that find the token due renew it once.

A user grant in progress (``im connector authorize``: PKCE verifier, state, redirect URI) is kept
encrypted in ``connector_settings`` under ``oauth_pending:<connector id>`` until the hub's
callback completes it, so a working token is never disturbed by a new authorization.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Final

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from pagerbridge.connectors.models import connector_settings_table, connector_tokens_table
from pagerbridge.connectors.secrets import SecretBox
from pagerbridge.errors import SecretKeyError

#: How long an authorization started by ``im connector authorize`` may wait for its callback.
PENDING_TTL: Final = 15 * 60.0
PENDING_PREFIX: Final = "oauth_pending:"


@dataclass(frozen=True)
class StoredToken:
    """A decrypted token row; the secrets stay out of ``repr``."""

    access_token: str | None = field(repr=False)
    expires_at: float | None
    refresh_token: str | None = field(repr=False)
    scope: str
    updated_at: float

    @property
    def scopes(self) -> frozenset[str]:
        return frozenset(self.scope.split())

    def due(self, now: float, renew_before: float) -> bool:
        """Missing, or within ``renew_before`` seconds of expiry (half its lifetime for a token
        that lives less than twice that)."""
        if not self.access_token:
            return True
        if self.expires_at is None:
            return False
        margin = min(renew_before, max((self.expires_at - self.updated_at) / 2, 0.0))
        return now >= self.expires_at - margin


def _decrypt(box: SecretBox, blob: str | None) -> str | None:
    return box.decrypt_text(blob) if blob else None


def read(conn: sa.Connection, connector_id: int, box: SecretBox) -> StoredToken | None:
    """The connector's token row, decrypted; None when there is none. SecretKeyError if the
    row was encrypted with a key this box does not hold."""
    t = connector_tokens_table
    row = conn.execute(sa.select(t).where(t.c.connector_id == connector_id)).first()
    if row is None:
        return None
    return StoredToken(
        access_token=_decrypt(box, row.access_token),
        expires_at=row.expires_at,
        refresh_token=_decrypt(box, row.refresh_token),
        scope=row.scopes or "",
        updated_at=row.updated_at,
    )


def read_or_none(conn: sa.Connection, connector_id: int, box: SecretBox) -> StoredToken | None:
    """:func:`read`, treating a row this box cannot decrypt as absent (an app token is simply
    fetched again)."""
    try:
        return read(conn, connector_id, box)
    except SecretKeyError:
        return None


def _insert(conn: sa.Connection) -> sa.Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(connector_tokens_table).on_conflict_do_nothing()
    return sqlite.insert(connector_tokens_table).on_conflict_do_nothing()


def locked_row(
    conn: sa.Connection, connector_id: int, box: SecretBox, *, now: float
) -> StoredToken | None:
    """Inside a transaction: make sure the connector's row exists, lock it, and read it.

    Whoever holds the lock renews; the others wait here and then read the renewed token."""
    conn.execute(_insert(conn).values(connector_id=connector_id, updated_at=now))
    if conn.dialect.name == "postgresql":
        t = connector_tokens_table
        conn.execute(
            sa.select(t.c.connector_id).where(t.c.connector_id == connector_id).with_for_update()
        )
    return read_or_none(conn, connector_id, box)


def write(
    conn: sa.Connection,
    connector_id: int,
    box: SecretBox,
    *,
    access_token: str,
    expires_at: float | None,
    refresh_token: str | None,
    scope: str,
    now: float,
) -> StoredToken:
    """Store a new token (encrypted) for the connector; the caller commits."""
    values = {
        "access_token": box.encrypt_text(access_token),
        "expires_at": expires_at,
        "refresh_token": box.encrypt_text(refresh_token) if refresh_token else None,
        "scopes": scope,
        "updated_at": now,
    }
    t = connector_tokens_table
    updated = conn.execute(sa.update(t).where(t.c.connector_id == connector_id).values(**values))
    if not updated.rowcount:
        conn.execute(sa.insert(t).values(connector_id=connector_id, **values))
    return StoredToken(access_token, expires_at, refresh_token, scope, now)


def clear(conn: sa.Connection, connector_id: int) -> None:
    """Forget the connector's tokens (e.g. its credentials changed)."""
    t = connector_tokens_table
    conn.execute(sa.delete(t).where(t.c.connector_id == connector_id))


# --- a user grant in progress -------------------------------------------------------------------


@dataclass(frozen=True)
class PendingAuthorization:
    """What the callback needs to finish ``im connector authorize``; secrets out of repr."""

    connector: str
    state: str = field(repr=False)
    verifier: str = field(repr=False)
    redirect_uri: str
    created_at: float
    #: Set by the callback when PagerDuty (or the user) refused: ``im connector authorize``
    #: reports it instead of waiting for its deadline.
    error: str | None = None

    def expired(self, now: float) -> bool:
        return now >= self.created_at + PENDING_TTL


def _pending_key(connector_id: int) -> str:
    return f"{PENDING_PREFIX}{connector_id}"


def save_pending(
    conn: sa.Connection, connector_id: int, box: SecretBox, pending: PendingAuthorization
) -> None:
    """Store (replacing any earlier one) the authorization in progress, encrypted."""
    t = connector_settings_table
    value = box.encrypt_text(
        json.dumps(
            {
                "connector": pending.connector,
                "state": pending.state,
                "verifier": pending.verifier,
                "redirect_uri": pending.redirect_uri,
                "created_at": pending.created_at,
                "error": pending.error,
            }
        )
    )
    key = _pending_key(connector_id)
    conn.execute(sa.delete(t).where(t.c.name == key))
    conn.execute(sa.insert(t).values(name=key, value=value))


def load_pending(
    conn: sa.Connection, connector_id: int, box: SecretBox
) -> PendingAuthorization | None:
    """The authorization in progress for the connector, or None."""
    t = connector_settings_table
    value = conn.execute(
        sa.select(t.c.value).where(t.c.name == _pending_key(connector_id))
    ).scalar_one_or_none()
    if value is None:
        return None
    data = json.loads(box.decrypt_text(value))
    return PendingAuthorization(
        connector=str(data["connector"]),
        state=str(data["state"]),
        verifier=str(data["verifier"]),
        redirect_uri=str(data["redirect_uri"]),
        created_at=float(data["created_at"]),
        error=data.get("error"),
    )


def delete_pending(conn: sa.Connection, connector_id: int) -> None:
    t = connector_settings_table
    conn.execute(sa.delete(t).where(t.c.name == _pending_key(connector_id)))
