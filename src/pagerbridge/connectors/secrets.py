"""Connector secrets encrypted at rest (Fernet), with the key's fingerprint kept beside them.

Where the key comes from, in order:

- ``$PAGERBRIDGE_SECRET_KEY``: one Fernet key, or several separated by commas during a rotation
  (the first encrypts, every one decrypts);
- on SQLite only, a key file (``secret.key``, mode 0600) in the directory of the database file,
  generated on first use, created atomically and never overwritten;
- on PostgreSQL the variable is required: hubs on other hosts must decrypt the same rows.

A stored blob carries the fingerprint of the key that encrypted it, so a wrong key is a clear
error naming both fingerprints, never garbage. Keys and secrets never appear in a repr, a log
line or an error message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from pagerbridge import paths
from pagerbridge.errors import SecretKeyError

if TYPE_CHECKING:
    from sqlalchemy import Engine

SECRET_KEY_ENV: Final = "PAGERBRIDGE_SECRET_KEY"
KEY_FILENAME: Final = "secret.key"
GENERATE_HINT: Final = (
    "generate one with: python -c 'from cryptography.fernet import Fernet; "
    "print(Fernet.generate_key().decode())'"
)


def _error(message: str, hint: str | None = None) -> SecretKeyError:
    exc = SecretKeyError(message)
    exc.hint = hint  # type: ignore[attr-defined]  # read by cli._common.describe
    return exc


def generate_key() -> str:
    """A new Fernet key (url-safe base64 of 32 random bytes), as text."""
    return Fernet.generate_key().decode("ascii")


def fingerprint_of(key: bytes) -> str:
    """First 16 hex digits of SHA-256 over the key's raw bytes: names a key, reveals nothing."""
    return hashlib.sha256(base64.urlsafe_b64decode(key)).hexdigest()[:16]


def _parse_key(text: str, where: str) -> bytes:
    """A Fernet key from text; SecretKeyError naming ``where`` (never the text) if malformed."""
    raw = text.strip().encode("ascii", "replace")
    try:
        decoded = base64.urlsafe_b64decode(raw)
    except (binascii.Error, ValueError):
        decoded = b""
    if len(decoded) != 32:
        raise _error(
            f"{where} is not a Fernet key (32 bytes in url-safe base64, 44 characters)",
            GENERATE_HINT,
        )
    return raw


def mask(secret: str | None) -> str:
    """A secret as listings show it: ``u+ab…yz`` (first 4 and last 2 characters at most);
    a secret shorter than 12 characters is masked entirely (``****``)."""
    if not secret:
        return ""
    if len(secret) < 12:
        return "****"
    return f"{secret[:4]}…{secret[-2:]}"


class SecretBox:
    """Encrypts and decrypts connector secrets with one or more Fernet keys."""

    __slots__ = ("_fernet", "_fingerprints", "source")

    def __init__(self, keys: Sequence[bytes], *, source: str) -> None:
        if not keys:
            raise _error("no secret key given", GENERATE_HINT)
        self._fernet = MultiFernet([Fernet(k) for k in keys])
        self._fingerprints = tuple(fingerprint_of(k) for k in keys)
        #: Where the keys came from (the variable's name or the key file's path), for messages.
        self.source = source

    def __repr__(self) -> str:
        return f"SecretBox(fingerprint={self.fingerprint!r}, source={self.source!r})"

    @classmethod
    def from_environment(
        cls, database_url: str, environ: Mapping[str, str] | None = None
    ) -> SecretBox:
        """The box for a database: ``$PAGERBRIDGE_SECRET_KEY``, else (SQLite) the key file next
        to the database, else SecretKeyError with a hint."""
        env = os.environ if environ is None else environ
        value = env.get(SECRET_KEY_ENV, "")
        if value.strip():
            parts = [p for p in value.split(",") if p.strip()]
            keys = [
                _parse_key(
                    p, SECRET_KEY_ENV if len(parts) == 1 else f"{SECRET_KEY_ENV} (entry {i})"
                )
                for i, p in enumerate(parts, 1)
            ]
            return cls(keys, source=SECRET_KEY_ENV)
        if not database_url.startswith("sqlite"):
            raise _error(
                f"{SECRET_KEY_ENV} is required with PostgreSQL: every hub sharing the database "
                "must decrypt connector secrets with the same key",
                f"{GENERATE_HINT}, and set it on every hub",
            )
        path = key_file_path(database_url, env)
        return cls([load_or_create_key_file(path)], source=str(path))

    @classmethod
    def for_engine(cls, engine: Engine, environ: Mapping[str, str] | None = None) -> SecretBox:
        """:meth:`from_environment` for the database behind an engine."""
        url = engine.url
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            text = f"sqlite:///{database}" if database and database != ":memory:" else "sqlite://"
        else:
            text = "postgresql://"
        return cls.from_environment(text, environ)

    @property
    def fingerprint(self) -> str:
        """The fingerprint of the key that encrypts (stored beside every blob)."""
        return self._fingerprints[0]

    @property
    def fingerprints(self) -> tuple[str, ...]:
        """Every key this box can decrypt with, encrypting key first."""
        return self._fingerprints

    def encrypt_text(self, text: str) -> str:
        return self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def decrypt_text(self, blob: str) -> str:
        """Decrypt a blob made by :meth:`encrypt_text` with any of the keys; SecretKeyError
        (no detail about the content) when none of them made it."""
        try:
            return self._fernet.decrypt(blob.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise _error(
                f"stored data cannot be decrypted with key {self._described()}: it was encrypted "
                "with another key, or is damaged",
                f"set {SECRET_KEY_ENV} to the key used when it was stored",
            ) from exc

    def encrypt(self, secrets: Mapping[str, str]) -> str:
        """A connector's secrets as one blob (store :attr:`fingerprint` beside it)."""
        return self.encrypt_text(json.dumps(dict(secrets), sort_keys=True))

    def decrypt(self, blob: str | None, fingerprint: str | None) -> dict[str, str]:
        """The secrets in ``blob``; SecretKeyError naming both fingerprints when the stored one
        is not among this box's keys."""
        if not blob:
            return {}
        if fingerprint and fingerprint not in self._fingerprints:
            raise _error(
                f"the connector's secrets were encrypted with key {fingerprint}…, but "
                f"{self.source} is key {self._described()}: set the key used when the connector "
                "was added",
                f"{SECRET_KEY_ENV} may list several keys separated by commas while rotating "
                "(the first encrypts, all decrypt)",
            )
        try:
            data = json.loads(self.decrypt_text(blob))
        except ValueError as exc:
            raise _error("the connector's stored secrets are damaged (not JSON)") from exc
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            raise _error("the connector's stored secrets are damaged (not a string mapping)")
        return data

    def reencrypt(self, blob: str | None, fingerprint: str | None) -> tuple[str | None, str]:
        """``(blob, fingerprint)`` re-encrypted with the encrypting key (key rotation)."""
        if not blob:
            return blob, self.fingerprint
        return self.encrypt(self.decrypt(blob, fingerprint)), self.fingerprint

    def _described(self) -> str:
        first = f"{self._fingerprints[0]}…"
        if len(self._fingerprints) > 1:
            first += f" (or {', '.join(f + '…' for f in self._fingerprints[1:])})"
        return first


def key_file_path(database_url: str, environ: Mapping[str, str] | None = None) -> Path:
    """The key file of a SQLite database: beside the database file (the data directory for an
    in-memory database)."""
    db = paths.sqlite_path(database_url)
    directory = db.parent if db is not None else paths.data_dir(environ)
    return directory.absolute() / KEY_FILENAME


def load_or_create_key_file(path: Path) -> bytes:
    """Read the key file, or create it (mode 0600) with a new key. Creation is atomic (a full
    temporary file hard-linked into place), so a racing process reads the winner's key and no
    existing file is ever overwritten."""
    if not path.exists():
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".secret-", dir=path.parent)  # mode 0600
            try:
                os.write(fd, generate_key().encode("ascii") + b"\n")
                os.fsync(fd)
                os.close(fd)
                with contextlib.suppress(FileExistsError):  # another process won: use its key
                    os.link(tmp, path)
            finally:
                os.unlink(tmp)
        except OSError as exc:
            raise _error(
                f"cannot create the secret key file {path}: {exc.strerror}",
                f"set {SECRET_KEY_ENV} instead ({GENERATE_HINT})",
            ) from exc
    try:
        text = path.read_text("ascii")
    except (OSError, UnicodeError) as exc:
        raise _error(f"cannot read the secret key file {path}") from exc
    return _parse_key(text, f"the secret key file {path}")
