"""Connector secrets at rest: the round trip, where the key comes from, what a wrong or
malformed key says, rotation, masking, and that no secret or key shows in a repr or error."""

from __future__ import annotations

import logging
import os
import stat
import threading
from pathlib import Path

import pytest

from pagerbridge.connectors.secrets import (
    KEY_FILENAME,
    SECRET_KEY_ENV,
    SecretBox,
    generate_key,
    key_file_path,
    mask,
)
from pagerbridge.errors import SecretKeyError

SECRETS = {"api_key": "u+abcdefghij1234yz", "client_secret": "s3cr3t-value-0987"}


def _env(*keys: str) -> dict[str, str]:
    return {SECRET_KEY_ENV: ",".join(keys)}


def test_round_trip_and_nothing_readable_at_rest() -> None:
    box = SecretBox.from_environment("postgresql://db/pb", _env(generate_key()))
    blob = box.encrypt(SECRETS)
    assert box.decrypt(blob, box.fingerprint) == SECRETS
    for value in SECRETS.values():
        assert value not in blob
    assert len(box.fingerprint) == 16 and int(box.fingerprint, 16) >= 0
    assert box.decrypt(None, None) == {}


def test_a_wrong_key_names_both_fingerprints_and_never_returns_garbage() -> None:
    key_a, key_b = generate_key(), generate_key()
    a = SecretBox.from_environment("postgresql://db/pb", _env(key_a))
    b = SecretBox.from_environment("postgresql://db/pb", _env(key_b))
    blob = a.encrypt(SECRETS)
    with pytest.raises(SecretKeyError) as caught:
        b.decrypt(blob, a.fingerprint)
    message = str(caught.value)
    assert a.fingerprint in message and b.fingerprint in message and SECRET_KEY_ENV in message
    assert "set the key used when the connector was added" in message
    # a fingerprint that lies (or is missing) still cannot produce garbage
    with pytest.raises(SecretKeyError):
        b.decrypt(blob, None)
    with pytest.raises(SecretKeyError):
        b.decrypt(blob[:-4] + "AAAA", b.fingerprint)
    for text in (message, repr(a), repr(b), str(caught.value.__cause__ or "")):
        assert key_a not in text and key_b not in text
        assert all(v not in text for v in SECRETS.values())


def test_rotation_first_key_encrypts_every_key_decrypts() -> None:
    old, new = generate_key(), generate_key()
    before = SecretBox.from_environment("postgresql://x", _env(old))
    blob = before.encrypt(SECRETS)
    during = SecretBox.from_environment("postgresql://x", _env(new, old))
    assert during.fingerprint != before.fingerprint
    assert during.fingerprints == (during.fingerprint, before.fingerprint)
    assert during.decrypt(blob, before.fingerprint) == SECRETS
    rotated, fingerprint = during.reencrypt(blob, before.fingerprint)
    assert fingerprint == during.fingerprint
    after = SecretBox.from_environment("postgresql://x", _env(new))
    assert rotated is not None and after.decrypt(rotated, fingerprint) == SECRETS


#: A valid key cut short (fixed: parameters must be the same in every test process).
_TRUNCATED = "kdGgh7T3W4fJ6YvQm2Zb8nQ1sX0pL5cR9eU3tA6yB_M="[:-2]


@pytest.mark.parametrize(
    "value", ["not-a-key", "A" * 44, _TRUNCATED], ids=["text", "wrong-alphabet", "truncated"]
)
def test_a_malformed_key_names_the_variable_not_the_value(value: str) -> None:
    with pytest.raises(SecretKeyError) as caught:
        SecretBox.from_environment("postgresql://x", _env(generate_key(), value))
    message = str(caught.value)
    assert SECRET_KEY_ENV in message and "entry 2" in message
    assert value not in message
    assert "Fernet.generate_key" in str(getattr(caught.value, "hint", ""))


def test_postgresql_requires_the_variable() -> None:
    with pytest.raises(SecretKeyError) as caught:
        SecretBox.from_environment("postgresql://db.example/pb", {})
    assert SECRET_KEY_ENV in str(caught.value) and "PostgreSQL" in str(caught.value)
    assert "generate_key" in str(getattr(caught.value, "hint", ""))


def test_sqlite_key_file_is_private_created_once_and_never_overwritten(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'pagerbridge.db'}"
    path = key_file_path(url, {})
    assert path == tmp_path / "data" / KEY_FILENAME
    boxes: list[SecretBox] = []
    threads = [
        threading.Thread(target=lambda: boxes.append(SecretBox.from_environment(url, {})))
        for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({b.fingerprint for b in boxes}) == 1  # racing creators agree on one key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".secret-")] == []
    written = path.read_bytes()
    blob = boxes[0].encrypt(SECRETS)
    again = SecretBox.from_environment(url, {})
    assert path.read_bytes() == written and again.decrypt(blob, again.fingerprint) == SECRETS
    # the variable wins over the file
    env_key = generate_key()
    assert SecretBox.from_environment(url, _env(env_key)).source == SECRET_KEY_ENV


def test_a_damaged_key_file_is_named(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pagerbridge.db'}"
    key_file_path(url, {}).write_text("garbage\n")
    os.chmod(key_file_path(url, {}), 0o600)
    with pytest.raises(SecretKeyError, match=KEY_FILENAME):
        SecretBox.from_environment(url, {})


def test_mask_shows_at_most_four_and_two_characters() -> None:
    assert mask("u+abcdefghijklmnyz") == "u+ab…yz"
    assert mask("short-secret") == "shor…et"
    assert mask("tiny") == "****"
    assert mask("eleven-char") == "****"
    assert mask("") == "" and mask(None) == ""


def test_no_secret_or_key_in_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = generate_key()
    box = SecretBox.from_environment("postgresql://x", _env(key))
    blob = box.encrypt(SECRETS)
    box.decrypt(blob, box.fingerprint)
    with pytest.raises(SecretKeyError):
        SecretBox([generate_key().encode()], source="other").decrypt(blob, box.fingerprint)
    text = caplog.text + repr(box)
    assert key not in text
    assert all(v not in text for v in SECRETS.values())
