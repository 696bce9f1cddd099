"""API tokens for the hub's REST API.

A token is shown once, at creation; the database keeps only its SHA-256 (tokens are 256 random
bits, so a fast hash is enough) and a short prefix to recognise it in listings.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from pagerbridge.errors import ConflictError
from pagerbridge.incidents.errors import InvalidInputError, TokenNotFoundError
from pagerbridge.incidents.models import ApiToken

TOKEN_PREFIX: Final = "pbt_"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(
    *, session: Session, name: str, now: datetime | None = None
) -> tuple[ApiToken, str]:
    """A new token called ``name``; returns the row and the secret (shown once)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidInputError(
            f"token name {name!r} is invalid (1-100 letters, digits, '.', '_', '@' or '-')"
        )
    if session.scalar(select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise ConflictError(f"a token named {name!r} already exists (revoke it first)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        name=name,
        token_hash=hash_token(secret),
        prefix=secret[:10],
        created_at=now or datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    return row, secret


def list_tokens(*, session: Session) -> Sequence[ApiToken]:
    return session.scalars(select(ApiToken).order_by(ApiToken.name)).all()


def revoke_token(*, session: Session, name: str, now: datetime | None = None) -> ApiToken:
    """Revoke a token (it stops working at once); the row is deleted so the name can be reused."""
    valid = isinstance(name, str) and _NAME.fullmatch(name) is not None
    row = session.scalar(select(ApiToken).where(ApiToken.name == name)) if valid else None
    if row is None:
        raise TokenNotFoundError(f"no token named {name!r}")
    row.revoked_at = now or datetime.now(UTC)
    session.delete(row)
    session.flush()
    return row


def verify_token(*, session: Session, secret: str) -> ApiToken | None:
    """The live token whose secret this is, or None."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    stmt = select(ApiToken).where(
        ApiToken.token_hash == hash_token(secret), ApiToken.revoked_at.is_(None)
    )
    return session.scalar(stmt)
