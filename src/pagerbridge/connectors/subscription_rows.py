"""The stored side of a connector's webhook subscriptions (``connector_subscriptions``).

A row holds PagerDuty's subscription id, the delivery URL, its state (``active``, or ``retiring``
during a rotation), the signing secret sealed with the connector's :class:`SecretBox`, and the
times the hub's intake writes: ``first_verified_at`` and ``last_received_at``. The CLI writes
rows; the intake reads the secrets of ``active`` and ``retiring`` rows (:func:`open_secret`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa

from pagerbridge.connectors.models import connector_subscriptions_table
from pagerbridge.connectors.secrets import SecretBox

ACTIVE: Final = "active"
RETIRING: Final = "retiring"


@dataclass(frozen=True)
class Row:
    """One subscription as stored (its secret stays encrypted in the table)."""

    id: int
    connector_id: int
    pd_subscription_id: str
    url: str
    state: str
    created_at: float
    first_verified_at: float | None
    last_received_at: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.pd_subscription_id,
            "url": self.url,
            "state": self.state,
            "created_at": _iso(self.created_at),
            "first_verified_at": _iso(self.first_verified_at),
            "last_received_at": _iso(self.last_received_at),
        }


def _iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def seal_secret(box: SecretBox, secret: str) -> tuple[str, str]:
    """(blob, key fingerprint) of a signing secret, as the table stores it."""
    return box.encrypt({"secret": secret}), box.fingerprint


def open_secret(box: SecretBox, blob: str, fingerprint: str) -> str:
    """The signing secret of a stored row (SecretKeyError, naming keys only, if the key is not
    the one that sealed it). A blob holding the bare secret is read too."""
    if fingerprint and fingerprint in box.fingerprints:
        text = box.decrypt_text(blob)
        try:
            data = json.loads(text)
        except ValueError:
            return text
        if isinstance(data, dict) and isinstance(data.get("secret"), str):
            return str(data["secret"])
        return text
    return box.decrypt(blob, fingerprint)["secret"]  # raises the clear wrong-key error


def _row(r: Any) -> Row:
    return Row(
        id=r.id,
        connector_id=r.connector_id,
        pd_subscription_id=r.pd_subscription_id,
        url=r.url,
        state=r.state,
        created_at=r.created_at,
        first_verified_at=r.first_verified_at,
        last_received_at=r.last_received_at,
    )


def rows(conn: sa.Connection, connector_id: int) -> list[Row]:
    """The connector's subscriptions, newest first."""
    t = connector_subscriptions_table
    query = sa.select(t).where(t.c.connector_id == connector_id).order_by(t.c.id.desc())
    return [_row(r) for r in conn.execute(query)]


def row(conn: sa.Connection, row_id: int) -> Row | None:
    t = connector_subscriptions_table
    found = conn.execute(sa.select(t).where(t.c.id == row_id)).first()
    return None if found is None else _row(found)


def load(engine: sa.Engine, connector_id: int) -> list[Row]:
    with engine.connect() as conn:
        return rows(conn, connector_id)


def delete_rows(engine: sa.Engine, ids: Iterable[int]) -> None:
    ids = list(ids)
    if ids:
        t = connector_subscriptions_table
        with engine.begin() as conn:
            conn.execute(sa.delete(t).where(t.c.id.in_(ids)))


def view(found: list[Row]) -> dict[str, Any]:
    """The webhook part of ``status``: ``not subscribed``, ``subscribed`` or ``rotating``."""
    active = [r for r in found if r.state == ACTIVE]
    retiring = [r for r in found if r.state == RETIRING]
    received = [r.last_received_at for r in found if r.last_received_at is not None]
    state = "rotating" if active and retiring else "subscribed" if active else "not subscribed"
    if retiring and not active:
        state = "retiring"
    return {
        "state": state,
        "last_received_at": _iso(max(received, default=None)),
        "subscriptions": [r.as_json() for r in found],
    }


def status_view(conn: sa.Connection, connector_id: int) -> dict[str, Any]:
    """:func:`view` of a connector, for ``im connector status``."""
    return view(rows(conn, connector_id))
