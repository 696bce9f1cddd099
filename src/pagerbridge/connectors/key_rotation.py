"""Re-encrypt every stored connector secret with the encrypting key, to finish a key rotation.

While ``PAGERBRIDGE_SECRET_KEY=NEW,OLD`` is set, blobs encrypted with either key decrypt; after
:func:`reencrypt_all` every blob (connector secrets, OAuth tokens, grants in progress) is under
NEW alone, so OLD can be dropped. One transaction: all or nothing.
"""

from __future__ import annotations

import sqlalchemy as sa

from pagerbridge.connectors.models import (
    connector_settings_table,
    connector_tokens_table,
    connectors_table,
)
from pagerbridge.connectors.oauth_store import PENDING_PREFIX
from pagerbridge.connectors.secrets import SecretBox


def _again(box: SecretBox, blob: str | None) -> str | None:
    return box.encrypt_text(box.decrypt_text(blob)) if blob else blob


def reencrypt_all(conn: sa.Connection, box: SecretBox) -> int:
    """Re-encrypt everything with ``box``'s first key; returns how many rows changed. Raises
    SecretKeyError (naming the connector's fingerprint) if a blob is under none of its keys."""
    changed = 0
    c = connectors_table
    for row in conn.execute(sa.select(c.c.id, c.c.secrets, c.c.key_fingerprint)).all():
        if row.secrets and row.key_fingerprint != box.fingerprint:
            blob, fingerprint = box.reencrypt(row.secrets, row.key_fingerprint)
            values = {"secrets": blob, "key_fingerprint": fingerprint}
            conn.execute(sa.update(c).where(c.c.id == row.id).values(**values))
            changed += 1
    t = connector_tokens_table
    for row in conn.execute(sa.select(t.c.connector_id, t.c.access_token, t.c.refresh_token)):
        if row.access_token or row.refresh_token:
            conn.execute(
                sa.update(t)
                .where(t.c.connector_id == row.connector_id)
                .values(
                    access_token=_again(box, row.access_token),
                    refresh_token=_again(box, row.refresh_token),
                )
            )
            changed += 1
    s = connector_settings_table
    pending = s.c.name.startswith(PENDING_PREFIX)
    for entry in conn.execute(sa.select(s.c.name, s.c.value).where(pending)).all():
        again = _again(box, entry.value)
        conn.execute(sa.update(s).where(s.c.name == entry.name).values(value=again))
        changed += 1
    return changed
