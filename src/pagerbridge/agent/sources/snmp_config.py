"""``sources.snmp``: where to listen, who may send (communities, v3 users), MIBs, and rules."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from pagerbridge.agent.sources.settings import RuleSettings, SourceSettings
from pagerbridge.agent.sources.snmp_fields import SNMP_FIELDS

if TYPE_CHECKING:
    from pagerbridge.agent.sources.base import Source

DEFAULT_LISTEN = "127.0.0.1:1162"
#: RFC 3414: a passphrase shorter than 8 characters is refused (net-snmp refuses it too).
MIN_KEY_LENGTH = 8
#: pysnmp's private enterprise number: engine IDs we make are ``80 00 4f b8 05`` + 8 octets.
_ENGINE_PREFIX = bytes.fromhex("80004fb805")

AuthProtocol = Literal["MD5", "SHA", "SHA224", "SHA256", "SHA384", "SHA512"]
PrivProtocol = Literal["DES", "3DES", "AES", "AES128", "AES192", "AES256"]


def parse_engine_id(value: str) -> bytes:
    """``0x8000000001020304`` or ``80:00:00:00:01:02:03:04`` → bytes (5 to 32 octets)."""
    text = value.strip().lower().removeprefix("0x").replace(":", "")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"{value!r} is not a hex engine ID such as 0x8000000001020304") from None
    if not 5 <= len(raw) <= 32:
        raise ValueError(f"an engine ID is 5 to 32 octets; {value!r} has {len(raw)}")
    return raw


def default_engine_id(listen: str) -> bytes:
    """A stable engine ID for this host and listen address, so a sender that cached it (an
    snmpd with ``informsink``) still finds us after a restart."""
    seed = f"pagerbridge|{socket.gethostname()}|{listen}".encode()
    return _ENGINE_PREFIX + hashlib.sha256(seed).digest()[:8]


class SnmpRule(RuleSettings):
    FIELDS: ClassVar[frozenset[str] | None] = SNMP_FIELDS


class SnmpUser(BaseModel):
    """One SNMPv3 USM user: ``authPriv`` with both keys, ``authNoPriv`` with ``auth_key`` only.

    ``engine_ids``: the engine IDs of the devices that send this user's *traps* (a trap's keys
    are localised to its sender's engine ID, so the receiver must know it, as in snmptrapd's
    ``createUser -e``). INFORMs need none: the sender discovers ours.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=32)
    auth_protocol: AuthProtocol = "SHA"
    auth_key: SecretStr | None = None
    priv_protocol: PrivProtocol = "AES"
    priv_key: SecretStr | None = None
    engine_ids: list[str] = Field(default_factory=list)

    @field_validator("auth_key", "priv_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_KEY_LENGTH:
            raise ValueError(f"an SNMPv3 key is at least {MIN_KEY_LENGTH} characters long")
        return value

    @field_validator("engine_ids")
    @classmethod
    def _engine_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_engine_id(item)
        return value

    @model_validator(mode="after")
    def _priv_needs_auth(self) -> SnmpUser:
        if self.priv_key is not None and self.auth_key is None:
            raise ValueError("priv_key needs auth_key (SNMPv3 has no privacy without auth)")
        return self

    @property
    def level(self) -> str:
        if self.auth_key is None:
            return "noAuthNoPriv"
        return "authNoPriv" if self.priv_key is None else "authPriv"


class SnmpSettings(SourceSettings):
    """``sources.snmp``: one UDP listener for traps and INFORMs of every version."""

    KIND: ClassVar[str] = "snmp"
    DEFAULTS: ClassVar[dict[str, str]] = {
        "summary": "{{ trap }} from {{ agent }}",
        "source": "{{ agent }}",
        "severity": "error",
    }

    listen: str = DEFAULT_LISTEN
    #: v1/v2c: the community strings accepted (an allowlist; empty refuses v1 and v2c).
    communities: list[SecretStr] = Field(default_factory=list)
    users: list[SnmpUser] = Field(default_factory=list)
    #: This receiver's engine ID (the authoritative one for INFORMs); default: stable per host.
    engine_id: str | None = None
    #: Folders of MIB source files (only local files are read) and the modules to load.
    mib_dirs: list[Path] = Field(default_factory=list)
    mibs: list[str] = Field(default_factory=list)
    #: Where compiled MIBs are kept (default: ``snmp-mibs`` in the agent's data directory).
    mib_cache: Path | None = None
    rules: list[SnmpRule] = Field(default_factory=list)  # type: ignore[assignment]

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        from pagerbridge.agent.config import split_host_port

        split_host_port(value)
        return value

    @field_validator("engine_id")
    @classmethod
    def _engine_id(cls, value: str | None) -> str | None:
        if value is not None:
            parse_engine_id(value)
        return value

    @field_validator("communities")
    @classmethod
    def _communities(cls, value: list[SecretStr]) -> list[SecretStr]:
        for item in value:
            if not item.get_secret_value() or len(item.get_secret_value()) > 255:
                raise ValueError("a community is 1 to 255 characters long")
        return value

    @field_validator("mib_dirs")
    @classmethod
    def _dirs(cls, value: list[Path]) -> list[Path]:
        for folder in value:
            if not folder.is_dir():
                raise ValueError(f"{folder} is not a folder")
        return value

    @model_validator(mode="after")
    def _someone_may_send(self) -> SnmpSettings:
        if not self.communities and not self.users:
            raise ValueError("nobody may send: list communities (v1/v2c) or users (v3), or both")
        if self.mibs and not self.mib_dirs:
            raise ValueError("mibs needs mib_dirs: the folders holding their source files")
        names = [u.name for u in self.users]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"user {name!r} is listed twice")
        return self

    def local_engine_id(self) -> bytes:
        return parse_engine_id(self.engine_id) if self.engine_id else default_engine_id(self.listen)

    def create(self, name: str) -> Source:
        from pagerbridge.agent.sources.snmp import SnmpSource

        return SnmpSource(name, self)


__all__ = ["DEFAULT_LISTEN", "SnmpRule", "SnmpSettings", "SnmpUser", "parse_engine_id"]
